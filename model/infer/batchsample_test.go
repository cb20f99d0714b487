package infer

import (
	"math"
	"testing"

	"github.com/distill-ml/distill/model/infer/infertest"
)

// Decoder.Step advances sequences at different positions together and each
// gets the logits a lone Eval of the same token gives it (up to the batch
// path's float order), for F32 and a quantized file; a session of another
// model, a duplicate or a full one is refused.
func TestDecoderStepMatchesLoneDecode(t *testing.T) {
	for _, typ := range []string{"F32", "Q8_0"} {
		t.Run(typ, func(t *testing.T) {
			sp := infertest.RandomSpec{VocabSize: 300, DModel: 64, NLayers: 3, NHeads: 4, NKVHeads: 2, FFNDim: 96, ContextLength: 64,
				RopeBase: 10000, NormEps: 1e-5, Sigma: 0.05, EmbedSigma: 1, Seed: 3, Type: typ}
			path := infertest.WriteTemp(t, "m.gguf", sp)
			m, err := Load(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			prompts := [][]int32{{5, 17, 200}, {9}, {1, 2, 3, 4, 5, 6, 7}}
			batch, lone := make([]*Session, len(prompts)), make([]*Session, len(prompts))
			for i, p := range prompts {
				batch[i], lone[i] = m.NewSession(32), m.NewSession(32)
				for _, s := range []*Session{batch[i], lone[i]} {
					if _, err := s.Eval(p); err != nil {
						t.Fatal(err)
					}
				}
			}
			dec := m.NewDecoder()
			V := sp.VocabSize
			for step := 0; step < 5; step++ {
				toks := []int32{int32(10 + step), int32(100 + step), int32(200 + step)}
				got, err := dec.Step(batch, toks)
				if err != nil {
					t.Fatal(err)
				}
				for i, s := range lone {
					want, err := s.Eval(toks[i : i+1])
					if err != nil {
						t.Fatal(err)
					}
					var maxDiff, maxAbs float64
					for j, w := range want {
						maxDiff = math.Max(maxDiff, math.Abs(float64(got[i*V+j]-w)))
						maxAbs = math.Max(maxAbs, math.Abs(float64(w)))
					}
					if maxDiff > 1e-4*maxAbs || Argmax(got[i*V:(i+1)*V]) != Argmax(want) {
						t.Fatalf("step %d sequence %d: max |Δlogit| %.3g of %.3g", step, i, maxDiff, maxAbs)
					}
					if batch[i].Pos() != s.Pos() {
						t.Fatalf("sequence %d at %d, lone at %d", i, batch[i].Pos(), s.Pos())
					}
				}
			}
			if _, err := dec.Step([]*Session{batch[0], batch[0]}, []int32{1, 2}); err == nil {
				t.Fatal("a session twice was accepted")
			}
			other, err := Load(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if _, err := dec.Step([]*Session{other.NewSession(8)}, []int32{1}); err == nil {
				t.Fatal("a session of another model was accepted")
			}
			full := m.NewSession(2)
			if _, err := full.Eval([]int32{1, 2}); err != nil {
				t.Fatal(err)
			}
			if _, err := dec.Step([]*Session{full}, []int32{3}); err == nil {
				t.Fatal("a full session was accepted")
			}
		})
	}
}
