package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTrainUsageAndConfigErrors(t *testing.T) {
	if code, _, stderr := runCLI(t, "train"); code != 2 || !strings.Contains(stderr, "--config") {
		t.Fatalf("no config: exit %d %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "train", "--config", "train-kd", "extra"); code != 2 {
		t.Fatalf("positional argument: exit %d", code)
	}
	p := filepath.Join(t.TempDir(), "run.yaml")
	os.WriteFile(p, []byte("model: tiny\ntrain:\n  stepz: 3\n"), 0o644)
	code, _, stderr := runCLI(t, "train", "--config", p)
	if code != 1 || !strings.Contains(stderr, p+":3") || !strings.Contains(stderr, "stepz") {
		t.Fatalf("unknown key: exit %d %q", code, stderr)
	}
	code, _, stderr = runCLI(t, "train", "--config", "train-kd", "--set", "train.nan_policy=sometimes")
	if code != 1 || !strings.Contains(stderr, "nan_policy") {
		t.Fatalf("invalid value: exit %d %q", code, stderr)
	}
}
