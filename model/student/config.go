// Package student is distill's small deep-and-thin decoder: a Llama-style
// transformer (token embedding; N blocks of RMSNorm → causal GQA attention with
// RoPE → residual, RMSNorm → SwiGLU MLP → residual; final RMSNorm; LM head tied
// to the embedding or not) built as a Gorgonia graph with custom fused ops.
// Config.Arch selects the block variant of a pretrained model: "llama"
// (optionally Llama 3 rope_scaling), "qwen2" (Q/K/V biases, blk.N.attn_q.bias
// etc., fused as attn_qkv.bias) or "qwen3" (per-head RMSNorm of Q and K
// before RoPE, blk.N.attn_q_norm.weight / attn_k_norm.weight [headDim], and a
// head_dim that need not be d_model/n_heads).
//
// A training batch may pack several dataset rows into one window: attention
// follows its document mask (batch.RowStart), so a row reads only its own
// tokens and its logits and gradients are those of the row alone in a window
// (RoPE is relative, so positions need no reset at a row's start).
//
// Weight names and layouts follow llama.cpp's GGUF tensor names so that export
// is a straight mapping (see docs/ARCHITECTURE.md):
//
//	token_embd.weight        [vocab, d]
//	blk.N.attn_norm.weight   [d]
//	blk.N.attn_q.weight      [nHeads*headDim, d]   (out × in: y = x·Wᵀ)
//	blk.N.attn_k.weight      [nKVHeads*headDim, d]
//	blk.N.attn_v.weight      [nKVHeads*headDim, d]
//	blk.N.attn_output.weight [d, nHeads*headDim]
//	blk.N.ffn_norm.weight    [d]
//	blk.N.ffn_gate.weight    [ffn, d]
//	blk.N.ffn_up.weight      [ffn, d]
//	blk.N.ffn_down.weight    [d, ffn]
//	output_norm.weight       [d]
//	output.weight            [vocab, d]  (only when untied)
//
// RoPE uses llama.cpp's "normal" pairing: within each head, elements (2i, 2i+1)
// rotate together by angle pos·base^(-2i/headDim) (divided by the Llama 3
// factor of pair i). Weights therefore export to llama GGUFs as they are;
// Hugging Face checkpoints and NEOX GGUFs (qwen2, qwen3) pair (i, i+hd/2), and
// RotateHalfToInterleaved / InterleavedToRotateHalf permute their Q/K rows.
//
// A Model (New) owns the weights as []optim.Param whose Data slices are the live
// buffers every graph reads, so an optimizer updates them in place. It builds
// one Gorgonia graph per (mode, B, T) on first use — training (forward +
// symbolic backward of the fused ops in model/ops, by gorgonia.Grad),
// evaluation (forward + metrics) and logits — and runs it every step with its
// own executor (exec.go) in the order Gorgonia's TapeMachine would, without
// the TapeMachine's per-instruction allocations. Op outputs are op-owned
// buffers reused across steps and every weight gradient is written straight
// into Param.Grad, so a steady-state step allocates nothing and memory stays
// flat.
// ForwardBackward overwrites every Param.Grad; NaN/Inf appear in the returned
// loss.Terms, never as errors. Training-only parameters (hidden-state
// projections) are named "distill.*" and are not exported to GGUF. A Model is
// not safe for concurrent use.
package student

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/distill-ml/distill/loss"
)

// Config is the student architecture. N blocks are stored; with ShareBlocks
// (MobileLLM-LS immediate block-wise sharing) each block is applied twice in a
// row, so the applied depth is 2·NLayers.
type Config struct {
	VocabSize     int     `yaml:"vocab_size" json:"vocab_size"`         // 0 in a preset: taken from the tokenizer
	DModel        int     `yaml:"d_model" json:"d_model"`               // residual width
	NLayers       int     `yaml:"n_layers" json:"n_layers"`             // stored blocks
	NHeads        int     `yaml:"n_heads" json:"n_heads"`               // query heads
	NKVHeads      int     `yaml:"n_kv_heads" json:"n_kv_heads"`         // key/value heads (GQA); divides NHeads
	FFNDim        int     `yaml:"ffn_dim" json:"ffn_dim"`               // SwiGLU hidden width
	ContextLength int     `yaml:"context_length" json:"context_length"` // max positions
	RopeBase      float64 `yaml:"rope_base" json:"rope_base"`           // RoPE frequency base, e.g. 10000
	NormEps       float64 `yaml:"norm_eps" json:"norm_eps"`             // RMSNorm epsilon, e.g. 1e-5
	ShareBlocks   bool    `yaml:"share_blocks" json:"share_blocks"`     // MobileLLM-LS: apply each block twice
	UntieEmbed    bool    `yaml:"untie_embeddings" json:"untie_embeddings"`

	// Arch is the block variant: "" or "llama" (the default), "qwen2"
	// (Q/K/V projections with biases) or "qwen3" (per-head RMSNorm of Q and
	// K before RoPE, q_norm/k_norm weights [head dim]).
	Arch string `yaml:"arch" json:"arch,omitempty"`
	// HeadDimension is the per-head width when it is not d_model/n_heads
	// (Qwen3); 0 means d_model/n_heads.
	HeadDimension int `yaml:"head_dim" json:"head_dim,omitempty"`
	// RopeScaling is Llama 3's frequency-dependent RoPE scaling; the zero
	// value means none.
	RopeScaling RopeScaling `yaml:"rope_scaling" json:"rope_scaling,omitzero"`
	// RopeFactors are per-pair RoPE divisors given directly (a llama.cpp
	// Llama 3 GGUF's rope_freqs.weight), instead of RopeScaling; "" means none.
	RopeFactors RopeFactors `yaml:"rope_freq_factors" json:"rope_freq_factors,omitempty"`
}

// Architectures the student, checkpoints, runtime and export support.
const (
	ArchLlama = "llama"
	ArchQwen2 = "qwen2"
	ArchQwen3 = "qwen3"
)

// SupportedArchs lists the architectures by name, for error messages.
var SupportedArchs = []string{ArchLlama, ArchQwen2, ArchQwen3}

// ArchName is Arch with "" read as "llama".
func (c Config) ArchName() string {
	if c.Arch == "" {
		return ArchLlama
	}
	return c.Arch
}

// QKVBias reports whether the Q/K/V projections carry biases (qwen2).
func (c Config) QKVBias() bool { return c.Arch == ArchQwen2 }

// QKNorm reports whether Q and K are RMS-normalised per head before RoPE (qwen3).
func (c Config) QKNorm() bool { return c.Arch == ArchQwen3 }

// RopeScaling is Hugging Face's rope_scaling of rope_type "llama3": wave
// lengths longer than OriginalContext/LowFreqFactor are slowed by Factor,
// those shorter than OriginalContext/HighFreqFactor kept, and the band
// between interpolated.
type RopeScaling struct {
	Type            string  `yaml:"type" json:"type"` // "llama3"
	Factor          float64 `yaml:"factor" json:"factor"`
	LowFreqFactor   float64 `yaml:"low_freq_factor" json:"low_freq_factor"`
	HighFreqFactor  float64 `yaml:"high_freq_factor" json:"high_freq_factor"`
	OriginalContext int     `yaml:"original_context_length" json:"original_context_length"`
}

// RopeScalingLlama3 is RopeScaling's one Type.
const RopeScalingLlama3 = "llama3"

// HeadDim is HeadDimension when set, else DModel / NHeads.
func (c Config) HeadDim() int {
	if c.HeadDimension > 0 {
		return c.HeadDimension
	}
	return c.DModel / c.NHeads
}

// RopeFreqFactors is, per rotated pair i of a head, the divisor of the
// angle pos·base^(−2i/headDim) that Llama 3 scaling applies (all 1 without
// scaling; RopeFactors when given) — llama.cpp's rope_freqs tensor [headDim/2].
func (c Config) RopeFreqFactors() []float64 {
	hd := c.HeadDim()
	f := make([]float64, hd/2)
	if given, err := c.RopeFactors.Values(); err == nil && len(given) == len(f) {
		for i, v := range given {
			f[i] = float64(v)
		}
		return f
	}
	rs := c.RopeScaling
	for i := range f {
		f[i] = 1
		if rs.Type != RopeScalingLlama3 {
			continue
		}
		freq := math.Pow(c.RopeBase, -2*float64(i)/float64(hd))
		wavelen := 2 * math.Pi / freq
		lowWave := float64(rs.OriginalContext) / rs.LowFreqFactor
		highWave := float64(rs.OriginalContext) / rs.HighFreqFactor
		switch {
		case wavelen < highWave:
		case wavelen > lowWave:
			f[i] = rs.Factor
		default:
			smooth := (float64(rs.OriginalContext)/wavelen - rs.LowFreqFactor) / (rs.HighFreqFactor - rs.LowFreqFactor)
			f[i] = 1 / ((1-smooth)/rs.Factor + smooth)
		}
	}
	return f
}

// RopeInvFreqs is the rotation frequency of each pair of a head:
// base^(−2i/headDim) / RopeFreqFactors()[i].
func (c Config) RopeInvFreqs() []float64 {
	f := c.RopeFreqFactors()
	hd := c.HeadDim()
	for i := range f {
		f[i] = math.Pow(c.RopeBase, -2*float64(i)/float64(hd)) / f[i]
	}
	return f
}

// AppliedLayers is the depth the forward pass runs (2·NLayers with sharing).
func (c Config) AppliedLayers() int {
	if c.ShareBlocks {
		return 2 * c.NLayers
	}
	return c.NLayers
}

// Validate checks the architecture once, at the edge.
func (c Config) Validate() error {
	var errs []error
	pos := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be > 0, got %d", name, v))
		}
	}
	pos("vocab_size", c.VocabSize)
	pos("d_model", c.DModel)
	pos("n_layers", c.NLayers)
	pos("n_heads", c.NHeads)
	pos("n_kv_heads", c.NKVHeads)
	pos("ffn_dim", c.FFNDim)
	pos("context_length", c.ContextLength)
	if c.HeadDimension < 0 {
		errs = append(errs, fmt.Errorf("head_dim must be >= 0 (0: d_model/n_heads), got %d", c.HeadDimension))
	}
	if c.NHeads > 0 && c.HeadDimension == 0 && c.DModel%c.NHeads != 0 {
		errs = append(errs, fmt.Errorf("d_model %d not divisible by n_heads %d (or set head_dim)", c.DModel, c.NHeads))
	}
	if c.NHeads > 0 && c.NKVHeads > 0 && c.NHeads%c.NKVHeads != 0 {
		errs = append(errs, fmt.Errorf("n_heads %d not divisible by n_kv_heads %d", c.NHeads, c.NKVHeads))
	}
	if c.NHeads > 0 && c.HeadDimension >= 0 && c.HeadDim()%2 != 0 {
		errs = append(errs, fmt.Errorf("head size %d must be even for RoPE", c.HeadDim()))
	}
	if c.Arch != "" && !slices.Contains(SupportedArchs, c.Arch) {
		errs = append(errs, fmt.Errorf("arch %q is not supported (supported: %s)", c.Arch, strings.Join(SupportedArchs, ", ")))
	}
	if rs := c.RopeScaling; rs != (RopeScaling{}) {
		switch {
		case rs.Type != RopeScalingLlama3:
			errs = append(errs, fmt.Errorf("rope_scaling.type %q is not supported (supported: %s)", rs.Type, RopeScalingLlama3))
		case rs.Factor < 1 || rs.LowFreqFactor <= 0 || rs.HighFreqFactor <= rs.LowFreqFactor || rs.OriginalContext <= 0:
			errs = append(errs, fmt.Errorf("rope_scaling: want factor >= 1, 0 < low_freq_factor < high_freq_factor, original_context_length > 0; got %+v", rs))
		}
	}
	if c.RopeFactors != "" {
		f, err := c.RopeFactors.Values()
		switch {
		case err != nil:
			errs = append(errs, err)
		case c.RopeScaling != (RopeScaling{}):
			errs = append(errs, errors.New("rope_scaling and rope_freq_factors are exclusive (set one)"))
		case c.NHeads > 0 && c.HeadDimension >= 0 && len(f) != c.HeadDim()/2:
			errs = append(errs, fmt.Errorf("rope_freq_factors has %d entries, want head size / 2 = %d", len(f), c.HeadDim()/2))
		}
	}
	if c.RopeBase <= 1 {
		errs = append(errs, fmt.Errorf("rope_base must be > 1, got %g", c.RopeBase))
	}
	if c.NormEps <= 0 || c.NormEps > 1e-2 {
		errs = append(errs, fmt.Errorf("norm_eps must be in (0, 1e-2], got %g", c.NormEps))
	}
	if len(errs) > 0 {
		return fmt.Errorf("student config: %w", errors.Join(errs...))
	}
	return nil
}

// Spec is a student architecture with the objective it is built for,
// checked together by Check; Build takes one, so no Model is built from an
// unchecked pair. The zero Spec is unchecked.
type Spec struct {
	cfg     Config
	lc      loss.Config
	checked bool
}

// Check validates the architecture (Config.Validate) and its agreement with
// the objective: every hidden_map pair's student layer within the applied
// depth. It is the one place these are checked. lc itself must be valid
// already (loss.Config.Validate, which the training config's Validate runs
// at the edge; New runs it).
func Check(cfg Config, lc loss.Config) (Spec, error) {
	if err := cfg.Validate(); err != nil {
		return Spec{}, err
	}
	var errs []error
	for i, p := range lc.HiddenMap {
		if p.Student > cfg.AppliedLayers() {
			errs = append(errs, fmt.Errorf("loss.hidden_map[%d] uses student layer %d, the student applies %d", i, p.Student, cfg.AppliedLayers()))
		}
	}
	if len(errs) > 0 {
		return Spec{}, fmt.Errorf("student config with its loss: %w", errors.Join(errs...))
	}
	return Spec{cfg: cfg, lc: lc, checked: true}, nil
}

// Config is the checked architecture.
func (s Spec) Config() Config { return s.cfg }

// ParamCount is the number of stored parameters.
func (c Config) ParamCount() int64 { return int64(c.paramCount()) }

// paramCount is ParamCount in float64, which does not overflow for the
// absurd sizes a memory check must refuse.
func (c Config) paramCount() float64 {
	d, hd := float64(c.DModel), float64(c.HeadDim())
	q := float64(c.NHeads) * hd
	kv := float64(c.NKVHeads) * hd
	block := d + d*q + 2*d*kv + q*d + d + 3*d*float64(c.FFNDim)
	if c.QKVBias() {
		block += q + 2*kv
	}
	if c.QKNorm() {
		block += 2 * hd
	}
	n := float64(c.VocabSize)*d + float64(c.NLayers)*block + d
	if c.UntieEmbed {
		n += float64(c.VocabSize) * d
	}
	return n
}

// FLOPsPerToken is the forward multiply-add FLOPs (2 per MAC) per token at
// sequence position seqLen (attention cost included), excluding norms.
func (c Config) FLOPsPerToken(seqLen int) int64 {
	d, hd := int64(c.DModel), int64(c.HeadDim())
	q := int64(c.NHeads) * hd
	kv := int64(c.NKVHeads) * hd
	perLayer := 2 * (d*q + 2*d*kv + q*d + 3*d*int64(c.FFNDim))
	perLayer += 2 * 2 * int64(c.NHeads) * hd * int64(seqLen) // QKᵀ and AV
	return int64(c.AppliedLayers())*perLayer + 2*int64(c.VocabSize)*d
}

// KVBytesPerToken is the KV-cache size per token at the given element size
// (4 for F32, 2 for F16).
func (c Config) KVBytesPerToken(elemBytes int) int64 {
	return int64(c.AppliedLayers()) * 2 * int64(c.NKVHeads) * int64(c.HeadDim()) * int64(elemBytes)
}
