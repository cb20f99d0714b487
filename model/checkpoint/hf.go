package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/distill-ml/distill/internal/atomicfile"
	"github.com/distill-ml/distill/model/student"
)

// Hugging Face model directories (transformers' layout): config.json,
// model.safetensors or shards named by model.safetensors.index.json,
// tokenizer.json, tokenizer_config.json, generation_config.json. ReadHF turns
// one into the student's form — llama.cpp tensor names, Q/K rows in the
// student's interleaved RoPE order (student.RotateHalfToInterleaved) — and
// WriteHF writes a student back, so HF → distill → HF is bit-identical at F32.
const (
	HFConfigFile      = "config.json"
	HFWeightsFile     = "model.safetensors"
	HFIndexFile       = "model.safetensors.index.json"
	HFTokenizerConfig = "tokenizer_config.json"
	HFGenerationFile  = "generation_config.json"
)

// hfArch is one supported Hugging Face architecture.
type hfArch struct {
	modelType, class, arch string
}

var hfArchs = []hfArch{
	{"llama", "LlamaForCausalLM", ""}, // the student's default arch
	{"qwen2", "Qwen2ForCausalLM", student.ArchQwen2},
	{"qwen3", "Qwen3ForCausalLM", student.ArchQwen3},
}

// hfConfig is the part of config.json the three architectures use.
type hfConfig struct {
	Architectures     []string       `json:"architectures"`
	ModelType         string         `json:"model_type"`
	VocabSize         int            `json:"vocab_size"`
	HiddenSize        int            `json:"hidden_size"`
	IntermediateSize  int            `json:"intermediate_size"`
	NumHiddenLayers   int            `json:"num_hidden_layers"`
	NumAttentionHeads int            `json:"num_attention_heads"`
	NumKeyValueHeads  int            `json:"num_key_value_heads"`
	HeadDim           int            `json:"head_dim"`
	MaxPositions      int            `json:"max_position_embeddings"`
	RopeTheta         float64        `json:"rope_theta"`
	RMSNormEps        float64        `json:"rms_norm_eps"`
	TieWordEmbeddings *bool          `json:"tie_word_embeddings"`
	HiddenAct         string         `json:"hidden_act"`
	AttentionBias     bool           `json:"attention_bias"`
	MLPBias           bool           `json:"mlp_bias"`
	UseSlidingWindow  bool           `json:"use_sliding_window"`
	RopeScaling       map[string]any `json:"rope_scaling"`
}

// IsHFDir reports whether dir looks like a Hugging Face model directory: a
// config.json with a model_type (distill checkpoints have a "format").
func IsHFDir(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, HFConfigFile))
	if err != nil {
		return false
	}
	var probe struct {
		ModelType *string `json:"model_type"`
		Format    *string `json:"format"`
	}
	return json.Unmarshal(b, &probe) == nil && probe.ModelType != nil && probe.Format == nil
}

// unsupportedArch is the one error for an architecture distill cannot load.
func unsupportedArch(where, name string) error {
	return fmt.Errorf("%s: architecture %q is not supported (supported: %s)", where, name, strings.Join(student.SupportedArchs, ", "))
}

// ReadHFConfig reads a Hugging Face config.json as a student architecture.
func ReadHFConfig(dir string) (student.Config, error) {
	path := filepath.Join(dir, HFConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return student.Config{}, err
	}
	var hc hfConfig
	if err := json.Unmarshal(b, &hc); err != nil {
		return student.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	var arch *hfArch
	for i := range hfArchs {
		if hfArchs[i].modelType == hc.ModelType {
			arch = &hfArchs[i]
		}
	}
	if arch == nil {
		name := hc.ModelType
		if len(hc.Architectures) > 0 {
			name = hc.ModelType + " (" + strings.Join(hc.Architectures, ", ") + ")"
		}
		return student.Config{}, unsupportedArch(path, name)
	}
	var errs []error
	if hc.HiddenAct != "" && hc.HiddenAct != "silu" {
		errs = append(errs, fmt.Errorf("hidden_act %q: only silu (SwiGLU) is supported", hc.HiddenAct))
	}
	if hc.AttentionBias && arch.arch != student.ArchQwen2 {
		errs = append(errs, fmt.Errorf("attention_bias true is supported only as qwen2's Q/K/V biases"))
	}
	if hc.MLPBias {
		errs = append(errs, errors.New("mlp_bias true is not supported"))
	}
	if hc.UseSlidingWindow {
		errs = append(errs, errors.New("use_sliding_window true is not supported"))
	}
	c := student.Config{
		Arch: arch.arch, VocabSize: hc.VocabSize, DModel: hc.HiddenSize, NLayers: hc.NumHiddenLayers,
		NHeads: hc.NumAttentionHeads, NKVHeads: hc.NumKeyValueHeads, FFNDim: hc.IntermediateSize,
		ContextLength: hc.MaxPositions, RopeBase: hc.RopeTheta, NormEps: hc.RMSNormEps,
	}
	if c.NKVHeads == 0 {
		c.NKVHeads = c.NHeads
	}
	if c.RopeBase == 0 {
		c.RopeBase = 10000
	}
	if hc.HeadDim > 0 && (c.NHeads <= 0 || hc.HeadDim*c.NHeads != c.DModel) {
		c.HeadDimension = hc.HeadDim
	}
	// Without the key transformers unties (LlamaConfig, Qwen2Config and
	// Qwen3Config all default tie_word_embeddings to false).
	c.UntieEmbed = hc.TieWordEmbeddings == nil || !*hc.TieWordEmbeddings
	if rs := hc.RopeScaling; rs != nil {
		typ, _ := rs["rope_type"].(string)
		if typ == "" {
			typ, _ = rs["type"].(string)
		}
		num := func(k string) float64 { v, _ := rs[k].(float64); return v }
		switch typ {
		case student.RopeScalingLlama3:
			c.RopeScaling = student.RopeScaling{Type: typ, Factor: num("factor"), LowFreqFactor: num("low_freq_factor"),
				HighFreqFactor: num("high_freq_factor"), OriginalContext: int(num("original_max_position_embeddings"))}
		case "default":
		default:
			errs = append(errs, fmt.Errorf("rope_scaling type %q is not supported (supported: %s)", typ, student.RopeScalingLlama3))
		}
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return student.Config{}, fmt.Errorf("%s: %w", path, errors.Join(errs...))
	}
	return c, nil
}

// HFTensor maps one Hugging Face tensor to the student's: PermuteHeads > 0
// means the rows are Q or K heads of HeadDim to reorder between rotate-half
// and interleaved RoPE.
type HFTensor struct {
	HF, Name     string
	PermuteHeads int
	HeadDim      int
}

// HFTensors lists the tensors of a student config in Hugging Face's order
// with their student names.
func HFTensors(c student.Config) []HFTensor {
	hd := c.HeadDim()
	ts := []HFTensor{{HF: "model.embed_tokens.weight", Name: "token_embd.weight"}}
	for l := 0; l < c.NLayers; l++ {
		p, b := fmt.Sprintf("model.layers.%d.", l), fmt.Sprintf("blk.%d.", l)
		ts = append(ts,
			HFTensor{HF: p + "input_layernorm.weight", Name: b + "attn_norm.weight"},
			HFTensor{HF: p + "self_attn.q_proj.weight", Name: b + "attn_q.weight", PermuteHeads: c.NHeads, HeadDim: hd},
			HFTensor{HF: p + "self_attn.k_proj.weight", Name: b + "attn_k.weight", PermuteHeads: c.NKVHeads, HeadDim: hd},
			HFTensor{HF: p + "self_attn.v_proj.weight", Name: b + "attn_v.weight"})
		if c.QKVBias() {
			ts = append(ts,
				HFTensor{HF: p + "self_attn.q_proj.bias", Name: b + "attn_q.bias", PermuteHeads: c.NHeads, HeadDim: hd},
				HFTensor{HF: p + "self_attn.k_proj.bias", Name: b + "attn_k.bias", PermuteHeads: c.NKVHeads, HeadDim: hd},
				HFTensor{HF: p + "self_attn.v_proj.bias", Name: b + "attn_v.bias"})
		}
		if c.QKNorm() {
			ts = append(ts,
				HFTensor{HF: p + "self_attn.q_norm.weight", Name: b + "attn_q_norm.weight", PermuteHeads: 1, HeadDim: hd},
				HFTensor{HF: p + "self_attn.k_norm.weight", Name: b + "attn_k_norm.weight", PermuteHeads: 1, HeadDim: hd})
		}
		ts = append(ts,
			HFTensor{HF: p + "self_attn.o_proj.weight", Name: b + "attn_output.weight"},
			HFTensor{HF: p + "post_attention_layernorm.weight", Name: b + "ffn_norm.weight"},
			HFTensor{HF: p + "mlp.gate_proj.weight", Name: b + "ffn_gate.weight"},
			HFTensor{HF: p + "mlp.up_proj.weight", Name: b + "ffn_up.weight"},
			HFTensor{HF: p + "mlp.down_proj.weight", Name: b + "ffn_down.weight"})
	}
	ts = append(ts, HFTensor{HF: "model.norm.weight", Name: "output_norm.weight"})
	if c.UntieEmbed {
		ts = append(ts, HFTensor{HF: "lm_head.weight", Name: "output.weight"})
	}
	return ts
}

// ReadHF reads a Hugging Face model directory: the architecture from
// config.json (ReadHFConfig), the weights from model.safetensors or the
// shards model.safetensors.index.json names (F32, F16 or BF16, widened to
// F32), Q/K heads permuted to the student's RoPE order. A missing, extra or
// misshapen tensor is an error naming it.
func ReadHF(dir string) (*Pretrained, error) {
	cfg, err := ReadHFConfig(dir)
	if err != nil {
		return nil, err
	}
	files := []string{HFWeightsFile}
	ipath := filepath.Join(dir, HFIndexFile)
	if b, err := os.ReadFile(ipath); err == nil {
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, fmt.Errorf("%s: %w", ipath, err)
		}
		files = files[:0]
		for name, f := range idx.WeightMap {
			if f == "" || filepath.Base(f) != f {
				return nil, fmt.Errorf("%s: tensor %s: shard %q must be a file name in the directory", ipath, name, f)
			}
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: empty weight_map", ipath)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	byHF := map[string]Tensor{}
	where := map[string]string{}
	for _, f := range files {
		path := filepath.Join(dir, f)
		ts, _, err := ReadSafetensorsFile(path)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if prev, dup := where[t.Name]; dup {
				return nil, fmt.Errorf("%s: tensor %s is also in %s", path, t.Name, prev)
			}
			byHF[t.Name], where[t.Name] = t, path
		}
	}
	want := ExpectedShapes(cfg)
	p := &Pretrained{Source: dir, Config: cfg}
	for _, m := range HFTensors(cfg) {
		t, ok := byHF[m.HF]
		if !ok {
			return nil, fmt.Errorf("%s: missing tensor %s (%s architecture)", dir, m.HF, cfg.ArchName())
		}
		delete(byHF, m.HF)
		shape := want[m.Name]
		if !slices.Equal(t.Shape, shape) {
			return nil, fmt.Errorf("%s: tensor %s has shape %v, config.json implies %v", where[m.HF], m.HF, t.Shape, shape)
		}
		if i := FirstNonFinite(t.Data); i >= 0 {
			return nil, fmt.Errorf("%s: tensor %s holds %v at index %d", where[m.HF], m.HF, t.Data[i], i)
		}
		data := t.Data
		if m.PermuteHeads > 0 {
			cols := len(data) / (m.PermuteHeads * m.HeadDim)
			if data, err = student.RotateHalfToInterleaved(data, m.PermuteHeads, m.HeadDim, cols); err != nil {
				return nil, fmt.Errorf("%s: tensor %s: %w", where[m.HF], m.HF, err)
			}
		}
		p.Weights = append(p.Weights, Tensor{Name: m.Name, Shape: shape, Data: data})
	}
	// A tied model may still store its head (some exporters do): accept it
	// only when it equals the embedding, since the student ties them.
	if lm, ok := byHF["lm_head.weight"]; ok && !cfg.UntieEmbed {
		if !slices.Equal(lm.Data, p.Weights[0].Data) {
			return nil, fmt.Errorf("%s: config.json ties the embeddings but lm_head.weight differs from model.embed_tokens.weight", where["lm_head.weight"])
		}
		delete(byHF, "lm_head.weight")
	}
	for name := range byHF {
		if strings.HasSuffix(name, "rotary_emb.inv_freq") { // a buffer old exports saved
			delete(byHF, name)
		}
	}
	if len(byHF) > 0 {
		extra := slices.Sorted(func(yield func(string) bool) {
			for n := range byHF {
				if !yield(n) {
					return
				}
			}
		})
		return nil, fmt.Errorf("%s: tensors the %s architecture does not use: %s", dir, cfg.ArchName(), strings.Join(extra, ", "))
	}
	if tok := filepath.Join(dir, TokenizerFile); fileExists(tok) {
		p.TokenizerPath = tok
	}
	return p, nil
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// HFConfigJSON is config.json for a student in Hugging Face's layout;
// bos/eos < 0 are left out.
func HFConfigJSON(c student.Config, dtype string, bos, eos int) ([]byte, error) {
	var arch *hfArch
	for i := range hfArchs {
		if hfArchs[i].arch == c.Arch || (c.Arch == student.ArchLlama && hfArchs[i].arch == "") {
			arch = &hfArchs[i]
		}
	}
	if arch == nil {
		return nil, unsupportedArch("student config", c.Arch)
	}
	torchDtype := map[string]string{DtypeF32: "float32", DtypeF16: "float16", DtypeBF16: "bfloat16"}[dtype]
	if torchDtype == "" {
		return nil, fmt.Errorf("dtype %q not supported (F32, F16, BF16)", dtype)
	}
	m := map[string]any{
		"architectures":           []string{arch.class},
		"model_type":              arch.modelType,
		"vocab_size":              c.VocabSize,
		"hidden_size":             c.DModel,
		"intermediate_size":       c.FFNDim,
		"num_hidden_layers":       c.NLayers,
		"num_attention_heads":     c.NHeads,
		"num_key_value_heads":     c.NKVHeads,
		"head_dim":                c.HeadDim(),
		"max_position_embeddings": c.ContextLength,
		"rope_theta":              c.RopeBase,
		"rms_norm_eps":            c.NormEps,
		"tie_word_embeddings":     !c.UntieEmbed,
		"hidden_act":              "silu",
		"torch_dtype":             torchDtype,
		"use_cache":               true,
		"attention_dropout":       0.0,
		"initializer_range":       0.02,
	}
	switch arch.modelType {
	case "llama":
		m["attention_bias"], m["mlp_bias"], m["pretraining_tp"] = false, false, 1
	case "qwen2", "qwen3":
		m["use_sliding_window"], m["sliding_window"], m["max_window_layers"] = false, c.ContextLength, c.NLayers
		if arch.modelType == "qwen3" {
			m["attention_bias"] = false
		}
	}
	m["rope_scaling"] = nil
	rs := c.RopeScaling
	if c.RopeFactors != "" {
		// A llama.cpp GGUF's factors: config.json needs the parameters.
		var err error
		if rs, err = llama3FromFactors(c); err != nil {
			return nil, fmt.Errorf("the student's RoPE scaling is per-pair factors (a llama.cpp GGUF's rope_freqs.weight) without Llama 3 rope_scaling parameters, which config.json needs: %w; export it as GGUF, or import the model's Hugging Face directory instead", err)
		}
	}
	if rs.Type != "" {
		m["rope_scaling"] = map[string]any{"rope_type": rs.Type, "factor": rs.Factor, "low_freq_factor": rs.LowFreqFactor,
			"high_freq_factor": rs.HighFreqFactor, "original_max_position_embeddings": rs.OriginalContext}
	}
	if bos >= 0 {
		m["bos_token_id"] = bos
	}
	if eos >= 0 {
		m["eos_token_id"] = eos
	}
	if c.ShareBlocks {
		return nil, errors.New("a student with share_blocks has no Hugging Face architecture (export it as GGUF)")
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// HFWeights orders a student's weights (by student name) as Hugging Face
// tensors, Q/K heads permuted back to rotate-half.
func HFWeights(c student.Config, weights map[string][]float32) ([]Tensor, error) {
	shapes := ExpectedShapes(c)
	var out []Tensor
	for _, m := range HFTensors(c) {
		data, ok := weights[m.Name]
		if !ok {
			return nil, fmt.Errorf("missing tensor %s", m.Name)
		}
		if m.PermuteHeads > 0 {
			cols := len(data) / (m.PermuteHeads * m.HeadDim)
			var err error
			if data, err = student.InterleavedToRotateHalf(data, m.PermuteHeads, m.HeadDim, cols); err != nil {
				return nil, fmt.Errorf("tensor %s: %w", m.Name, err)
			}
		}
		out = append(out, Tensor{Name: m.HF, Shape: shapes[m.Name], Data: data})
	}
	return out, nil
}

// WriteHFWeights writes model.safetensors of a student into dir atomically,
// at dtype (F32, F16 or BF16).
func WriteHFWeights(dir string, c student.Config, weights map[string][]float32, dtype string) error {
	ts, err := HFWeights(c, weights)
	if err != nil {
		return err
	}
	for _, t := range ts {
		for _, v := range t.Data {
			if dtype == DtypeF16 && math.Abs(float64(v)) > 65504 {
				return fmt.Errorf("tensor %s holds %g, beyond F16's range (use BF16 or F32)", t.Name, v)
			}
		}
	}
	path := filepath.Join(dir, HFWeightsFile)
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		if err := WriteSafetensorsAs(w, ts, map[string]string{"format": "pt"}, dtype); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	})
}
