package export

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/model/student"
)

// cfgK has widths that are multiples of 256 (k-quants apply everywhere);
// cfgOdd has width 96 and FFN 168 (k-quants fall back; ffn_down rows of 168
// are not a multiple of 32 either, so they fall back to F16) and shares blocks,
// with an untied output.
var (
	cfgK = student.Config{VocabSize: 320, DModel: 256, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 512,
		ContextLength: 128, RopeBase: 10000, NormEps: 1e-5}
	cfgOdd = student.Config{VocabSize: 300, DModel: 96, NLayers: 2, NHeads: 3, NKVHeads: 1, FFNDim: 168,
		ContextLength: 64, RopeBase: 500000, NormEps: 1e-6, ShareBlocks: true, UntieEmbed: true}
)

func randomModel(t testing.TB, cfg student.Config) *Model {
	t.Helper()
	m, err := RandomModel(cfg, 42)
	if err != nil {
		t.Fatal(err)
	}
	m.Name, m.Version, m.Description = "test-student", "1.2.3", "random weights"
	m.Extra = []gguf.KV{{Key: "distill.tokenizer_hash", Value: gguf.Of("abc123")}}
	return m
}

func TestUseMoreBitsMatchesLlamaCpp(t *testing.T) {
	// llama.cpp: i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2.
	want := map[int][]int{
		8:  {0, 3, 6, 7},
		2:  {1},
		30: {0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29},
	}
	for n, layers := range want {
		var got []int
		for i := 0; i < n; i++ {
			if useMoreBits(i, n) {
				got = append(got, i)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(layers) {
			t.Errorf("n=%d: %v, want %v", n, got, layers)
		}
	}
}

func TestTensorTypeQ4KM(t *testing.T) {
	d := func(n ...uint64) []uint64 { return n }
	cases := []struct {
		name string
		dims []uint64
		tied bool
		want quant.Type
	}{
		{"blk.0.attn_norm.weight", d(256), true, quant.F32},
		{"token_embd.weight", d(256, 320), true, quant.Q6_K},  // tied: quantized as the output
		{"token_embd.weight", d(256, 320), false, quant.Q4_K}, // untied: plain
		{"output.weight", d(256, 320), false, quant.Q6_K},
		{"output.weight", d(576, 320), false, quant.Q8_0}, // rows not a multiple of 256
		{"token_embd.weight", d(576, 320), true, quant.Q8_0},
		{"token_embd.weight", d(576, 320), false, quant.Q5_0}, // Q4_K fallback
		{"blk.0.attn_v.weight", d(256, 128), true, quant.Q6_K},
		{"blk.3.attn_v.weight", d(256, 128), true, quant.Q6_K},
		{"blk.4.attn_v.weight", d(256, 128), true, quant.Q4_K},
		{"blk.4.ffn_down.weight", d(512, 256), true, quant.Q4_K},
		{"blk.6.ffn_down.weight", d(512, 256), true, quant.Q6_K},
		{"blk.6.ffn_down.weight", d(1536, 576), true, quant.Q6_K},
		{"blk.6.ffn_down.weight", d(160, 96), true, quant.Q8_0}, // Q6_K fallback
		{"blk.4.attn_q.weight", d(576, 576), true, quant.Q5_0},
		{"blk.4.attn_q.weight", d(48, 48), true, quant.F16}, // not even a multiple of 32
	}
	for _, c := range cases {
		if got := (Mix{Type: quant.FileQ4_K_M, NLayers: 8, Tied: c.tied, GQA: 1}).TensorType(c.name, c.dims); got != c.want {
			t.Errorf("%s %v tied=%v: %s, want %s", c.name, c.dims, c.tied, got, c.want)
		}
	}
	if got := (Mix{Type: quant.FileQ6_K, NLayers: 8, Tied: true}).TensorType("blk.0.attn_q.weight", d(96, 96)); got != quant.Q8_0 {
		t.Errorf("pure q6_k fallback: %s", got)
	}
	if got := (Mix{Type: quant.FileQ5_K_M, Pure: true, NLayers: 8, Tied: true}).TensorType("blk.0.attn_q.weight", d(96, 96)); got != quant.Q5_1 {
		t.Errorf("pure q5_k fallback: %s", got)
	}
	if got := (Mix{Type: quant.FileF16, NLayers: 8, Tied: true}).TensorType("blk.0.ffn_norm.weight", d(96)); got != quant.F32 {
		t.Errorf("f16 norm: %s", got)
	}
}

// tolerance is the max abs error per type for σ=0.02 weights (norms ~1).
func tolerance(t quant.Type, norm bool) float64 {
	scale := 0.02 * 4.5
	if norm {
		scale = 1.5
	}
	switch t {
	case quant.F32:
		return 0
	case quant.F16:
		return scale / 1024
	case quant.Q8_0:
		return scale / 100
	case quant.Q6_K:
		return scale / 20
	case quant.Q5_0, quant.Q5_1, quant.Q5_K:
		return scale / 10
	case quant.Q2_K: // four levels per 16 weights: up to ~half a step of ~range/3
		return scale / 2.5
	}
	return scale / 5
}

func TestExportRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, cfg := range []student.Config{cfgK, cfgOdd} {
		m := randomModel(t, cfg)
		for _, ftName := range quant.FileTypeNames() {
			ft, _ := quant.ParseFileType(ftName)
			path := filepath.Join(dir, fmt.Sprintf("m%d-%s.gguf", cfg.DModel, ftName))
			var notes []string
			var lastDone, lastTotal int64
			err := Write(path, m, Options{Type: ft, Warn: func(s string) { notes = append(notes, s) },
				Progress: func(done, total int64, _ string) { lastDone, lastTotal = done, total }})
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if lastDone != lastTotal || lastTotal == 0 {
				t.Errorf("%s: progress ended at %d/%d", ftName, lastDone, lastTotal)
			}
			checkExport(t, path, m, ft)
		}
	}
}

func checkExport(t *testing.T, path string, m *Model, ft quant.FileType) {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := m.Config
	u := func(k string) uint64 {
		v, err := f.Uint(k)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for k, want := range map[string]int{
		"llama.context_length": c.ContextLength, "llama.embedding_length": c.DModel,
		"llama.block_count": c.AppliedLayers(), "llama.feed_forward_length": c.FFNDim,
		"llama.attention.head_count": c.NHeads, "llama.attention.head_count_kv": c.NKVHeads,
		"llama.rope.dimension_count": c.HeadDim(), "general.file_type": int(ft.GGUFFileType()),
		"tokenizer.ggml.bos_token_id": int(m.Vocab.BOS), "tokenizer.ggml.eos_token_id": int(m.Vocab.EOS),
	} {
		if got := u(k); got != uint64(want) {
			t.Errorf("%s = %d, want %d", k, got, want)
		}
		if _, err := f.Uint32(k); err != nil {
			t.Errorf("%s must be u32: %v", k, err)
		}
	}
	if eps, err := f.Float32("llama.attention.layer_norm_rms_epsilon"); err != nil || eps != float32(c.NormEps) {
		t.Errorf("rms eps %v %v", eps, err)
	}
	if s, _ := f.String("general.architecture"); s != "llama" {
		t.Errorf("architecture %q", s)
	}
	if s, _ := f.String("distill.tokenizer_hash"); s != "abc123" {
		t.Errorf("extra key %q", s)
	}
	toks, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil || len(toks) != c.VocabSize || toks[65] != "A" || toks[32] != "Ġ" || toks[256] != "Ġe" {
		t.Errorf("tokens: %d %v", len(toks), err)
	}
	if qv, err := f.Uint32("general.quantization_version"); err != nil || qv != 2 {
		t.Errorf("quantization_version %d %v", qv, err)
	}
	_, hasOut := f.Tensor("output.weight")
	if hasOut != c.UntieEmbed {
		t.Errorf("output.weight present=%v, untied=%v", hasOut, c.UntieEmbed)
	}
	wantN := 2 + 9*c.AppliedLayers()
	if c.UntieEmbed {
		wantN++
	}
	if len(f.Tensors) != wantN {
		t.Fatalf("%d tensors, want %d", len(f.Tensors), wantN)
	}
	for _, ti := range f.Tensors {
		src := ti.Name
		if l, ok := layerOf(ti.Name); ok && c.ShareBlocks {
			src = strings.Replace(ti.Name, fmt.Sprintf("blk.%d.", l), fmt.Sprintf("blk.%d.", l/2), 1)
		}
		want := m.Tensors[src]
		norm := len(ti.Dims) == 1
		if norm && ti.Type != quant.F32 {
			t.Errorf("%s: norm stored as %s", ti.Name, ti.Type)
		}
		if want == nil || ti.Elements() != uint64(len(want)) {
			t.Fatalf("%s: %d elements, source %q has %d", ti.Name, ti.Elements(), src, len(want))
		}
		if !norm && ti.Dims[1]*ti.Dims[0] != uint64(len(want)) {
			t.Fatalf("%s: dims %v", ti.Name, ti.Dims)
		}
		data, err := f.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(want))
		if err := quant.Dequantize(ti.Type, got, data); err != nil {
			t.Fatal(err)
		}
		tol := tolerance(ti.Type, norm)
		for i := range got {
			if e := math.Abs(float64(got[i] - want[i])); e > tol {
				t.Fatalf("%s (%s, %s): element %d = %g, source %g (tolerance %g)", path, ti.Name, ti.Type, i, got[i], want[i], tol)
			}
		}
	}
	if c.ShareBlocks {
		a, _ := f.TensorData("blk.2.attn_q.weight")
		b, _ := f.TensorData("blk.3.attn_q.weight")
		d, _ := f.TensorData("blk.1.attn_q.weight")
		if !bytes.Equal(a, b) || bytes.Equal(a, d) {
			t.Errorf("shared block 1 not repeated as blk.2/blk.3 (or blk.1 equals blk.2)")
		}
	}
}

func TestExportRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.gguf")
	cases := map[string]func(m *Model){
		"NaN weight":       func(m *Model) { m.Tensors["blk.1.ffn_up.weight"][77] = float32(math.NaN()) },
		"Inf weight":       func(m *Model) { m.Tensors["token_embd.weight"][0] = float32(math.Inf(-1)) },
		"missing tensor":   func(m *Model) { delete(m.Tensors, "blk.0.attn_k.weight") },
		"short tensor":     func(m *Model) { m.Tensors["output_norm.weight"] = m.Tensors["output_norm.weight"][:10] },
		"vocab size":       func(m *Model) { m.Vocab.Tokens = m.Vocab.Tokens[:100] },
		"bad merge":        func(m *Model) { m.Vocab.Merges[3] = "nospace" },
		"no pre":           func(m *Model) { m.Vocab.Pre = "" },
		"bos out of range": func(m *Model) { m.Vocab.BOS = 5000 },
		"no name":          func(m *Model) { m.Name = "" },
		"bad config":       func(m *Model) { m.Config.NHeads = 5 },
		"extra key":        func(m *Model) { m.Extra = append(m.Extra, gguf.KV{Key: "nonamespace", Value: gguf.Of("x")}) },
	}
	for name, mutate := range cases {
		m := randomModel(t, cfgK)
		mutate(m)
		if err := Write(path, m, Options{Type: quant.FileQ8_0}); err == nil {
			t.Errorf("%s: accepted", name)
		} else if _, serr := os.Stat(path); serr == nil {
			t.Errorf("%s: failed export left %s", name, path)
		}
	}
	// Trainer-only tensors are ignored with a note, not an error.
	m := randomModel(t, cfgK)
	m.Tensors["distill.hidden_proj.0"] = make([]float32, 4)
	var notes []string
	if err := Write(path, m, Options{Type: quant.FileF32, Warn: func(s string) { notes = append(notes, s) }}); err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "distill.hidden_proj.0") {
		t.Errorf("notes %q", notes)
	}
}

// Requantizing an F32 export gives the same bytes as exporting directly, and
// an F16 source gives the bytes of quantizing the F16-rounded weights.
func TestRequantizeMatchesDirectExport(t *testing.T) {
	dir := t.TempDir()
	for _, cfg := range []student.Config{cfgK, cfgOdd} {
		m := randomModel(t, cfg)
		f32 := filepath.Join(dir, "f32.gguf")
		f16 := filepath.Join(dir, "f16.gguf")
		if err := Write(f32, m, Options{Type: quant.FileF32}); err != nil {
			t.Fatal(err)
		}
		if err := Write(f16, m, Options{Type: quant.FileF16}); err != nil {
			t.Fatal(err)
		}
		rounded := *m
		rounded.Tensors = map[string][]float32{}
		for name, x := range m.Tensors {
			y := make([]float32, len(x))
			if len(shapes(cfg)[name]) == 2 { // matrices went through F16
				q := make([]byte, 2*len(x))
				quant.Quantize(quant.F16, q, x)
				quant.Dequantize(quant.F16, y, q)
			} else {
				copy(y, x)
			}
			rounded.Tensors[name] = y
		}
		for _, ft := range []quant.FileType{quant.FileQ4_K_M, quant.FileQ8_0, quant.FileQ6_K} {
			direct := filepath.Join(dir, "direct.gguf")
			if err := Write(direct, m, Options{Type: ft}); err != nil {
				t.Fatal(err)
			}
			re := filepath.Join(dir, "re.gguf")
			if err := Requantize(f32, re, ft, Options{}); err != nil {
				t.Fatal(err)
			}
			if !sameFile(t, direct, re) {
				t.Errorf("d=%d %s: requantized quant.FileF32 file differs from the direct export", cfg.DModel, ft)
			}
			if err := Write(direct, &rounded, Options{Type: ft}); err != nil {
				t.Fatal(err)
			}
			if err := Requantize(f16, re, ft, Options{}); err != nil {
				t.Fatal(err)
			}
			if !sameFile(t, direct, re) {
				t.Errorf("d=%d %s: requantized quant.FileF16 file differs from exporting the quant.FileF16-rounded weights", cfg.DModel, ft)
			}
		}
	}
	// A quantized source is refused unless types stay the same.
	m := randomModel(t, cfgK)
	q4 := filepath.Join(dir, "q4.gguf")
	if err := Write(q4, m, Options{Type: quant.FileQ4_K_M, Pure: true}); err != nil {
		t.Fatal(err)
	}
	if err := Requantize(q4, filepath.Join(dir, "x.gguf"), quant.FileQ8_0, Options{}); err == nil || !strings.Contains(err.Error(), "already Q4_K") {
		t.Errorf("requantizing pure q4_k_m → q8_0: %v", err)
	}
}

func sameFile(t *testing.T, a, b string) bool {
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}
