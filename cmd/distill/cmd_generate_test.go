package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/model/infer/infertest"
)

// tinyGGUF writes a small random-weight llama GGUF with an embedded
// byte-level BPE vocabulary.
func tinyGGUF(t *testing.T) string {
	t.Helper()
	return infertest.WriteTemp(t, "tiny.gguf", infertest.SmallSpec("Q8_0", 128))
}

func TestGenerateStreamsAndIsDeterministic(t *testing.T) {
	model := tinyGGUF(t)
	args := []string{"generate", "--model", model, "--prompt", "the cat sat", "--max-tokens", "12", "--temperature", "0.9", "--seed", "5", "--ignore-eos"}
	code, out1, stderr := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "12 generated (length)") {
		t.Fatalf("stderr %q does not report 12 generated tokens", stderr)
	}
	_, out2, _ := runCLI(t, args...)
	if out1 != out2 {
		t.Fatalf("same seed, different output:\n%q\n%q", out1, out2)
	}
	// A stop string taken from the greedy output cuts it there.
	code, greedy, stderr := runCLI(t, "generate", "--model", model, "--prompt", "the cat sat", "--max-tokens", "16", "--temperature", "0", "--ignore-eos")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	greedy = strings.TrimSuffix(greedy, "\n")
	if len(greedy) < 4 {
		t.Skipf("greedy output too short to cut: %q", greedy)
	}
	stop := greedy[len(greedy)/2 : len(greedy)/2+2]
	code, cut, stderr := runCLI(t, "generate", "--model", model, "--prompt", "the cat sat", "--max-tokens", "16", "--temperature", "0", "--ignore-eos", "--stop", stop)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	cut = strings.TrimSuffix(cut, "\n")
	if want := greedy[:strings.Index(greedy, stop)]; cut != want {
		t.Fatalf("with --stop %q: %q, want %q", stop, cut, want)
	}
}

func TestGenerateUsageAndFileErrors(t *testing.T) {
	model := tinyGGUF(t)
	for _, args := range [][]string{
		{"generate", "--prompt", "x"},
		{"generate", "--model", model},
		{"generate", "--model", model, "--prompt", "x", "--top-p", "2"},
		{"generate", "--model", model, "--prompt", "x", "--max-tokens", "0"},
	} {
		if code, _, stderr := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.gguf")
	os.WriteFile(bad, []byte("not a gguf file at all"), 0o644)
	code, _, stderr := runCLI(t, "generate", "--model", bad, "--prompt", "x")
	if code != 1 || !strings.Contains(stderr, "bad.gguf") {
		t.Fatalf("corrupt model: exit %d, stderr %q", code, stderr)
	}
}
