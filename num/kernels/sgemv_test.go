package kernels

import (
	"math"
	"math/rand"
	"testing"
)

func TestSgemvAgainstReference(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, s := range [][2]int{{0, 3}, {3, 0}, {1, 1}, {7, 9}, {257, 255}, {33, 3000}} {
		m, n := s[0], s[1]
		for _, trans := range []bool{false, true} {
			for _, inc := range [][2]int{{1, 1}, {2, -3}, {-1, 2}} {
				for _, beta := range []float32{0, 1, -0.5} {
					lda := n + 2
					a := randSlice(r, max(0, m*lda))
					lenX, lenY := n, m
					if trans {
						lenX, lenY = m, n
					}
					x := randSlice(r, 1+max(0, lenX-1)*abs(inc[0]))
					y := randSlice(r, 1+max(0, lenY-1)*abs(inc[1]))
					if beta == 0 {
						for i := range y {
							y[i] = float32(math.NaN())
						}
					}
					at := func(v []float32, i, n, inc int) *float32 {
						if inc < 0 {
							return &v[(n-1-i)*-inc]
						}
						return &v[i*inc]
					}
					want := make([]float64, lenY)
					for i := range lenY {
						var sum float64
						for j := range lenX {
							var av float32
							if trans {
								av = a[j*lda+i]
							} else {
								av = a[i*lda+j]
							}
							p := float64(av) * float64(*at(x, j, lenX, inc[0]))
							sum += p
						}
						sum *= 1.5
						if beta != 0 {
							sum += float64(beta) * float64(*at(y, i, lenY, inc[1]))
						}
						want[i] = sum
					}
					for _, e := range engines(t) {
						got := append([]float32(nil), y...)
						e.Sgemv(trans, m, n, 1.5, a, lda, x, inc[0], beta, got, inc[1])
						for i := range lenY {
							g := float64(*at(got, i, lenY, inc[1]))
							if math.Abs(g-want[i]) > 1e-5*(1+math.Abs(want[i]))*math.Sqrt(float64(lenX+1)) || g != g {
								t.Fatalf("m=%d n=%d trans=%v inc=%v beta=%g: y[%d] = %g, want %g", m, n, trans, inc, beta, i, g, want[i])
							}
						}
					}
				}
			}
		}
	}
}
