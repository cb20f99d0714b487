package infer

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/distill-ml/distill/num/kernels/qdot"
)

// TestFastPromptProductsMatchExact: the fast prompt path's weight products
// (activations rounded as llama.cpp's dot products consume them, weights
// dequantized tile by tile, one GEMM) equal the exact path's quantized dot
// products (Options.ExactPrompt, llama.cpp's arithmetic) to float32
// summation noise — 1e-5 of the largest output — for every weight type of
// the tiny models (Q8_0, Q4_0, Q5_0, Q4_K, Q6_K, F16 and F32 matrices), on
// batches at and above the fast path's threshold. Without the activation
// rounding they differ by the 8-bit quantization noise (~1e-3).
func TestFastPromptProductsMatchExact(t *testing.T) {
	seen := map[qdot.Type]bool{}
	for _, typ := range []string{"F32", "F16", "Q8_0", "Q4_0", "Q5_0", "Q4_K_M"} {
		path := writeTiny(t, typ)
		fast, err := Load(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		exact, err := Load(path, Options{ExactPrompt: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{dequantGemmMinBatch, 41, 100} {
			sf, se := fast.NewSession(256), exact.NewSession(256)
			sf.ensureScratch(n)
			se.ensureScratch(n)
			b, be := &fast.blocks[0], &exact.blocks[0]
			sets := [][2][]*qdot.Matrix{
				{{&b.wq, &b.wk, &b.wv}, {&be.wq, &be.wk, &be.wv}},
				{{&b.wo}, {&be.wo}},
				{{&b.wGate, &b.wUp}, {&be.wGate, &be.wUp}},
				{{&b.wDown}, {&be.wDown}},
				{{&fast.output}, {&exact.output}},
			}
			rng := rand.New(rand.NewSource(int64(n)))
			for _, set := range sets {
				mf, me := set[0], set[1]
				x := make([]float32, n*mf[0].Cols)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				var df, de [][]float32
				for _, w := range mf {
					df = append(df, make([]float32, n*w.Rows))
					de = append(de, make([]float32, n*w.Rows))
				}
				sf.mul(mf, df, x, n)
				se.mul(me, de, x, n)
				for i, w := range mf {
					seen[w.Type] = true
					d, sc := maxAbsDiff(df[i], de[i])
					if d > 1e-5*sc || math.IsNaN(d) {
						t.Errorf("%s n=%d %v %dx%d: fast and exact products differ by %.3g of %.3g", typ, n, w.Type, w.Rows, w.Cols, d, sc)
					}
				}
			}
		}
		fast.Close()
		exact.Close()
	}
	for _, want := range []qdot.Type{qdot.F32, qdot.F16, qdot.Q8_0, qdot.Q4_0, qdot.Q5_0, qdot.Q4_K, qdot.Q6_K} {
		if !seen[want] {
			t.Errorf("no %v matrix covered (covered: %v)", want, fmt.Sprint(seen))
		}
	}
}
