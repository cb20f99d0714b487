package blaspeer

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/distill-ml/distill/internal/testpeers"
)

func TestEnvRemovesCoretypeAndL2SizeAndSetsThreads(t *testing.T) {
	base := []string{"PATH=/bin", "OPENBLAS_CORETYPE=Haswell", "OPENBLAS_L2_SIZE=512", "OPENBLAS_NUM_THREADS=8", "OPENBLAS_VERBOSE=2"}
	env, removed := Env(base, map[string]int{"OPENBLAS_NUM_THREADS": 1, "OMP_NUM_THREADS": 2})
	want := []string{"PATH=/bin", "OPENBLAS_VERBOSE=2", "OMP_NUM_THREADS=2", "OPENBLAS_NUM_THREADS=1"}
	if !slices.Equal(env, want) {
		t.Errorf("env = %v, want %v", env, want)
	}
	if !slices.Equal(removed, []string{"OPENBLAS_CORETYPE=Haswell", "OPENBLAS_L2_SIZE=512"}) {
		t.Errorf("removed = %v", removed)
	}
}

func TestCheckRefusesWrongPeers(t *testing.T) {
	if err := (Info{Libs: []string{"/usr/lib/libblas.so.3"}}).Check(1); err == nil {
		t.Error("reference BLAS accepted")
	}
	ok := Info{Config: "OpenBLAS 0.3.21", Corename: "Cooperlake", Threads: 2}
	if err := ok.Check(1); err == nil {
		t.Error("2 threads accepted for 1")
	}
	if err := ok.Check(2); err != nil {
		t.Error(err)
	}
	for _, e := range []float64{1e-3, 2} {
		if CheckErr("512³", e) == nil {
			t.Errorf("error %g accepted", e)
		}
	}
	if CheckErr("512³", 3e-8) != nil {
		t.Error("a float32-accurate peer refused")
	}
}

// TestPeerReportsCoreAndCatchesWrongResults runs InfoPy under Debian's
// python: with the scrubbed environment OpenBLAS reports a core, a correct
// sgemm passes and a corrupted result is caught.
func TestPeerReportsCoreAndCatchesWrongResults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the numpy peer: not in -short")
	}
	py := testpeers.Python(t)
	script := InfoPy + `
import json
rng = _np.random.default_rng(1)
a = rng.standard_normal((64, 512), dtype=_np.float32)
b = rng.standard_normal((512, 48), dtype=_np.float32)
c = a @ b
bad = c.copy(); bad[0, 0] += 1.0
print(json.dumps({"info": openblas_info(), "ok": sgemm_rel_err(c, a, b), "bad": sgemm_rel_err(bad, a, b)}))
`
	cmd := exec.Command(py, "-c", script)
	cmd.Env, _ = Env(cmd.Environ(), map[string]int{"OPENBLAS_NUM_THREADS": 1})
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", py, err)
	}
	var r struct {
		Info    Info
		OK, Bad float64
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if err := r.Info.Check(1); err != nil {
		t.Fatal(err)
	}
	if r.Info.Corename == "" || !strings.Contains(r.Info.Config, "OpenBLAS") {
		t.Errorf("no core reported: %+v", r.Info)
	}
	if CheckErr("sgemm", r.OK) != nil || CheckErr("sgemm", r.Bad) == nil {
		t.Errorf("rel err ok %g, corrupted %g", r.OK, r.Bad)
	}
}
