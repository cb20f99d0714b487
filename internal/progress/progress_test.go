package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestPlainLinesWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, "collect", 3)
	r.interval = 0
	r.Add(1, "retries 0")
	r.Add(2, "retries 1")
	r.Finish()
	out := buf.String()
	if !strings.Contains(out, "collect: 1/3") || !strings.Contains(out, "collect: 3/3") || !strings.Contains(out, "retries 1") {
		t.Fatalf("output:\n%s", out)
	}
	if strings.Contains(out, "\r") {
		t.Fatal("carriage returns in non-terminal output")
	}
}
