package infer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/distill-ml/distill/model/infer/infertest"
)

// FuzzLoad mutates a small valid GGUF and checks that Load and a short
// evaluation never panic: a malformed file is an error naming what is wrong.
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed.gguf")
	sp := infertest.RandomSpec{VocabSize: 260, DModel: 32, NLayers: 1, NHeads: 2, NKVHeads: 1, FFNDim: 64,
		ContextLength: 16, RopeBase: 10000, NormEps: 1e-5, Sigma: 0.1, Seed: 1, Type: "Q8_0"}
	if err := infertest.WriteRandomModel(seed, sp); err != nil {
		f.Fatal(err)
	}
	raw, err := os.ReadFile(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw, uint32(8), byte(0xff))
	f.Add(raw, uint32(100), byte(0x00))
	f.Add(raw, uint32(len(raw)-40), byte(0x7f))
	f.Fuzz(func(t *testing.T, data []byte, pos uint32, val byte) {
		if len(data) == 0 {
			return
		}
		b := append([]byte(nil), data...)
		b[int(pos)%len(b)] = val
		path := filepath.Join(t.TempDir(), "m.gguf")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Load(path, Options{})
		if err != nil {
			return
		}
		defer m.Close()
		s := m.NewSession(8)
		_, _ = s.Eval([]int32{1, 2, 3})
		if tok, err := m.Tokenizer(); err == nil {
			_ = tok.Encode("hello world")
		}
	})
}
