package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/distill-ml/distill/num/parallel"
)

// TestPromptAttentionMatchesPerToken: the batched prompt attention (two
// SGEMMs per head) and the per-(token, head) attention agree on random
// queries and caches, for F32 and F16 caches, prompts that start at position
// 0 and after cached tokens, and block sizes that do and do not divide the
// batch. With an F16 cache both round the queries and the probabilities to
// F16 (as llama.cpp does); a last-bit difference in a probability
// occasionally lands on the other side of an F16 rounding boundary (one F16
// ulp, 5e-4 relative), hence the looser tolerance there.
func TestPromptAttentionMatchesPerToken(t *testing.T) {
	path := writeTiny(t, "F32")
	for _, kvF32 := range []bool{true, false} {
		m, err := Load(path, Options{KVF32: kvF32, Pool: parallel.New(2)})
		if err != nil {
			t.Fatal(err)
		}
		hp := m.Hyper
		tol := 1e-5
		if !kvF32 {
			tol = 2e-3
		}
		for _, c := range []struct{ base, n int }{{0, 32}, {0, 100}, {17, 64}, {150, 65}} {
			t.Run(fmt.Sprintf("kvF32=%v/base=%d/n=%d", kvF32, c.base, c.n), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(c.base), uint64(c.n)))
				s := m.NewSession(256)
				s.ensureScratch(c.n)
				s.growKV(c.base + c.n) // forward's job, skipped here
				kvDim := s.kvDim
				k := make([]float32, kvDim)
				v := make([]float32, kvDim)
				for l := range hp.NLayers {
					for p := 0; p < c.base+c.n; p++ {
						for i := range k {
							k[i] = float32(rng.NormFloat64() * 2)
							v[i] = float32(rng.NormFloat64())
						}
						s.storeKV(l, p, k, v)
					}
				}
				s.pos = c.base
				qDim := hp.NHeads * hp.HeadDim
				q := make([]float32, c.n*qDim)
				for i := range q {
					q[i] = float32(rng.NormFloat64() * 2)
				}
				for l := range hp.NLayers {
					want := make([]float32, c.n*qDim)
					got := make([]float32, c.n*qDim)
					s.attention(l, q, want, c.n)
					s.promptAttention(l, q, got, c.n)
					d, scale := maxAbsDiff(got, want)
					if d > tol*scale || math.IsNaN(d) {
						t.Fatalf("layer %d: max |Δ| %.3g of scale %.3g (tolerance %g relative)", l, d, scale, tol)
					}
				}
			})
		}
		m.Close()
	}
}

// TestPromptPathMatchesTokenByToken: evaluating a long prompt in one batch
// (SGEMM + batched attention) gives the same last-position logits as feeding
// it one token at a time (row dot products + per-token attention) for float
// weights. (For quantized weights both paths form the same products, see
// TestFastPromptProductsMatchExact, but a last-bit difference that moves an
// activation across an 8-bit rounding boundary changes it by a whole
// quantization step, and later layers carry that on: TestAgreesWithLlamaCpp
// bounds the end result.)
func TestPromptPathMatchesTokenByToken(t *testing.T) {
	for _, typ := range []string{"F32", "F16"} {
		t.Run(typ, func(t *testing.T) {
			// An F32 cache, so that only the products differ (the F16
			// cache path of per-token attention also rounds q and the
			// probabilities to F16, as llama.cpp does).
			m, err := Load(writeTiny(t, typ), Options{KVF32: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			prompt := make([]int32, 90)
			for i := range prompt {
				prompt[i] = int32(2 + (i*37+i*i)%(m.Hyper.VocabSize-2))
			}
			batch, err := m.NewSession(256).Eval(prompt)
			if err != nil {
				t.Fatal(err)
			}
			s := m.NewSession(256)
			var step []float32
			for i := range prompt {
				if step, err = s.Eval(prompt[i : i+1]); err != nil {
					t.Fatal(err)
				}
			}
			tol := 1e-4
			if typ == "F16" {
				tol = 5e-3 // the decode path rounds activations to F16 first
			}
			d, scale := maxAbsDiff(batch, step)
			if d > tol*scale {
				t.Fatalf("batched prompt vs token by token: max |Δlogit| %.3g of scale %.3g", d, scale)
			}
		})
	}
}
