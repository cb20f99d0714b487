package student

import (
	"fmt"
	"math"

	"github.com/distill-ml/distill/internal/sysmem"
	"github.com/distill-ml/distill/model/ops"
)

// TrainingMemory estimates the memory training a Config takes, in bytes.
// Weights, gradients and optimizer state are exact for the stored
// parameters (hidden-state projections excluded); activations are an
// estimate of the op buffers a (batch, seq_len) step keeps for its backward
// pass, to tell a config that cannot fit from one that can, not to budget
// the last MiB. It is within about 25% of what training measures, but not
// on one side: below it for short windows (the tiny preset and
// mobilellm-125m cut to 4 layers at batch 8 × 128 tokens, vocabulary 2048:
// about 430 and 610 MiB estimated against 511 and 710 MiB peak RSS), above
// it for long ones (the SmolLM2-135M shape at batch 8 × 512: 14.6 GiB
// estimated against 13.0 GiB; docs/BENCHMARKS.md), so a config within a
// fifth of the limit may be refused that would just have fit. Recomputing
// activations per block (SetRecompute) it is below: SmolLM2-135M at batch
// 8 × 512, 2.9 GiB estimated against 3.2 GiB (3,253 MiB) peak RSS; the
// Qwen2.5-0.5B shape, 8.8 GiB against 9.9 GiB (10,128 MiB), where keeping
// every block's activations is estimated at 28.7 GiB.
type TrainingMemory struct {
	Weights     int64 // F32 parameters
	Gradients   int64 // one F32 gradient per parameter (Param.Grad)
	Optimizer   int64 // AdamW's two F32 moments, plus the accumulation buffers with accumulation > 1
	Activations int64 // per applied block (or one, recomputing): norms, Q/K/V, attention probabilities [B, H, T, T], FFN, forward and backward; the logits the LM-head loss keeps
}

// Total is the sum of the parts.
func (m TrainingMemory) Total() int64 {
	return satAdd(satAdd(m.Weights, m.Gradients), satAdd(m.Optimizer, m.Activations))
}

// TrainingMemory estimates the memory of training c with batches of batch
// sequences of seqLen tokens (accumulate: gradient accumulation over
// several batches, which adds a buffer per parameter; recompute: activation
// recomputation per block, see SetRecompute). Arithmetic is in float64 and
// saturates at MaxInt64, so an absurd config gives a huge number, never an
// overflow.
func (c Config) TrainingMemory(batch, seqLen int, accumulate, recompute bool) TrainingMemory {
	p := c.paramCount()
	d, ffn, vocab := float64(c.DModel), float64(c.FFNDim), float64(c.VocabSize)
	q := float64(c.NHeads * c.HeadDim())
	kv := float64(c.NKVHeads * c.HeadDim())
	n := float64(batch) * float64(seqLen) // tokens per step
	// Floats one applied block keeps per token (residual, two norms,
	// attention output and projection, RoPE'd and plain Q/K/V, gate, up
	// and their SwiGLU), plus the attention probabilities, per head and
	// query, over every key.
	perBlock := n*(4*d+2*q+4*kv+3*ffn) + float64(batch)*float64(c.NHeads)*float64(seqLen)*float64(seqLen)
	if c.QKVBias() || c.QKNorm() { // one more copy of Q/K/V per bias add or head norm
		perBlock += n * (q + 2*kv) * map[bool]float64{true: 2, false: 1}[c.QKNorm()]
	}
	// The LM-head loss keeps at most ops.DefaultLogitBudget of logits (it
	// recomputes them by chunks beyond) and writes their gradient in place.
	logits := min(4*n*vocab, float64(ops.DefaultLogitBudget))
	layers := float64(c.AppliedLayers())
	act := 2*4*layers*perBlock + logits // values and their gradients, F32
	if recompute {
		// One block's internals, per applied block its output [n, d], and
		// the gradient sums between blocks (two [n, d] buffers, shared by
		// liveness); with shared blocks the gradient of each block's first
		// application waits in a buffer of its own.
		act = 2*4*perBlock + 4*(layers+2)*n*d + logits
		if c.ShareBlocks {
			act += 4 * (p - c.embedParams())
		}
	}
	opt := 8 * p
	if accumulate {
		opt += 4 * p
	}
	return TrainingMemory{Weights: bytesOf(4 * p), Gradients: bytesOf(4 * p), Optimizer: bytesOf(opt), Activations: bytesOf(act)}
}

// embedParams counts the parameters outside the blocks: embedding, final
// norm and an untied head.
func (c Config) embedParams() float64 {
	n := float64(c.VocabSize)*float64(c.DModel) + float64(c.DModel)
	if c.UntieEmbed {
		n += float64(c.VocabSize) * float64(c.DModel)
	}
	return n
}

// CheckTrainingMemory refuses a config whose training estimate
// (TrainingMemory) exceeds available bytes, naming the keys that size it,
// and suggesting train.recompute: blocks when that would fit.
func (c Config) CheckTrainingMemory(batch, seqLen int, accumulate, recompute bool, available int64) error {
	m := c.TrainingMemory(batch, seqLen, accumulate, recompute)
	if m.Total() <= available {
		return nil
	}
	hint := ""
	if r := c.TrainingMemory(batch, seqLen, accumulate, true); !recompute && r.Total() <= available {
		hint = fmt.Sprintf("set train.recompute: blocks (recomputing each block's activations in the backward pass needs about %s, for about one more forward pass per step), or ", sysmem.Format(r.Total()))
	}
	return fmt.Errorf("student config: training needs about %s (weights %s, gradients %s, optimizer %s, activations %s at train.batch_size %d × train.seq_len %d) but only %s is available: "+
		"%sreduce d_model (%d), n_layers (%d), ffn_dim (%d) or vocab_size (%d), or train.batch_size/train.seq_len",
		sysmem.Format(m.Total()), sysmem.Format(m.Weights), sysmem.Format(m.Gradients), sysmem.Format(m.Optimizer), sysmem.Format(m.Activations),
		batch, seqLen, sysmem.Format(available), hint, c.DModel, c.NLayers, c.FFNDim, c.VocabSize)
}

func bytesOf(x float64) int64 {
	if x >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(x)
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
