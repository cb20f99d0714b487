package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/model/infer/infertest"
)

func evalData(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "d.jsonl")
	os.WriteFile(p, []byte(`{"text": "hello world, this is a test"}`+"\n"), 0o644)
	return p
}

// TestEvalRefusesNaNWeights: a Q8_0 model with NaN norm weights used to
// evaluate to a plausible perplexity; now eval (and generate) fail naming
// the tensor.
func TestEvalRefusesNaNWeights(t *testing.T) {
	model := tinyGGUF(t)
	infertest.FillTensorF32(t, model, "blk.0.ffn_norm.weight", float32(math.NaN()))
	code, out, stderr := runCLI(t, "eval", "--model", model, "--data", evalData(t))
	if code != 1 || !strings.Contains(stderr, "blk.0.ffn_norm.weight") || !strings.Contains(stderr, "NaN") {
		t.Fatalf("eval on NaN weights: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "generate", "--model", model, "--prompt", "the cat", "--max-tokens", "3")
	if code != 1 || !strings.Contains(stderr, "blk.0.ffn_norm.weight") {
		t.Fatalf("generate on NaN weights: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

// TestEvalFailsOnNonFiniteResult: finite weights so large that the logits
// overflow give a non-finite NLL; eval used to print "perplexity NaN" and
// exit 0.
func TestEvalFailsOnNonFiniteResult(t *testing.T) {
	path := infertest.WriteTemp(t, "huge.gguf", infertest.SmallSpec("F32", 128))
	infertest.FillTensorF32(t, path, "output_norm.weight", 3e38)
	code, out, stderr := runCLI(t, "eval", "--model", path, "--data", evalData(t))
	if code != 1 || !strings.Contains(stderr, "not finite") || !strings.Contains(stderr, "record 1") {
		t.Fatalf("eval with overflowing logits: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}
