// Package export writes distill students as GGUF files that llama.cpp loads
// (architectures llama, qwen2 and qwen3): <arch>.* hyperparameters, llama.cpp tensor names, the
// byte-level BPE tokenizer embedded as tokenizer.ggml.* (model "gpt2"),
// general.* provenance, and weights encoded as one of llama-quantize's file
// types (quant.FileType: its per-tensor mix, or every tensor the base type
// with Options.Pure; see Mix). It also re-quantizes an F32/F16 GGUF into
// another file type (Requantize).
//
// Layout: a student weight [out, in] (row-major, y = x·Wᵀ) is a GGUF tensor
// with ggml dims {in, out}; the bytes are the same. Q and K are written as
// they are for llama: the student's RoPE already pairs elements (2i, 2i+1)
// the way llama.cpp's "normal" RoPE does; qwen2/qwen3 use llama.cpp's NEOX
// RoPE, so their Q/K rows (weights, biases, q/k norms) are written in
// Hugging Face's rotate-half order (NeoxRope). Llama 3 rope_scaling is
// written as llama.cpp's rope_freqs.weight. A tied output is not written (llama.cpp then
// uses token_embd). A block-shared student (MobileLLM-LS: each stored block
// applied twice) is written with block_count = 2·NLayers and every stored
// block repeated as blk.2i and blk.2i+1, so standard runtimes load it.
//
// The tensor types and bytes equal what llama.cpp's llama_model_quantize
// writes from the F32 file for the same type and --pure, which a test checks
// against the libllama shipped with node-llama-cpp.
package export

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/model/checkpoint"
	"github.com/distill-ml/distill/model/student"
)

// Vocab is the tokenizer as GGUF stores it for llama.cpp's "gpt2" (byte-level
// BPE) tokenizer model: the tokenizer package's GGUF form plus the keys it
// does not carry. Build it with TokenizerVocab (or set EOT to -1 explicitly:
// its zero value would name token 0).
type Vocab struct {
	tokenizer.GGUFVocab
	EOT            int32 // tokenizer.ggml.eot_token_id (end of an assistant turn); -1 none
	AddBOS, AddEOS bool  // whether llama.cpp adds BOS/EOS when tokenizing
}

// TokenizerVocab is the GGUF vocabulary of tok. distill's tokenizers add no
// BOS/EOS when encoding, so AddBOS and AddEOS are false.
func TokenizerVocab(tok *tokenizer.Tokenizer) Vocab {
	return Vocab{GGUFVocab: tok.GGUFVocab(), EOT: tok.Special().EOT}
}

// Validate checks the vocabulary against a model's vocab size.
func (v *Vocab) Validate(vocabSize int) error {
	spm := v.Model == "llama"
	if v.Model != "" && v.Model != "gpt2" && !spm {
		return fmt.Errorf("vocab: tokenizer model %q is not supported (want gpt2 or llama)", v.Model)
	}
	if spm && len(v.Scores) != len(v.Tokens) {
		return fmt.Errorf("vocab: %d scores for %d tokens (a llama vocabulary needs one per token)", len(v.Scores), len(v.Tokens))
	}
	if spm && len(v.Merges) > 0 {
		return fmt.Errorf("vocab: a llama (SentencePiece) vocabulary has scores, not merges (%d given)", len(v.Merges))
	}
	if v.Pre == "" && !spm {
		return fmt.Errorf("vocab: tokenizer.ggml.pre is empty (llama.cpp would fall back to 'default' splitting)")
	}
	if len(v.Tokens) != vocabSize {
		return fmt.Errorf("vocab: %d tokens, model vocab_size %d", len(v.Tokens), vocabSize)
	}
	if len(v.Types) != len(v.Tokens) {
		return fmt.Errorf("vocab: %d token types for %d tokens", len(v.Types), len(v.Tokens))
	}
	for i, tt := range v.Types {
		if tt < 1 || tt > 6 {
			return fmt.Errorf("vocab: token %d (%q) has type %d, want 1..6", i, v.Tokens[i], tt)
		}
	}
	for i, m := range v.Merges {
		if l, r, ok := strings.Cut(m, " "); !ok || l == "" || r == "" || strings.Contains(r, " ") {
			return fmt.Errorf("vocab: merge %d %q is not two space-separated token texts", i, m)
		}
	}
	for _, s := range []struct {
		name string
		id   int32
	}{{"bos", v.BOS}, {"eos", v.EOS}, {"pad", v.PAD}, {"eot", v.EOT}} {
		if s.id < -1 || int(s.id) >= vocabSize {
			return fmt.Errorf("vocab: %s id %d outside [-1, %d)", s.name, s.id, vocabSize)
		}
	}
	if v.AddBOS && v.BOS < 0 {
		return fmt.Errorf("vocab: add_bos is set but there is no BOS token")
	}
	if v.AddEOS && v.EOS < 0 {
		return fmt.Errorf("vocab: add_eos is set but there is no EOS token")
	}
	return nil
}

// Model is a student to export.
type Model struct {
	Config student.Config
	// Tensors holds the weights by llama.cpp name with the layouts of
	// model/student (e.g. blk.N.attn_q.weight [nHeads·headDim, d], row-major).
	// Names outside that set (trainer-only tensors) are ignored and reported.
	Tensors map[string][]float32
	Vocab   Vocab
	// Provenance: general.name, general.version (both required),
	// general.description / general.author / general.license when non-empty.
	Name, Version, Description, Author, License string
	// Extra metadata appended after the standard keys, e.g.
	// {gguf.KeyDistillTokenizerHash, gguf.Of("…")}; keys must be namespaced.
	Extra []gguf.KV
}

// Options control Write.
type Options struct {
	Type quant.FileType
	// Pure gives every quantizable tensor the file type's base type, as
	// llama-quantize --pure (no output/token_embd or per-layer mix rules;
	// rows the block does not divide still fall back).
	Pure bool
	// Imatrix, when set, holds importance weights per tensor name (one per
	// input column, as llama-quantize derives them from an imatrix file):
	// Requantize then quantizes those tensors as llama_model_quantize does
	// with params.imatrix (quant.QuantizeWeighted). Tensors without an entry
	// quantize as without it.
	Imatrix map[string][]float32
	// ImatrixSource, when set with a non-empty Imatrix, is the imatrix file
	// the weights came from: Requantize records it in the quantize.imatrix.*
	// keys as llama-quantize --imatrix does (the library call
	// llama_model_quantize records nothing, as Requantize without it).
	ImatrixSource *ImatrixSource
	// Progress, when set, is called after each tensor with the bytes of tensor
	// data written so far and the total.
	Progress func(done, total int64, tensor string)
	// Warn, when set, receives notes (ignored trainer-only tensors, fallbacks).
	Warn func(msg string)
}

// PlannedTensor is one tensor as Write will write it.
type PlannedTensor struct {
	Name   string     // GGUF name
	Source string     // name in Model.Tensors (differs for repeated shared blocks)
	Type   quant.Type // chosen ggml type
	Wanted quant.Type // the type the mix wanted; differs from Type after a shape fallback
	Dims   []uint64   // ggml dims (row length first)
	// PermuteHeads > 0: the rows are that many Q/K heads, written in
	// Hugging Face's rotate-half order (NeoxRope architectures).
	PermuteHeads int
}

// Bytes is the tensor's data size in the file (without alignment padding).
func (p PlannedTensor) Bytes() int64 {
	rs, err := p.Type.RowSize(int(p.Dims[0]))
	if err != nil {
		return 0 // Type always divides the row (the fallback guarantees it)
	}
	n := int64(rs)
	for _, d := range p.Dims[1:] {
		n *= int64(d)
	}
	return n
}

// Elements is the tensor's element count.
func (p PlannedTensor) Elements() int64 {
	n := int64(1)
	for _, d := range p.Dims {
		n *= int64(d)
	}
	return n
}

// PlanShapes lists the tensors a student of architecture c is written as,
// in file order, with the type llama-quantize's mix (opt.Type, opt.Pure)
// gives each: what Write writes, computed from the shapes alone (c must be
// valid).
func PlanShapes(c student.Config, opt Options) []PlannedTensor {
	want := shapes(c)
	applied := c.AppliedLayers()
	mix := Mix{Type: opt.Type, Pure: opt.Pure, NLayers: applied, Tied: !c.UntieEmbed, GQA: c.NHeads / c.NKVHeads}
	ropeHeads := map[string]int{} // Q/K tensors (weights, biases, norms): heads per row block
	for _, t := range checkpoint.HFTensors(c) {
		ropeHeads[t.Name] = t.PermuteHeads
	}
	var plan []PlannedTensor
	add := func(gname, src string) {
		shape := want[src]
		dims := make([]uint64, len(shape))
		for i := range shape {
			dims[i] = uint64(shape[len(shape)-1-i]) // row-major [out, in] → ggml {in, out}
		}
		t, wanted := mix.Choose(gname, dims)
		pt := PlannedTensor{Name: gname, Source: src, Type: t, Wanted: wanted, Dims: dims}
		if NeoxRope(c) {
			pt.PermuteHeads = ropeHeads[src]
		}
		plan = append(plan, pt)
	}
	add("token_embd.weight", "token_embd.weight")
	if c.ScaledRope() {
		plan = append(plan, PlannedTensor{Name: RopeFreqsTensor, Type: quant.F32, Wanted: quant.F32, Dims: []uint64{uint64(c.HeadDim() / 2)}})
	}
	for l := 0; l < applied; l++ {
		stored := l
		if c.ShareBlocks {
			stored = l / 2
		}
		for _, n := range blockTensors(c) {
			add(fmt.Sprintf("blk.%d.%s", l, n), fmt.Sprintf("blk.%d.%s", stored, n))
		}
	}
	add("output_norm.weight", "output_norm.weight")
	if c.UntieEmbed {
		add("output.weight", "output.weight")
	}
	return plan
}

// blockTensors are the per-block tensors of c (names after "blk.N."), in
// the order llama.cpp's converter writes them.
func blockTensors(c student.Config) []string {
	ts := []string{"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight"}
	if c.QKVBias() {
		ts = append(ts, "attn_q.bias", "attn_k.bias", "attn_v.bias")
	}
	if c.QKNorm() {
		ts = append(ts, "attn_q_norm.weight", "attn_k_norm.weight")
	}
	return append(ts, "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight")
}

// shapes is the student's row-major shape for each stored weight.
func shapes(c student.Config) map[string][]int { return checkpoint.ExpectedShapes(c) }

// RopeFreqsTensor is llama.cpp's tensor of Llama 3 RoPE frequency divisors
// [head dim / 2], written when the student has rope_scaling.
const RopeFreqsTensor = "rope_freqs.weight"

// NeoxRope reports whether llama.cpp rotates the architecture's RoPE pairs
// (i, i+hd/2) ("NEOX", Hugging Face's rotate-half), so Q/K are written in
// Hugging Face's row order; llama pairs neighbours as the student does.
func NeoxRope(c student.Config) bool { return c.ArchName() != student.ArchLlama }

// Plan validates the model and lists the tensors Write writes, in file order.
func (m *Model) Plan(opt Options) ([]PlannedTensor, []string, error) {
	c := m.Config
	ft := opt.Type
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("export: %w", err)
	}
	if !ft.Valid() {
		return nil, nil, fmt.Errorf("export: unknown file type %d", ft)
	}
	if c.ShareBlocks && NeoxRope(c) {
		return nil, nil, fmt.Errorf("export: share_blocks is supported for llama students only, not %s", c.ArchName())
	}
	want := shapes(c)
	var notes []string
	var extra []string
	for name := range m.Tensors {
		if _, ok := want[name]; !ok {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		notes = append(notes, fmt.Sprintf("ignoring tensor %q: not part of the %s model", name, c.ArchName()))
	}
	for name, shape := range want {
		data, ok := m.Tensors[name]
		if !ok {
			return nil, nil, fmt.Errorf("export: missing tensor %q", name)
		}
		n := 1
		for _, s := range shape {
			n *= s
		}
		if len(data) != n {
			return nil, nil, fmt.Errorf("export: tensor %q has %d values, want %d for shape %v", name, len(data), n, shape)
		}
		for i, v := range data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, nil, fmt.Errorf("export: tensor %q holds %v at index %d", name, v, i)
			}
		}
	}
	plan := PlanShapes(c, opt)
	for _, p := range plan {
		if p.Type != p.Wanted {
			notes = append(notes, fmt.Sprintf("%s: row length %d is not a multiple of %s's block of %d, using %s", p.Name, p.Dims[0], p.Wanted, p.Wanted.BlockSize(), p.Type))
		}
	}
	return plan, notes, nil
}

// metadata returns the file's key-value pairs in order.
func (m *Model) metadata(ft quant.FileType) ([]gguf.KV, error) {
	c := m.Config
	if m.Name == "" || m.Version == "" {
		return nil, fmt.Errorf("export: model name and version are required (general.name, general.version)")
	}
	if err := m.Vocab.Validate(c.VocabSize); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	u32 := func(v int) gguf.Value { return gguf.Of(uint32(v)) }
	arch := c.ArchName()
	key := func(name string) string { return gguf.ArchKey(arch, name) }
	kvs := []gguf.KV{
		{Key: gguf.KeyArchitecture, Value: gguf.Of(arch)},
		{Key: gguf.KeyName, Value: gguf.Of(m.Name)},
		{Key: gguf.KeyVersion, Value: gguf.Of(m.Version)},
	}
	for _, o := range []struct{ k, v string }{{gguf.KeyDescription, m.Description}, {gguf.KeyAuthor, m.Author}, {gguf.KeyLicense, m.License}} {
		if o.v != "" {
			kvs = append(kvs, gguf.KV{Key: o.k, Value: gguf.Of(o.v)})
		}
	}
	kvs = append(kvs,
		gguf.KV{Key: key(gguf.HyperVocabSize), Value: u32(c.VocabSize)},
		gguf.KV{Key: key(gguf.HyperContextLength), Value: u32(c.ContextLength)},
		gguf.KV{Key: key(gguf.HyperEmbeddingLength), Value: u32(c.DModel)},
		gguf.KV{Key: key(gguf.HyperBlockCount), Value: u32(c.AppliedLayers())},
		gguf.KV{Key: key(gguf.HyperFeedForwardLength), Value: u32(c.FFNDim)},
		gguf.KV{Key: key(gguf.HyperHeadCount), Value: u32(c.NHeads)},
		gguf.KV{Key: key(gguf.HyperHeadCountKV), Value: u32(c.NKVHeads)},
	)
	if c.HeadDim()*c.NHeads != c.DModel || c.QKNorm() {
		kvs = append(kvs,
			gguf.KV{Key: key(gguf.HyperKeyLength), Value: u32(c.HeadDim())},
			gguf.KV{Key: key(gguf.HyperValueLength), Value: u32(c.HeadDim())})
	}
	kvs = append(kvs,
		gguf.KV{Key: key(gguf.HyperRopeDimensionCount), Value: u32(c.HeadDim())},
		gguf.KV{Key: key(gguf.HyperRopeFreqBase), Value: gguf.Of(float32(c.RopeBase))},
		gguf.KV{Key: key(gguf.HyperRMSEpsilon), Value: gguf.Of(float32(c.NormEps))},
	)
	if rs := c.RopeScaling; rs.Type != "" {
		kvs = append(kvs,
			gguf.KV{Key: gguf.KeyDistillRopeScalingFactor, Value: gguf.Of(rs.Factor)},
			gguf.KV{Key: gguf.KeyDistillRopeScalingLowFreqFactor, Value: gguf.Of(rs.LowFreqFactor)},
			gguf.KV{Key: gguf.KeyDistillRopeScalingHighFreqFactor, Value: gguf.Of(rs.HighFreqFactor)},
			gguf.KV{Key: gguf.KeyDistillRopeScalingOriginalContext, Value: u32(rs.OriginalContext)})
	}
	v := &m.Vocab
	model := v.Model
	if model == "" {
		model = "gpt2"
	}
	spm := model == "llama" // SentencePiece: scores instead of merges, as llama.cpp's converter writes it
	if spm {
		kvs = append(kvs,
			gguf.KV{Key: gguf.KeyTokenizerModel, Value: gguf.Of(model)},
			gguf.KV{Key: gguf.KeyTokenizerTokens, Value: gguf.ArrayOf(v.Tokens)},
			gguf.KV{Key: gguf.KeyTokenizerScores, Value: gguf.ArrayOf(v.Scores)},
			gguf.KV{Key: gguf.KeyTokenizerTokenTypes, Value: gguf.ArrayOf(v.Types)},
		)
	} else {
		kvs = append(kvs,
			gguf.KV{Key: gguf.KeyTokenizerModel, Value: gguf.Of(model)},
			gguf.KV{Key: gguf.KeyTokenizerPre, Value: gguf.Of(v.Pre)},
			gguf.KV{Key: gguf.KeyTokenizerTokens, Value: gguf.ArrayOf(v.Tokens)},
			gguf.KV{Key: gguf.KeyTokenizerTokenTypes, Value: gguf.ArrayOf(v.Types)},
			gguf.KV{Key: gguf.KeyTokenizerMerges, Value: gguf.ArrayOf(v.Merges)},
		)
	}
	type specialID struct {
		key string
		id  int32
	}
	specials := []specialID{{gguf.KeyTokenizerBOS, v.BOS}, {gguf.KeyTokenizerEOS, v.EOS}, {gguf.KeyTokenizerEOT, v.EOT}, {gguf.KeyTokenizerPAD, v.PAD}}
	if spm {
		specials = append(specials, specialID{gguf.KeyTokenizerUNK, v.UNK})
	}
	for _, s := range specials {
		if s.id >= 0 {
			kvs = append(kvs, gguf.KV{Key: s.key, Value: gguf.Of(uint32(s.id))})
		}
	}
	kvs = append(kvs,
		gguf.KV{Key: gguf.KeyTokenizerAddBOS, Value: gguf.Of(v.AddBOS)},
		gguf.KV{Key: gguf.KeyTokenizerAddEOS, Value: gguf.Of(v.AddEOS)},
	)
	if spm && v.AddSpacePrefix != nil {
		kvs = append(kvs, gguf.KV{Key: gguf.KeyTokenizerAddSpacePrefix, Value: gguf.Of(*v.AddSpacePrefix)})
	}
	if v.ChatTemplate != "" {
		kvs = append(kvs, gguf.KV{Key: gguf.KeyChatTemplate, Value: gguf.Of(v.ChatTemplate)})
	}
	for _, kv := range m.Extra {
		if !strings.Contains(kv.Key, ".") {
			return nil, fmt.Errorf("export: extra key %q must be namespaced (e.g. distill.%s)", kv.Key, kv.Key)
		}
		kvs = append(kvs, kv)
	}
	// Last, quantization_version (GGML_QNT_VERSION, written for every file
	// type) before file_type: where llama-quantize puts them (it removes and
	// re-appends both), so a file exported here as type T is byte-identical
	// to llama-quantize's T of the F32 export.
	kvs = append(kvs,
		gguf.KV{Key: gguf.KeyQuantizationVersion, Value: gguf.Of(uint32(2))},
		gguf.KV{Key: gguf.KeyFileType, Value: gguf.Of(ft.GGUFFileType())})
	return kvs, nil
}

// tensorData is the float32 data of a planned tensor: the source weight,
// its Q/K heads reordered to rotate-half for NEOX architectures, or the
// Llama 3 RoPE frequency divisors.
func (m *Model) tensorData(p PlannedTensor) ([]float32, error) {
	if p.Name == RopeFreqsTensor {
		f := m.Config.RopeFreqFactors()
		out := make([]float32, len(f))
		for i, v := range f {
			out[i] = float32(v)
		}
		return out, nil
	}
	src := m.Tensors[p.Source]
	if p.PermuteHeads == 0 {
		return src, nil
	}
	hd := m.Config.HeadDim()
	out, err := student.InterleavedToRotateHalf(src, p.PermuteHeads, hd, len(src)/(p.PermuteHeads*hd))
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", p.Source, err)
	}
	return out, nil
}

// Write exports m to path (atomically) as file type opt.Type: the file
// llama-quantize makes of m's F32 export (metadata and tensors in its order).
func Write(path string, m *Model, opt Options) error {
	plan, notes, err := m.Plan(opt)
	if err != nil {
		return err
	}
	if opt.Warn != nil {
		for _, n := range notes {
			opt.Warn(n)
		}
	}
	kvs, err := m.metadata(opt.Type)
	if err != nil {
		return err
	}
	w := gguf.NewWriter()
	for _, kv := range kvs {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			return fmt.Errorf("export %s: %w", path, err)
		}
	}
	// In llama-quantize's tensor order, as Requantize writes them.
	slices.SortStableFunc(plan, func(a, b PlannedTensor) int { return CompareTensorNames(a.Name, b.Name) })
	var total int64
	for _, p := range plan {
		ti, err := w.AddTensor(p.Name, p.Type, p.Dims...)
		if err != nil {
			return fmt.Errorf("export %s: %w", path, err)
		}
		total += int64(ti.Size)
	}
	var done int64
	var buf []byte
	err = w.WriteFile(path, func(i int, info gguf.TensorInfo, out io.Writer) error {
		p := plan[i]
		if cap(buf) < int(info.Size) {
			buf = make([]byte, info.Size)
		}
		b := buf[:info.Size]
		src, err := m.tensorData(p)
		if err != nil {
			return err
		}
		if err := quant.QuantizeParallel(p.Type, b, src); err != nil {
			return fmt.Errorf("quantize %s as %s: %w", p.Source, p.Type, err)
		}
		if _, err := out.Write(b); err != nil {
			return err
		}
		done += int64(info.Size)
		if opt.Progress != nil {
			opt.Progress(done, total, p.Name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}
