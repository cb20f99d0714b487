package checkpoint

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/model/student"
)

// ReadGGUF reads a llama, qwen2 or qwen3 GGUF (distill's exports, llama.cpp's
// conversions) as a student: hyperparameters from <arch>.*, every tensor
// dequantized to F32 (any type format/quant decodes), Q/K heads of the NEOX
// architectures (qwen2, qwen3) permuted to the student's interleaved RoPE
// order, the tokenizer from tokenizer.ggml.* (Pretrained.Vocab). A Llama 3
// rope_freqs.weight is read back as distill's rope_scaling keys say; without
// them (llama.cpp's converter, Ollama's files) the factors themselves become
// the student's RopeFactors, exact by construction (a Hugging Face export
// recovers rope_scaling from them: ropefactors.go).
func ReadGGUF(path string) (*Pretrained, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := readGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p.Source = path
	return p, nil
}

func readGGUF(f *gguf.File) (*Pretrained, error) {
	c, err := readGGUFConfig(f)
	if err != nil {
		return nil, err
	}
	arch := c.ArchName()
	neox := arch != student.ArchLlama
	shapes := ExpectedShapes(c)
	p := &Pretrained{Config: c}
	for _, m := range HFTensors(c) {
		shape := shapes[m.Name]
		ti, ok := f.Tensor(m.Name)
		if !ok {
			return nil, fmt.Errorf("missing tensor %s (%s architecture)", m.Name, arch)
		}
		dims := make([]uint64, len(shape))
		for i := range shape {
			dims[i] = uint64(shape[len(shape)-1-i])
		}
		if !slices.Equal(ti.Dims, dims) {
			return nil, fmt.Errorf("tensor %s has dims %v, the %s.* metadata implies %v", m.Name, ti.Dims, arch, dims)
		}
		if !quant.Quantizable(ti.Type) {
			return nil, fmt.Errorf("tensor %s: type %s cannot be dequantized (supported: F32, F16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)", m.Name, ti.Type)
		}
		raw, err := f.TensorData(m.Name)
		if err != nil {
			return nil, err
		}
		data := make([]float32, ti.Elements())
		if err := quant.Dequantize(ti.Type, data, raw); err != nil {
			return nil, fmt.Errorf("tensor %s: %w", m.Name, err)
		}
		if i := FirstNonFinite(data); i >= 0 {
			return nil, fmt.Errorf("tensor %s holds %v at index %d", m.Name, data[i], i)
		}
		if neox && m.PermuteHeads > 0 {
			if data, err = student.RotateHalfToInterleaved(data, m.PermuteHeads, m.HeadDim, len(data)/(m.PermuteHeads*m.HeadDim)); err != nil {
				return nil, fmt.Errorf("tensor %s: %w", m.Name, err)
			}
		}
		p.Weights = append(p.Weights, Tensor{Name: m.Name, Shape: shape, Data: data})
	}
	if p.Vocab, err = tokenizer.ReadGGUFVocab(f, 0); err != nil {
		return nil, err
	}
	return p, nil
}

// LoadTokenizer is the model's tokenizer: its tokenizer.json, or the GGUF
// vocabulary rebuilt. It fails when the source has neither.
func (p *Pretrained) LoadTokenizer() (*tokenizer.Tokenizer, error) {
	switch {
	case p.TokenizerPath != "":
		return tokenizer.Load(p.TokenizerPath)
	case p.Vocab != nil:
		return tokenizer.FromGGUFVocab(*p.Vocab)
	}
	return nil, fmt.Errorf("%s has no tokenizer (%s or tokenizer.ggml.*)", p.Source, TokenizerFile)
}

// IsGGUF reports whether path names a GGUF file (by its magic).
func IsGGUF(path string) bool {
	return strings.HasSuffix(strings.ToLower(path), ".gguf") && fileExists(path)
}

// readGGUFConfig reads the student architecture from a GGUF's metadata.
func readGGUFConfig(f *gguf.File) (student.Config, error) {
	arch, err := f.String(gguf.KeyArchitecture)
	if err != nil {
		return student.Config{}, err
	}
	if !slices.Contains(student.SupportedArchs, arch) {
		return student.Config{}, unsupportedArch("general.architecture", arch)
	}
	key := func(name string) string { return gguf.ArchKey(arch, name) }
	var errs []error
	geti := func(name string, def int) int {
		k := key(name)
		if _, ok := f.KV(k); !ok && def > 0 {
			return def
		}
		u, err := f.Uint(k)
		if err != nil {
			errs = append(errs, err)
			return 0
		}
		if u == 0 || u > 1<<24 {
			errs = append(errs, fmt.Errorf("key %s = %d out of range [1, %d]", k, u, 1<<24))
			return 0
		}
		return int(u)
	}
	getf := func(k string, def float64) float64 {
		if _, ok := f.KV(k); !ok && def > 0 {
			return def
		}
		v, err := f.Float(k)
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}
	c := student.Config{
		DModel: geti(gguf.HyperEmbeddingLength, 0), NLayers: geti(gguf.HyperBlockCount, 0),
		NHeads: geti(gguf.HyperHeadCount, 0), FFNDim: geti(gguf.HyperFeedForwardLength, 0),
		ContextLength: geti(gguf.HyperContextLength, 0),
		RopeBase:      getf(key(gguf.HyperRopeFreqBase), 10000), NormEps: getf(key(gguf.HyperRMSEpsilon), 0),
	}
	if arch != student.ArchLlama {
		c.Arch = arch
	}
	c.NKVHeads = geti(gguf.HyperHeadCountKV, c.NHeads)
	if _, ok := f.KV(key(gguf.HyperKeyLength)); ok {
		if hd := geti(gguf.HyperKeyLength, 0); c.NHeads == 0 || hd*c.NHeads != c.DModel {
			c.HeadDimension = hd
		}
	}
	if len(errs) > 0 {
		return student.Config{}, errors.Join(errs...)
	}
	if _, ok := f.KV(gguf.KeyDistillShareBlocks); ok {
		share, err := f.Bool(gguf.KeyDistillShareBlocks)
		if err != nil {
			return student.Config{}, err
		}
		if share {
			if c.NLayers%2 != 0 {
				return student.Config{}, fmt.Errorf("%s: %d applied blocks with distill.share_blocks, want an even count", key(gguf.HyperBlockCount), c.NLayers)
			}
			c.ShareBlocks, c.NLayers = true, c.NLayers/2
		}
	}
	emb, ok := f.Tensor("token_embd.weight")
	if !ok || len(emb.Dims) != 2 || emb.Dims[1] == 0 || emb.Dims[1] > 1<<24 {
		return student.Config{}, fmt.Errorf("tensor token_embd.weight missing or not {embedding_length, vocab}")
	}
	c.VocabSize = int(emb.Dims[1])
	_, c.UntieEmbed = f.Tensor("output.weight")
	if _, ok := f.Tensor(ropeFreqsTensor); ok {
		if _, ok := f.KV(gguf.KeyDistillRopeScalingFactor); !ok {
			// llama.cpp's converter keeps only the factors: carry them.
			factors, err := readRopeFactors(f, c)
			if err != nil {
				return student.Config{}, err
			}
			c.RopeFactors = student.NewRopeFactors(factors)
			if err := c.Validate(); err != nil {
				return student.Config{}, err
			}
			return c, nil
		}
		c.RopeScaling = student.RopeScaling{Type: student.RopeScalingLlama3,
			Factor: getf(gguf.KeyDistillRopeScalingFactor, 0), LowFreqFactor: getf(gguf.KeyDistillRopeScalingLowFreqFactor, 0),
			HighFreqFactor: getf(gguf.KeyDistillRopeScalingHighFreqFactor, 0)}
		u, err := f.Uint(gguf.KeyDistillRopeScalingOriginalContext)
		if err != nil || u > 1<<30 {
			return student.Config{}, fmt.Errorf("%s: %v (%d)", gguf.KeyDistillRopeScalingOriginalContext, err, u)
		}
		c.RopeScaling.OriginalContext = int(u)
		if len(errs) > 0 {
			return student.Config{}, errors.Join(errs...)
		}
	}
	if err := c.Validate(); err != nil {
		return student.Config{}, err
	}
	return c, nil
}

// ropeFreqsTensor is llama.cpp's tensor of per-pair RoPE frequency divisors.
const ropeFreqsTensor = "rope_freqs.weight"

// readRopeFactors reads rope_freqs.weight [headDim/2] (any type the
// dequantizer reads) and checks every factor is finite and > 0.
func readRopeFactors(f *gguf.File, c student.Config) ([]float32, error) {
	ti, _ := f.Tensor(ropeFreqsTensor)
	if c.NHeads <= 0 || c.HeadDim() <= 0 {
		return nil, fmt.Errorf("tensor %s: the head size is unknown", ropeFreqsTensor)
	}
	if want := uint64(c.HeadDim() / 2); len(ti.Dims) != 1 || ti.Dims[0] != want {
		return nil, fmt.Errorf("tensor %s has dims %v, want {%d} (head size / 2)", ropeFreqsTensor, ti.Dims, want)
	}
	if !quant.Quantizable(ti.Type) {
		return nil, fmt.Errorf("tensor %s: type %s cannot be dequantized", ropeFreqsTensor, ti.Type)
	}
	raw, err := f.TensorData(ropeFreqsTensor)
	if err != nil {
		return nil, err
	}
	out := make([]float32, ti.Elements())
	if err := quant.Dequantize(ti.Type, out, raw); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", ropeFreqsTensor, err)
	}
	i := FirstNonFinite(out)
	if i < 0 {
		i = slices.IndexFunc(out, func(v float32) bool { return v <= 0 })
	}
	if i >= 0 {
		return nil, fmt.Errorf("tensor %s holds %v at index %d, want a finite factor > 0", ropeFreqsTensor, out[i], i)
	}
	return out, nil
}
