// Package infertest writes random-weight llama GGUF files for tests and
// benchmarks of the inference runtime and everything that serves through
// it: WriteRandomModel (any shape and storage type, a consistent byte-level
// BPE vocabulary), WriteTemp (into a test's temporary directory), SmallSpec
// (the small model many tests share), PokeTensor and FillTensorF32 (damage
// a written model on purpose), RandomVocab and RandomRow. Only tests and benchmark
// commands import it.
package infertest

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/num/f16"
	"github.com/distill-ml/distill/num/kernels/qdot"
)

// SmallSpec is the small llama many tests serve: vocabulary 300, d 64, 2
// layers, 4 query and 2 KV heads, FFN 128, weights σ 0.1, embeddings σ 0.3,
// seed 3, of file type typ, declaring contextLength positions.
func SmallSpec(typ string, contextLength int) RandomSpec {
	return RandomSpec{VocabSize: 300, DModel: 64, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 128,
		ContextLength: contextLength, RopeBase: 10000, NormEps: 1e-5, Sigma: 0.1, EmbedSigma: 0.3, Seed: 3, Type: typ}
}

// TB is the part of testing.TB the helpers here use.
type TB interface {
	Helper()
	TempDir() string
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// WriteTemp writes the model of sp as name in a new temporary directory of
// tb and returns its path; an error fails tb.
func WriteTemp(tb TB, name string, sp RandomSpec) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := WriteRandomModel(path, sp); err != nil {
		tb.Fatal(err)
	}
	return path
}

// PokeTensor overwrites the bytes of tensor name from byte offset off on in
// the GGUF file at path with b: a test damaging a model on purpose.
func PokeTensor(tb TB, path, name string, off int64, b []byte) {
	tb.Helper()
	start, _ := tensorSpan(tb, path, name)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, start+off); err != nil {
		tb.Fatal(err)
	}
}

// FillTensorF32 sets every element of the F32 tensor name in the GGUF file
// at path to v.
func FillTensorF32(tb TB, path, name string, v float32) {
	tb.Helper()
	_, size := tensorSpan(tb, path, name)
	b := make([]byte, size)
	for i := 0; i+4 <= len(b); i += 4 {
		binary.LittleEndian.PutUint32(b[i:], math.Float32bits(v))
	}
	PokeTensor(tb, path, name, 0, b)
}

// tensorSpan is where tensor name's data starts in the GGUF file at path and
// its size in bytes.
func tensorSpan(tb TB, path, name string) (start, size int64) {
	tb.Helper()
	gf, err := gguf.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer gf.Close()
	ti, ok := gf.Tensor(name)
	if !ok {
		tb.Fatalf("no tensor %s", name)
	}
	return gf.DataOffset + int64(ti.Offset), int64(ti.Size)
}

// RandomSpec describes a random-weight llama GGUF for tests and benchmarks:
// weights are random codes in their storage type (no quantizer involved),
// scaled so every linear weight has standard deviation about Sigma.
type RandomSpec struct {
	VocabSize, DModel, NLayers, NHeads, NKVHeads, FFNDim, ContextLength int
	RopeBase                                                            float64
	NormEps                                                             float32
	Sigma                                                               float64
	EmbedSigma                                                          float64 // token_embd/output; 0 means Sigma
	Seed                                                                int64
	// Type is the file type: F32, F16, Q8_0, Q4_0, Q5_0, Q4_K, Q6_K, Q5_K, or
	// "Q4_K_M" (Q6_K for the embedding and for attn_v/ffn_down of the layers
	// llama.cpp gives more bits, Q4_K elsewhere). Rows whose length is not a
	// multiple of 256 fall back as llama-quantize does (Q4_K→Q5_0,
	// Q5_K→Q5_1 (not supported here: Q8_0), Q6_K→Q8_0), and rows that are not
	// a multiple of 32 fall back to F16.
	Type string
}

// MobileLLM125M is the MobileLLM-125M shape (30 layers, d 576, 9 heads, 3 KV
// heads, FFN 1536, vocabulary 32000, tied embeddings).
func MobileLLM125M() RandomSpec {
	return RandomSpec{VocabSize: 32000, DModel: 576, NLayers: 30, NHeads: 9, NKVHeads: 3, FFNDim: 1536,
		ContextLength: 2048, RopeBase: 10000, NormEps: 1e-5, Sigma: 0.05, Seed: 1, Type: "F32"}
}

// tensorType picks the storage type of a weight in a random model.
func (sp RandomSpec) tensorType(name string, layer, cols int) (qdot.Type, error) {
	fallback := func(t qdot.Type) qdot.Type {
		if t.BlockSize() > 1 && cols%qdot.QK != 0 {
			return qdot.F16 // not even a 32-element block fits (llama-quantize's last resort)
		}
		if t.BlockSize() == qdot.QKK && cols%qdot.QKK != 0 {
			switch t {
			case qdot.Q4_K:
				return qdot.Q5_0
			default:
				return qdot.Q8_0
			}
		}
		return t
	}
	if sp.Type == "Q4_K_M" {
		n := sp.NLayers
		moreBits := layer >= 0 && (layer < n/8 || layer >= 7*n/8 || (layer-n/8)%3 == 2)
		switch {
		case name == "token_embd.weight", name == "output.weight":
			return fallback(qdot.Q6_K), nil
		case (hasSuffix(name, "attn_v.weight") || hasSuffix(name, "ffn_down.weight")) && moreBits:
			return fallback(qdot.Q6_K), nil
		}
		return fallback(qdot.Q4_K), nil
	}
	qt, err := quant.ParseType(sp.Type)
	if err != nil || !qt.Supported() {
		return 0, fmt.Errorf("random model: unsupported type %q", sp.Type)
	}
	return fallback(qt), nil
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// FileType is general.file_type for the spec's Type (llama_ftype).
func (sp RandomSpec) fileType() uint32 {
	switch sp.Type {
	case "F32":
		return 0
	case "F16":
		return 1
	case "Q4_0":
		return 2
	case "Q8_0":
		return 7
	case "Q5_0":
		return 8
	case "Q4_K_M", "Q4_K":
		return 15
	case "Q5_K":
		return 17
	case "Q6_K":
		return 18
	}
	return 0
}

// RandomVocab is a consistent byte-level BPE vocabulary of n tokens: <s>,
// </s>, the 256 byte tokens (GPT-2 byte-to-unicode), then tokens made by
// merging pairs of printable ASCII tokens and then those with a third byte.
func RandomVocab(n int) (tokens []string, types []int32, merges []string, err error) {
	if n < 258+1 {
		return nil, nil, nil, fmt.Errorf("random vocab: size %d < 259", n)
	}
	tokens = append(tokens, "<s>", "</s>")
	types = append(types, tokenizer.TypeControl, tokenizer.TypeControl)
	for b := 0; b < 256; b++ {
		tokens = append(tokens, string(tokenizer.ByteLevelRune(byte(b))))
		types = append(types, tokenizer.TypeNormal)
	}
	// printable ASCII letters first so common text merges
	var alpha []string
	for _, c := range " etaoinshrdlucmfwypvbgkjqxzETAOINSHRDLUCMFWYPVBGKJQXZ.,0123456789" {
		alpha = append(alpha, string(tokenizer.ByteLevelRune(byte(c))))
	}
	var pairs []string
	for _, a := range alpha {
		for _, b := range alpha {
			if a == string(tokenizer.ByteLevelRune(' ')) && b == string(tokenizer.ByteLevelRune(' ')) {
				continue
			}
			pairs = append(pairs, a+" "+b)
		}
	}
	seen := map[string]bool{}
	for _, t := range tokens {
		seen[t] = true
	}
	add := func(left, right string) {
		if len(tokens) >= n || seen[left+right] {
			return
		}
		seen[left+right] = true
		tokens = append(tokens, left+right)
		types = append(types, tokenizer.TypeNormal)
		merges = append(merges, left+" "+right)
	}
	for _, p := range pairs {
		var l, r string
		fmt.Sscanf(p, "%s %s", &l, &r)
		add(l, r)
	}
	for i := 0; len(tokens) < n; i++ {
		if i >= len(pairs)*len(alpha) {
			return nil, nil, nil, fmt.Errorf("random vocab: cannot build %d tokens", n)
		}
		p := pairs[i/len(alpha)]
		var l, r string
		fmt.Sscanf(p, "%s %s", &l, &r)
		add(l+r, alpha[i%len(alpha)])
	}
	return tokens, types, merges, nil
}

// WriteRandomModel writes a random-weight llama GGUF that llama.cpp loads.
func WriteRandomModel(path string, sp RandomSpec) error {
	if sp.DModel%sp.NHeads != 0 || sp.NHeads%sp.NKVHeads != 0 {
		return fmt.Errorf("random model: bad head counts")
	}
	hd := sp.DModel / sp.NHeads
	w := gguf.NewWriter()
	tokens, types, merges, err := RandomVocab(sp.VocabSize)
	if err != nil {
		return err
	}
	kvs := []struct {
		k string
		v gguf.Value
	}{
		{gguf.KeyArchitecture, gguf.Of("llama")},
		{gguf.KeyName, gguf.Of("distill-random")},
		{gguf.KeyFileType, gguf.Of(sp.fileType())},
		{gguf.KeyLlamaContextLength, gguf.Of(uint32(sp.ContextLength))},
		{gguf.KeyLlamaEmbeddingLength, gguf.Of(uint32(sp.DModel))},
		{gguf.KeyLlamaBlockCount, gguf.Of(uint32(sp.NLayers))},
		{gguf.KeyLlamaFeedForwardLength, gguf.Of(uint32(sp.FFNDim))},
		{gguf.KeyLlamaHeadCount, gguf.Of(uint32(sp.NHeads))},
		{gguf.KeyLlamaHeadCountKV, gguf.Of(uint32(sp.NKVHeads))},
		{gguf.KeyLlamaRopeDimensionCount, gguf.Of(uint32(hd))},
		{gguf.KeyLlamaRopeFreqBase, gguf.Of(float32(sp.RopeBase))},
		{gguf.KeyLlamaRMSEpsilon, gguf.Of(sp.NormEps)},
		{gguf.KeyLlamaVocabSize, gguf.Of(uint32(sp.VocabSize))},
		{gguf.KeyTokenizerModel, gguf.Of("gpt2")},
		{gguf.KeyTokenizerPre, gguf.Of("gpt-2")},
		{gguf.KeyTokenizerTokens, gguf.ArrayOf(tokens)},
		{gguf.KeyTokenizerTokenTypes, gguf.ArrayOf(types)},
		{gguf.KeyTokenizerMerges, gguf.ArrayOf(merges)},
		{gguf.KeyTokenizerBOS, gguf.Of(uint32(0))},
		{gguf.KeyTokenizerEOS, gguf.Of(uint32(1))},
		{gguf.KeyTokenizerAddBOS, gguf.Of(false)},
	}
	for _, kv := range kvs {
		if err := w.Set(kv.k, kv.v); err != nil {
			return err
		}
	}
	type tensor struct {
		name       string
		typ        qdot.Type
		rows, cols int
		norm       bool
	}
	var ts []tensor
	addMat := func(name string, layer, rows, cols int) error {
		t, err := sp.tensorType(name, layer, cols)
		if err != nil {
			return err
		}
		ts = append(ts, tensor{name, t, rows, cols, false})
		return nil
	}
	if err := addMat("token_embd.weight", -1, sp.VocabSize, sp.DModel); err != nil {
		return err
	}
	for l := 0; l < sp.NLayers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ts = append(ts, tensor{p + "attn_norm.weight", qdot.F32, 1, sp.DModel, true})
		for _, m := range []struct {
			n          string
			rows, cols int
		}{
			{"attn_q.weight", sp.DModel, sp.DModel}, {"attn_k.weight", sp.NKVHeads * hd, sp.DModel},
			{"attn_v.weight", sp.NKVHeads * hd, sp.DModel}, {"attn_output.weight", sp.DModel, sp.DModel},
		} {
			if err := addMat(p+m.n, l, m.rows, m.cols); err != nil {
				return err
			}
		}
		ts = append(ts, tensor{p + "ffn_norm.weight", qdot.F32, 1, sp.DModel, true})
		for _, m := range []struct {
			n          string
			rows, cols int
		}{
			{"ffn_gate.weight", sp.FFNDim, sp.DModel}, {"ffn_up.weight", sp.FFNDim, sp.DModel}, {"ffn_down.weight", sp.DModel, sp.FFNDim},
		} {
			if err := addMat(p+m.n, l, m.rows, m.cols); err != nil {
				return err
			}
		}
	}
	ts = append(ts, tensor{"output_norm.weight", qdot.F32, 1, sp.DModel, true})
	for _, t := range ts {
		dims := []uint64{uint64(t.cols)}
		if !t.norm {
			dims = append(dims, uint64(t.rows))
		}
		if _, err := w.AddTensor(t.name, t.typ, dims...); err != nil {
			return err
		}
	}
	return w.WriteFile(path, func(i int, info gguf.TensorInfo, out io.Writer) error {
		t := ts[i]
		h := fnv.New64a()
		h.Write([]byte(t.name))
		rng := rand.New(rand.NewSource(sp.Seed ^ int64(h.Sum64())))
		if t.norm {
			buf := make([]byte, 4*t.cols)
			for j := 0; j < t.cols; j++ {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(float32(1+0.1*rng.NormFloat64())))
			}
			_, err := out.Write(buf)
			return err
		}
		rb, err := qdot.RowBytes(t.typ, t.cols)
		if err != nil {
			return err
		}
		row := make([]byte, rb)
		sigma := sp.Sigma
		if sp.EmbedSigma > 0 && (t.name == "token_embd.weight" || t.name == "output.weight") {
			sigma = sp.EmbedSigma
		}
		for r := 0; r < t.rows; r++ {
			RandomRow(rng, t.typ, t.cols, sigma, row)
			if _, err := out.Write(row); err != nil {
				return err
			}
		}
		return nil
	})
}

// RandomRow fills row (RowBytes(t, n) bytes) with random codes of type t
// whose dequantized values have standard deviation about sigma.
func RandomRow(rng *rand.Rand, t qdot.Type, n int, sigma float64, row []byte) {
	putHalf := func(b []byte, v float64) { binary.LittleEndian.PutUint16(b, f16.Float16(float32(v))) }
	rnd := func(p []byte) {
		for i := range p {
			p[i] = byte(rng.Intn(256))
		}
	}
	switch t {
	case qdot.F32:
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(row[4*i:], math.Float32bits(float32(sigma*rng.NormFloat64())))
		}
		return
	case qdot.F16:
		for i := 0; i < n; i++ {
			putHalf(row[2*i:], sigma*rng.NormFloat64())
		}
		return
	}
	bb := t.TypeSize()
	jitter := func() float64 { return 0.75 + 0.5*rng.Float64() }
	for off := 0; off+bb <= len(row); off += bb {
		b := row[off : off+bb]
		rnd(b)
		switch t {
		case qdot.Q8_0:
			for j := 2; j < bb; j++ {
				if b[j] == 0x80 {
					b[j] = 0x81
				}
			}
			putHalf(b, sigma/73*jitter())
		case qdot.Q4_0:
			putHalf(b, sigma/4.6*jitter())
		case qdot.Q5_0:
			putHalf(b, sigma/9.2*jitter())
		case qdot.Q4_K:
			d := sigma / 150 * jitter()
			putHalf(b, d)
			putHalf(b[2:], 7.5*d)
		case qdot.Q5_K:
			d := sigma / 300 * jitter()
			putHalf(b, d)
			putHalf(b[2:], 15.5*d)
		case qdot.Q6_K:
			putHalf(b[208:], sigma/1350*jitter())
		}
	}
}
