package infer

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/num/kernels"
	"github.com/distill-ml/distill/num/kernels/qdot"
	"github.com/distill-ml/distill/num/parallel"
)

// Options tune loading and execution.
type Options struct {
	// Pool runs every matrix product and the attention; nil means
	// parallel.Default() (GOMAXPROCS threads, shared with other kernels).
	Pool *parallel.Pool
	// NoMmap reads the weights into memory instead of mapping the file.
	NoMmap bool
	// HugePages copies the weights into anonymous memory advised for
	// transparent huge pages (madvise MADV_HUGEPAGE; 2 MiB pages where
	// /sys/kernel/mm/transparent_hugepage/enabled is "always" or
	// "madvise") and made read-only, instead of mapping the file, whose
	// page-cache pages are 4 KiB on most file systems: fewer TLB misses
	// while decode streams every weight. The copy is private to the
	// process (not shared through the page cache) and costs a full read
	// at load. Unix only; exclusive with NoMmap.
	HugePages bool
	// KVF32 keeps the KV cache in F32 (default F16, as llama.cpp).
	KVF32 bool
	// ExactPrompt keeps llama.cpp's arithmetic, float order included, for
	// prompt batches of any size: logits bit-identical to llama.cpp's. By
	// default batches of at least 32 tokens (8 for F32 weights) take the
	// fast path: the same operands (activations rounded to Q8_0/Q8_K or F16
	// as llama.cpp's dot products consume them; F16 attention queries and
	// probabilities) multiplied by dequantized 32-row weight tiles with the
	// packed SGEMM, 1.5–2.6× faster on long prompts; the products agree to
	// float32 summation noise, but a different summation order can move a
	// value across a rounding boundary, so logits are close to llama.cpp's
	// (KL ≤ 0.02 nats on the test model) rather than identical.
	ExactPrompt bool
	// Context caps every session's context length in tokens (llama.cpp's
	// n_ctx). 0 means the file's llama.context_length up to DefaultContext;
	// more than llama.context_length is an error. Sessions allocate their KV
	// cache as their sequence grows, but Load refuses a cap whose full KV
	// cache (for Sessions sessions) and weights do not fit in memory.
	Context int
	// Sessions is how many sessions may hold a full cache at once (a
	// server's parallel requests) for the memory check; 0 means 1.
	Sessions int
	// MemoryLimit is the memory in bytes the weights and KV caches may use;
	// 0 means what the system reports available (/proc/meminfo
	// MemAvailable), and no check where it reports nothing.
	MemoryLimit int64
}

// Hyper is the architecture read from the <arch>.* keys of a GGUF file.
type Hyper struct {
	Arch          string  // general.architecture: llama, qwen2 or qwen3
	VocabSize     int     // rows of token_embd
	DModel        int     // llama.embedding_length
	NLayers       int     // llama.block_count
	NHeads        int     // llama.attention.head_count
	NKVHeads      int     // llama.attention.head_count_kv (default NHeads)
	HeadDim       int     // <arch>.attention.key_length (default DModel / NHeads)
	FFNDim        int     // llama.feed_forward_length
	ContextLength int     // llama.context_length (what the model was trained for; sessions are capped by Model.ContextLength)
	RopeDim       int     // llama.rope.dimension_count (default HeadDim)
	RopeBase      float64 // llama.rope.freq_base (default 10000)
	NormEps       float32 // llama.attention.layer_norm_rms_epsilon
	TiedOutput    bool    // no output.weight: the LM head is token_embd
	// Neox: RoPE rotates pairs (i, i+RopeDim/2) of a head (qwen2, qwen3;
	// llama.cpp's LLAMA_ROPE_TYPE_NEOX) instead of (2i, 2i+1).
	Neox bool
	// RopeFreqFactors divides the angle of each pair (rope_freqs.weight,
	// Llama 3 scaling) [RopeDim/2]; nil means none.
	RopeFreqFactors []float32
}

// supportedArchs are the general.architecture values Load reads.
var supportedArchs = []string{"llama", "qwen2", "qwen3"}

// maxDim bounds every hyperparameter read from a file before it sizes an allocation.
const maxDim = 1 << 24

type block struct {
	attnNorm, ffnNorm []float32   // [d]
	wq                qdot.Matrix // [nHeads·hd, d]
	wk, wv            qdot.Matrix // [nKV·hd, d]
	wo                qdot.Matrix // [d, nHeads·hd]
	wGate, wUp        qdot.Matrix // [ffn, d]
	wDown             qdot.Matrix // [d, ffn]
	bq, bk, bv        []float32   // Q/K/V biases (qwen2), nil otherwise
	qNorm, kNorm      []float32   // per-head RMSNorm weights [hd] (qwen3), nil otherwise
}

// Model is a loaded GGUF model. It is safe for concurrent use by several
// Sessions (weights are read-only).
type Model struct {
	Hyper Hyper
	// Types counts tensors per storage type, e.g. {"Q4_K": 96, "F32": 61}.
	Types map[string]int

	path    string
	file    *gguf.File
	data    []byte // the mapped (or read) file
	unmap   func() error
	pool    *parallel.Pool
	ctxCap  int // sessions' context length: Options.Context or its default
	kvF32   bool
	exact   bool
	tileEng *kernels.Engine // single-threaded GEMMs: prompt weight tiles, attention heads
	tokEmbd qdot.Matrix     // [vocab, d]
	output  qdot.Matrix     // [vocab, d] (== tokEmbd when tied)
	outNorm []float32       // [d]
	blocks  []block

	vocab *vocab // tokenizer metadata (may be nil when the file has none)
}

// Load opens a llama-architecture GGUF file. Weights stay in their stored
// types; the file is memory-mapped unless opts.NoMmap or opts.HugePages.
func Load(path string, opts Options) (*Model, error) {
	gf, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	m := &Model{path: path, file: gf, pool: opts.Pool, kvF32: opts.KVF32, Types: map[string]int{}}
	if m.pool == nil {
		m.pool = parallel.Default()
	}
	m.tileEng = kernels.NewEngine(parallel.New(1))
	m.exact = opts.ExactPrompt
	if err := m.load(opts); err != nil {
		m.Close()
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return m, nil
}

// Close releases the mapping. The Model and its Sessions must not be used after.
func (m *Model) Close() error {
	var errs []error
	if m.unmap != nil {
		errs = append(errs, m.unmap())
		m.unmap = nil
	}
	if m.file != nil {
		errs = append(errs, m.file.Close())
		m.file = nil
	}
	m.data = nil
	return errors.Join(errs...)
}

// Path is the file the model was loaded from.
func (m *Model) Path() string { return m.path }

func (m *Model) load(opts Options) error {
	gf := m.file
	arch, err := gf.String(gguf.KeyArchitecture)
	if err != nil {
		return err
	}
	if !slices.Contains(supportedArchs, arch) {
		return fmt.Errorf("general.architecture is %q; supported: %s", arch, strings.Join(supportedArchs, ", "))
	}
	m.Hyper.Arch, m.Hyper.Neox = arch, arch != "llama"
	if err := m.readHyper(); err != nil {
		return err
	}
	if err := m.planMemory(opts); err != nil { // before the weights are read
		return err
	}
	if err := m.mapData(opts); err != nil {
		return err
	}
	h := &m.Hyper
	if m.tokEmbd, err = m.matrix("token_embd.weight", -1, h.DModel); err != nil {
		return err
	}
	h.VocabSize = m.tokEmbd.Rows
	if h.VocabSize > maxDim {
		return fmt.Errorf("tensor token_embd.weight: vocabulary %d exceeds the limit %d", h.VocabSize, maxDim)
	}
	if _, ok := gf.Tensor("output.weight"); ok {
		if m.output, err = m.matrix("output.weight", h.VocabSize, h.DModel); err != nil {
			return err
		}
	} else {
		m.output, h.TiedOutput = m.tokEmbd, true
	}
	if m.outNorm, err = m.vector("output_norm.weight", h.DModel); err != nil {
		return err
	}
	q, kv := h.NHeads*h.HeadDim, h.NKVHeads*h.HeadDim
	m.blocks = make([]block, h.NLayers)
	for i := range m.blocks {
		b := &m.blocks[i]
		name := func(s string) string { return fmt.Sprintf("blk.%d.%s.weight", i, s) }
		var errs []error
		add := func(e error) { errs = append(errs, e) }
		var e error
		b.attnNorm, e = m.vector(name("attn_norm"), h.DModel)
		add(e)
		b.ffnNorm, e = m.vector(name("ffn_norm"), h.DModel)
		add(e)
		b.wq, e = m.matrix(name("attn_q"), q, h.DModel)
		add(e)
		b.wk, e = m.matrix(name("attn_k"), kv, h.DModel)
		add(e)
		b.wv, e = m.matrix(name("attn_v"), kv, h.DModel)
		add(e)
		b.wo, e = m.matrix(name("attn_output"), h.DModel, q)
		add(e)
		b.wGate, e = m.matrix(name("ffn_gate"), h.FFNDim, h.DModel)
		add(e)
		b.wUp, e = m.matrix(name("ffn_up"), h.FFNDim, h.DModel)
		add(e)
		b.wDown, e = m.matrix(name("ffn_down"), h.DModel, h.FFNDim)
		add(e)
		optional := func(tensor string, n int) []float32 {
			if _, ok := gf.Tensor(fmt.Sprintf("blk.%d.%s", i, tensor)); !ok {
				return nil
			}
			v, e := m.vector(fmt.Sprintf("blk.%d.%s", i, tensor), n)
			add(e)
			return v
		}
		b.bq, b.bk, b.bv = optional("attn_q.bias", q), optional("attn_k.bias", kv), optional("attn_v.bias", kv)
		b.qNorm, b.kNorm = optional("attn_q_norm.weight", h.HeadDim), optional("attn_k_norm.weight", h.HeadDim)
		if (b.bq == nil) != (b.bk == nil) || (b.bq == nil) != (b.bv == nil) || (b.qNorm == nil) != (b.kNorm == nil) {
			add(fmt.Errorf("block %d: Q/K/V biases and q/k norms must come as complete sets", i))
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	if _, ok := gf.Tensor("rope_freqs.weight"); ok {
		if h.RopeFreqFactors, err = m.vector("rope_freqs.weight", h.RopeDim/2); err != nil {
			return err
		}
	}
	if err := m.checkFinite(); err != nil {
		return err
	}
	v, err := readVocab(gf, h.VocabSize)
	if err != nil {
		return err
	}
	m.vocab = v
	return nil
}

func (m *Model) readHyper() error {
	gf := m.file
	h := &m.Hyper
	geti := func(key string, dst *int, def int) error {
		u, err := gf.Uint(key)
		if err != nil {
			if _, ok := gf.KV(key); !ok && def >= 0 {
				*dst = def
				return nil
			}
			return err
		}
		if u == 0 || u > maxDim {
			return fmt.Errorf("key %s = %d out of range [1, %d]", key, u, maxDim)
		}
		*dst = int(u)
		return nil
	}
	key := func(name string) string { return gguf.ArchKey(h.Arch, name) }
	if err := errors.Join(
		geti(key(gguf.HyperEmbeddingLength), &h.DModel, -1),
		geti(key(gguf.HyperBlockCount), &h.NLayers, -1),
		geti(key(gguf.HyperHeadCount), &h.NHeads, -1),
		geti(key(gguf.HyperFeedForwardLength), &h.FFNDim, -1),
		geti(key(gguf.HyperContextLength), &h.ContextLength, -1),
	); err != nil {
		return err
	}
	if err := geti(key(gguf.HyperHeadCountKV), &h.NKVHeads, h.NHeads); err != nil {
		return err
	}
	if err := geti(key(gguf.HyperKeyLength), &h.HeadDim, 0); err != nil {
		return err
	}
	if h.HeadDim == 0 && h.DModel%h.NHeads != 0 {
		return fmt.Errorf("%s %d is not divisible by %s %d", key(gguf.HyperEmbeddingLength), h.DModel, key(gguf.HyperHeadCount), h.NHeads)
	}
	if h.NHeads%h.NKVHeads != 0 {
		return fmt.Errorf("%s %d is not divisible by %s %d", key(gguf.HyperHeadCount), h.NHeads, key(gguf.HyperHeadCountKV), h.NKVHeads)
	}
	if h.HeadDim == 0 {
		h.HeadDim = h.DModel / h.NHeads
	}
	if vl := 0; geti(key(gguf.HyperValueLength), &vl, h.HeadDim) != nil || vl != h.HeadDim {
		return fmt.Errorf("%s must equal the key length %d", key(gguf.HyperValueLength), h.HeadDim)
	}
	if err := geti(key(gguf.HyperRopeDimensionCount), &h.RopeDim, h.HeadDim); err != nil {
		return err
	}
	if h.RopeDim > h.HeadDim || h.RopeDim%2 != 0 {
		return fmt.Errorf("%s %d must be even and at most the head size %d", key(gguf.HyperRopeDimensionCount), h.RopeDim, h.HeadDim)
	}
	h.RopeBase = 10000
	if _, ok := gf.KV(key(gguf.HyperRopeFreqBase)); ok {
		b, err := gf.Float(key(gguf.HyperRopeFreqBase))
		if err != nil {
			return err
		}
		if !(b > 1) || math.IsInf(b, 0) {
			return fmt.Errorf("%s = %g must be a finite number > 1", key(gguf.HyperRopeFreqBase), b)
		}
		h.RopeBase = b
	}
	eps, err := gf.Float(key(gguf.HyperRMSEpsilon))
	if err != nil {
		return err
	}
	if !(eps > 0 && eps < 1) {
		return fmt.Errorf("%s = %g out of range (0, 1)", key(gguf.HyperRMSEpsilon), eps)
	}
	h.NormEps = float32(eps)
	return nil
}

// mapData maps (or reads) the file and checks the data section bounds.
func (m *Model) mapData(opts Options) error {
	if opts.NoMmap && opts.HugePages {
		return errors.New("options NoMmap and HugePages are exclusive (HugePages already copies the weights instead of mapping the file)")
	}
	f, err := os.Open(m.path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != m.file.Size {
		return fmt.Errorf("file changed size while loading (%d → %d bytes)", m.file.Size, st.Size())
	}
	if opts.HugePages {
		b, unmap, err := copyToHugePages(f, st.Size())
		if err != nil {
			return fmt.Errorf("HugePages: %w", err)
		}
		m.data, m.unmap = b, unmap
		return nil
	}
	if !opts.NoMmap {
		if b, unmap, err := mapFile(f, st.Size()); err == nil {
			m.data, m.unmap = b, unmap
			return nil
		}
	}
	// Read only the data section: the header is already parsed.
	buf := make([]byte, st.Size()) // bounded by the file size
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, st.Size()), buf); err != nil {
		return fmt.Errorf("read weights: %w", err)
	}
	m.data = buf
	return nil
}

// tensorBytes returns the data of a tensor and checks its type and dims.
// rows < 0 accepts any row count.
func (m *Model) tensorBytes(name string, rows, cols int) (gguf.TensorInfo, []byte, error) {
	ti, ok := m.file.Tensor(name)
	if !ok {
		return ti, nil, fmt.Errorf("missing tensor %s", name)
	}
	t := ti.Type
	if !t.Supported() {
		return ti, nil, fmt.Errorf("tensor %s: type %s is not supported by the runtime (supported: F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS)", name, ti.Type)
	}
	want := []uint64{uint64(cols)}
	if rows != 0 {
		want = append(want, uint64(rows))
	}
	if len(ti.Dims) != len(want) || ti.Dims[0] != want[0] || (rows > 0 && ti.Dims[1] != want[1]) {
		return ti, nil, fmt.Errorf("tensor %s: dims %v, want %v (ggml order, row length first)", name, ti.Dims, want)
	}
	if rows < 0 && (ti.Dims[1] == 0 || ti.Dims[1] > maxDim) {
		return ti, nil, fmt.Errorf("tensor %s: %d rows out of range [1, %d]", name, ti.Dims[1], maxDim)
	}
	start := uint64(m.file.DataOffset) + ti.Offset
	end := start + ti.Size
	if start < uint64(m.file.DataOffset) || end < start || end > uint64(len(m.data)) {
		return ti, nil, fmt.Errorf("tensor %s: data [%d, %d) outside the file (%d bytes)", name, start, end, len(m.data))
	}
	m.Types[ti.Type.String()]++
	return ti, m.data[start:end:end], nil
}

func (m *Model) matrix(name string, rows, cols int) (qdot.Matrix, error) {
	ti, b, err := m.tensorBytes(name, rows, cols)
	if err != nil {
		return qdot.Matrix{}, err
	}
	mat, err := qdot.NewMatrix(ti.Type, int(ti.Dims[1]), int(ti.Dims[0]), b)
	if err != nil {
		return qdot.Matrix{}, fmt.Errorf("tensor %s: %w", name, err)
	}
	return mat, nil
}

// vector reads a 1-D tensor (a norm weight) as float32.
func (m *Model) vector(name string, n int) ([]float32, error) {
	ti, b, err := m.tensorBytes(name, 0, n)
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	if err := qdot.DequantizeRow(ti.Type, out, b, n); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	return out, nil
}
