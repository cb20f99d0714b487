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
	// 6·(4·4 + 2·4 + 4·2 + 3·8) = 336 floats + probabilities 2·2·3·3 = 36,
	// values and gradients: 2·4 B·372 = 2976 B; the logits 6·10 floats,
	// once (the LM-head loss keeps at most ops.DefaultLogitBudget of them
	// and writes their gradient in place): 240 B. 3216 B.
	want := TrainingMemory{Weights: 784, Gradients: 784, Optimizer: 1568, Activations: 3216}
	if got := c.TrainingMemory(2, 3, false, false); got != want {
		t.Fatalf("TrainingMemory = %+v, want %+v", got, want)
	}
	if got := c.TrainingMemory(2, 3, true, false).Optimizer; got != 1568+784 {
		t.Fatalf("with accumulation the optimizer holds %d bytes, want %d", got, 1568+784)
	}
	// Recomputing: one block's 2976 B, plus per applied block its output
	// and two gradient sums between blocks, (1 + 2)·6·4 floats: 288 B; the
	// logits 240 B.
	if got := c.TrainingMemory(2, 3, false, true).Activations; got != 2976+288+240 {
		t.Fatalf("recomputing, activations take %d bytes, want %d", got, 2976+288+240)
	}
	if err := c.CheckTrainingMemory(2, 3, false, false, 6352); err != nil {
		t.Fatalf("exactly enough memory refused: %v", err)
	}
	if err := c.CheckTrainingMemory(2, 3, false, false, 6351); err == nil {
		t.Fatal("one byte short accepted")
	}
}

// Issue 13: the Qwen2.5-0.5B shape (d 896, 24 layers, 14/2 heads, FFN 4864,
// vocabulary 151936, tied, Q/K/V biases) at batch 8 × 512 does not fit 24 GiB
// keeping every block's activations, and does recomputing them; the refusal
// says so.
func TestTrainingMemoryRecomputeFitsQwenHalfB(t *testing.T) {
	c := Config{Arch: ArchQwen2, VocabSize: 151936, DModel: 896, NLayers: 24, NHeads: 14, NKVHeads: 2, FFNDim: 4864,
		ContextLength: 32768, RopeBase: 1e6, NormEps: 1e-6}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// Parameters 494,032,768: 4 B each for weights and gradients, 8 B of
	// AdamW moments: 7.36 GiB. Per token and block 4·896 + 2·896 + 4·128 +
	// 3·4864 + (896 + 256) bias copy = 21632 floats, times 4096 tokens, plus
	// probabilities 8·14·512² = 29,360,128: 117,964,800 floats.
	// Plain: 24 blocks × 2 × 4 B × that = 21.09 GiB, plus 256 MiB logits.
	// Recomputing: one block, 0.88 GiB, plus (24 + 2) × 4096 × 896 × 4 B =
	// 0.36 GiB, plus the logits: 8.85 GiB in all.
	const gib = 1 << 30
	plain, rec := c.TrainingMemory(8, 512, false, false), c.TrainingMemory(8, 512, false, true)
	if plain.Total() < 28*gib {
		t.Errorf("plain estimate %.2f GiB, want about 28.7", float64(plain.Total())/gib)
	}
	if rec.Total() < 17*gib/2 || rec.Total() > 46*gib/5 {
		t.Errorf("recompute estimate %.2f GiB, want about 8.85", float64(rec.Total())/gib)
	}
	err := c.CheckTrainingMemory(8, 512, false, false, 24*gib)
	if err == nil || !strings.Contains(err.Error(), "train.recompute: blocks") {
		t.Errorf("refusal at 24 GiB %v does not suggest train.recompute: blocks", err)
	}
	if err := c.CheckTrainingMemory(8, 512, false, true, 24*gib); err != nil {
		t.Errorf("recomputing refused: %v", err)
	}
	if err := c.CheckTrainingMemory(8, 512, false, false, 8*gib); err == nil || strings.Contains(err.Error(), "recompute") {
		t.Errorf("refusal at 8 GiB %v suggests recompute, which would not fit either", err)
	}
}

// Issue 16: a student YAML with d_model: 65536 (about 69 G parameters) is a
// config error naming the keys, not fatal error: out of memory.
func TestTrainingMemoryRefusesHugeConfig(t *testing.T) {
	c := Config{VocabSize: 32000, DModel: 65536, NLayers: 1, NHeads: 64, NKVHeads: 64, FFNDim: 4 * 65536, ContextLength: 512, RopeBase: 10000, NormEps: 1e-5}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	err := c.CheckTrainingMemory(8, 512, false, false, 64<<30)
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
	if err := c.CheckTrainingMemory(8, 512, false, false, 1<<62); err == nil {
		t.Fatal("an overflowing config was accepted")
	}
}
