package student

import (
	"strings"
	"testing"
)

// The estimate's parts for a config small enough to count by hand.
func TestTrainingMemoryByHand(t *testing.T) {
	c := Config{VocabSize: 10, DModel: 4, NLayers: 1, NHeads: 2, NKVHeads: 1, FFNDim: 8, ContextLength: 8, RopeBase: 10000, NormEps: 1e-5}
	// Parameters: embedding 10·4 = 40; block 4 (norm) + 16 (Q) + 2·8 (K, V)
	// + 16 (output) + 4 (norm) + 3·32 (FFN) = 152; final norm 4: 196.
	// Activations at batch 2 × seq_len 3 (6 tokens), per block:
	// 6·(4·4 + 2·4 + 4·2 + 3·8) = 336 floats + probabilities 2·2·3·3 = 36;
	// logits 6·10 = 60; values and gradients: 2·4 B·(372 + 60) = 3456 B.
	want := TrainingMemory{Weights: 784, Gradients: 784, Optimizer: 1568, Activations: 3456}
	if got := c.TrainingMemory(2, 3, false); got != want {
		t.Fatalf("TrainingMemory = %+v, want %+v", got, want)
	}
	if got := c.TrainingMemory(2, 3, true).Optimizer; got != 1568+784 {
		t.Fatalf("with accumulation the optimizer holds %d bytes, want %d", got, 1568+784)
	}
	if err := c.CheckTrainingMemory(2, 3, false, 6592); err != nil {
		t.Fatalf("exactly enough memory refused: %v", err)
	}
	if err := c.CheckTrainingMemory(2, 3, false, 6591); err == nil {
		t.Fatal("one byte short accepted")
	}
}

// Issue 16: a student YAML with d_model: 65536 (about 69 G parameters) is a
// config error naming the keys, not fatal error: out of memory.
func TestTrainingMemoryRefusesHugeConfig(t *testing.T) {
	c := Config{VocabSize: 32000, DModel: 65536, NLayers: 1, NHeads: 64, NKVHeads: 64, FFNDim: 4 * 65536, ContextLength: 512, RopeBase: 10000, NormEps: 1e-5}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	err := c.CheckTrainingMemory(8, 512, false, 64<<30)
	if err == nil {
		t.Fatal("a 69 G-parameter student was accepted for 64 GiB")
	}
	for _, w := range []string{"d_model (65536)", "n_layers (1)", "ffn_dim (262144)", "vocab_size (32000)", "train.batch_size", "64.0 GiB"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	// Sizes whose int64 products overflow still give a refusal.
	c.DModel, c.NHeads, c.NKVHeads, c.FFNDim, c.NLayers = 1<<40, 1<<20, 1<<20, 1<<42, 1<<30
	if err := c.CheckTrainingMemory(8, 512, false, 1<<62); err == nil {
		t.Fatal("an overflowing config was accepted")
	}
}
