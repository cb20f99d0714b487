package gate

import (
	"os/exec"
	"strings"
	"testing"
)

// TestGateDoesNotLinkTheExporter: naming an artifact's file type needs the
// format (format/quant), not the exporter and its training stack.
func TestGateDoesNotLinkTheExporter(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/distill-ml/distill/export" || strings.Contains(dep, "gorgonia") {
			t.Errorf("distill/gate depends on %s", dep)
		}
	}
}
