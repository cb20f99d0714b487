package kernels

import (
	"math"
	"math/rand"
	"testing"
)

// TestSgemmStridedBatched: each entry equals a separate reference GEMM,
// with shared (stride 0) and per-entry operands, for every path.
func TestSgemmStridedBatched(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	for _, shape := range [][4]int{{5, 13, 17, 9}, {3, 64, 64, 32}, {7, 1, 1, 1}, {2, 0, 3, 4}} {
		batch, m, n, k := shape[0], shape[1], shape[2], shape[3]
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			// Per-entry operands built as separate cases, then laid end to end.
			cases := make([]*gemmCase, batch)
			for i := range cases {
				cases[i] = newCase(r, tr[0], tr[1], m, n, k, 1, 0.75, 0.5)
				if i > 0 { // share A across the batch (stride 0)
					cases[i].a = cases[0].a
				}
			}
			g0 := cases[0]
			sa, sb, sc := 0, len(g0.b)+3, len(g0.c)+1
			b := make([]float32, batch*sb)
			c := make([]float32, batch*sc)
			for i, g := range cases {
				copy(b[i*sb:], g.b)
				copy(c[i*sc:], g.c)
			}
			for _, e := range engines(t) {
				got := append([]float32(nil), c...)
				e.SgemmStridedBatched(tr[0], tr[1], m, n, k, 0.75, g0.a, g0.lda, sa, b, g0.ldb, sb, 0.5, got, g0.ldc, sc, batch)
				for i, g := range cases {
					want, tol := g.reference()
					compare(t, engineName(e)+" strided batch entry "+g.String(), got[i*sc:i*sc+len(g.c)], want, tol)
				}
			}
		}
	}
}

// TestSgemmBatchedGQA computes attention scores S = Q·Kᵀ for every
// (sequence, head) with Q: [B, T, H, D] and K: [B, T, KV, D] in their
// natural interleaved layout, heads of a group sharing one K (no copies, no
// repeat), and S: [B, H, T, T]. It checks against direct summation.
func TestSgemmBatchedGQA(t *testing.T) {
	const B, T, H, KV, D = 2, 19, 4, 2, 8
	r := rand.New(rand.NewSource(12))
	q := randSlice(r, B*T*H*D)
	kmat := randSlice(r, B*T*KV*D)
	var offQ, offK, offS []int
	for bi := 0; bi < B; bi++ {
		for h := 0; h < H; h++ {
			offQ = append(offQ, (bi*T*H+h)*D)
			offK = append(offK, (bi*T*KV+h/(H/KV))*D)
			offS = append(offS, (bi*H+h)*T*T)
		}
	}
	for _, e := range engines(t) {
		s := make([]float32, B*H*T*T)
		for i := range s {
			s[i] = float32(math.NaN()) // beta = 0: never read
		}
		e.SgemmBatched(false, true, T, T, D, 1, q, H*D, offQ, kmat, KV*D, offK, 0, s, T, offS)
		for bi := 0; bi < B; bi++ {
			for h := 0; h < H; h++ {
				for i := 0; i < T; i++ {
					for j := 0; j < T; j++ {
						var want, abs float64
						for d := 0; d < D; d++ {
							x := float64(q[((bi*T+i)*H+h)*D+d]) * float64(kmat[((bi*T+j)*KV+h/(H/KV))*D+d])
							want += x
							abs += math.Abs(x)
						}
						got := float64(s[((bi*H+h)*T+i)*T+j])
						if math.Abs(got-want) > 1e-6*abs+1e-30 || got != got {
							t.Fatalf("%s: S[%d,%d,%d,%d] = %g, want %g", engineName(e), bi, h, i, j, got, want)
						}
					}
				}
			}
		}
		// The output may interleave too: O = P·V written to [B, T, H, D].
		o := make([]float32, B*T*H*D)
		var offO, offV []int
		for bi := 0; bi < B; bi++ {
			for h := 0; h < H; h++ {
				offO = append(offO, (bi*T*H+h)*D)
				offV = append(offV, (bi*T*KV+h/(H/KV))*D)
			}
		}
		e.SgemmBatched(false, false, T, D, T, 1, s, T, offS, kmat, KV*D, offV, 0, o, H*D, offO)
		for bi := 0; bi < B; bi++ {
			for h := 0; h < H; h++ {
				for i := 0; i < T; i++ {
					for d := 0; d < D; d++ {
						var want, abs float64
						for j := 0; j < T; j++ {
							x := float64(s[((bi*H+h)*T+i)*T+j]) * float64(kmat[((bi*T+j)*KV+h/(H/KV))*D+d])
							want += x
							abs += math.Abs(x)
						}
						got := float64(o[((bi*T+i)*H+h)*D+d])
						if math.Abs(got-want) > 1e-5*abs+1e-30 {
							t.Fatalf("%s: O[%d,%d,%d,%d] = %g, want %g", engineName(e), bi, i, h, d, got, want)
						}
					}
				}
			}
		}
	}
}

func TestSgemmBatchedRejectsOverlappingC(t *testing.T) {
	a := make([]float32, 64)
	b := make([]float32, 64)
	c := make([]float32, 64)
	// 4×4 C matrices 2 elements apart with ldc 4 overlap.
	mustPanic(t, "overlap", func() {
		SgemmBatched(false, false, 4, 4, 2, 1, a, 2, []int{0, 0}, b, 4, []int{0, 0}, 0, c, 4, []int{0, 2})
	})
	// Same with ldc 8: 4-wide matrices side by side do not overlap.
	SgemmBatched(false, false, 4, 4, 2, 1, a, 2, []int{0, 0}, b, 4, []int{0, 0}, 0, c, 8, []int{0, 4})
	mustPanic(t, "C overlaps A", func() {
		SgemmBatched(false, false, 2, 2, 2, 1, a, 2, []int{0}, b, 2, []int{0}, 0, a, 2, []int{2})
	})
	mustPanic(t, "offset", func() {
		SgemmBatched(false, false, 2, 2, 2, 1, a, 2, []int{100}, b, 2, []int{0}, 0, c, 2, []int{0})
	})
	mustPanic(t, "differ in length", func() {
		SgemmBatched(false, false, 2, 2, 2, 1, a, 2, []int{0}, b, 2, []int{0, 4}, 0, c, 2, []int{0})
	})
}
