package qdot

import (
	"github.com/distill-ml/distill/num/parallel"
)

// llama.cpp keeps Q4_0 matrices whose row count is a multiple of 8 in its
// repacked 8-row layout on AVX2/AVX-512 machines; their GEMV and GEMM both
// accumulate one scalar per output: acc = fma(float(Σ q·a), d·da, acc) per
// 32-element block, unlike the 8-lane order of ggml_vec_dot_q4_0 (this
// package's Q4_0 dot).

// Q4_0Repacked reports whether llama.cpp multiplies m with its repacked
// Q4_0 kernels (a Q4_0 matrix with a multiple of 8 rows).
func (m *Matrix) Q4_0Repacked() bool { return m.Type == Q4_0 && m.Rows%8 == 0 }

func dotQ4_0RepackGo(w, a []byte, nb int) float32 {
	var acc float32
	for i := 0; i < nb; i++ {
		wb := w[i*BytesQ4_0 : i*BytesQ4_0+BytesQ4_0]
		ab := a[i*BytesQ8_0 : i*BytesQ8_0+BytesQ8_0]
		var s int32
		for j := 0; j < 16; j++ {
			s += (int32(wb[2+j]&15) - 8) * int32(int8(ab[2+j]))
			s += (int32(wb[2+j]>>4) - 8) * int32(int8(ab[18+j]))
		}
		acc = FMA32(float32(s), half(wb)*half(ab), acc)
	}
	return acc
}

// MulQ4_0RepackOrder computes dst = W·x for the n rows of x with the order
// of llama.cpp's repacked Q4_0 kernels, rows split over pool. W must be Q4_0.
// x: [n, Cols], dst: [n, Rows].
func (m *Matrix) MulQ4_0RepackOrder(pool *parallel.Pool, dst, x []float32, n int, ws *Workspace) {
	pool, qa, arb := m.quantizedProductArgs(Q4_0, "MulQ4_0RepackOrder", pool, x, n, ws)
	if n <= 0 {
		return
	}
	nb := m.Cols / QK
	// groups of 4 rows share the activation loads and run four independent
	// accumulator chains; rows past the last group of 4 one by one
	groups := m.Rows / 4
	grain := 16
	if n > 1 {
		grain = 4
	}
	pool.For(groups, grain, func(lo, hi int) {
		var out [4]float32
		for g := lo; g < hi; g++ {
			r := 4 * g
			w := m.Data[r*m.rowBytes:]
			for t := 0; t < n; t++ {
				dotQ4_0Repack4(w, m.rowBytes, qa[t*arb:(t+1)*arb], nb, &out)
				copy(dst[t*m.Rows+r:t*m.Rows+r+4], out[:])
			}
		}
	})
	for r := 4 * groups; r < m.Rows; r++ {
		w := m.Data[r*m.rowBytes : (r+1)*m.rowBytes]
		for t := 0; t < n; t++ {
			dst[t*m.Rows+r] = dotQ4_0Repack(w, qa[t*arb:(t+1)*arb], nb)
		}
	}
}
