package qdot

import (
	"math"

	"github.com/distill-ml/distill/num/parallel"
)

// llama.cpp (ggml's CPU "repack" buffer, used for Q4_K weights on AVX2 and
// AVX-512 machines) multiplies Q4_K matrices with two kernels whose float
// orders differ: the GEMM, for each group of 4 activation rows, accumulates
// per 64-element pair of sub-blocks; the GEMV, for the rows left after the
// last full group of 4, accumulates per 256-element super-block (the order
// of this package's Q4_K dot). A batch of n rows therefore takes the GEMM
// order for rows [0, n−n%4) and the GEMV order for the rest.

// Q4KGemmRows is the number of leading rows of an n-row Q4_K product that
// llama.cpp's repacked kernels compute with the GEMM order.
func Q4KGemmRows(n int) int { return n - n%4 }

// dotQ4_KGemmOrderGo is the portable Q4_K·Q8_K dot in the order of ggml's repacked
// Q4_K GEMM (ggml_gemm_q4_K_8x8_q8_K): per super-block and per pair of
// 32-element sub-blocks, acc = fma(float(Σ sc·q·a), d·da, acc) and
// accm = fma(float(m₀·bsum₀ + m₁·bsum₁), dmin·da, accm); result acc − accm.
// The integer sums are exact, so only the float steps matter.
func dotQ4_KGemmOrderGo(w, a []byte, nb int) float32 {
	var acc, accm float32
	for i := 0; i < nb; i++ {
		wb := w[i*BytesQ4_K : i*BytesQ4_K+BytesQ4_K]
		ab := a[i*BytesQ8_K : i*BytesQ8_K+BytesQ8_K]
		isb, imin := q4KBlockSums(wb, ab)
		da := q8KScale(ab)
		dd := half(wb) * da
		dm := half(wb[2:]) * da
		for j := 0; j < 4; j++ {
			acc = FMA32(float32(isb[j]), dd, acc)
			accm = FMA32(float32(imin[j]), dm, accm)
		}
	}
	return acc - accm
}

// MulQ4KGemmOrder computes dst = W·x for the n rows of x with the GEMM
// order of llama.cpp's repacked Q4_K kernel (see dotQ4_KGemmOrder), rows
// split over pool. W must be Q4_K.
// x: [n, Cols], dst: [n, Rows].
func (m *Matrix) MulQ4KGemmOrder(pool *parallel.Pool, dst, x []float32, n int, ws *Workspace) {
	pool, qa, arb := m.quantizedProductArgs(Q4_K, "MulQ4KGemmOrder", pool, x, n, ws)
	if n <= 0 {
		return
	}
	nb := m.Cols / QKK
	pool.For(m.Rows, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			w := m.Data[r*m.rowBytes : (r+1)*m.rowBytes]
			for t := 0; t < n; t++ {
				dst[t*m.Rows+r] = dotQ4_KGemmOrder(w, qa[t*arb:(t+1)*arb], nb)
			}
		}
	})
}

// FMA32 is a·b+c rounded once to float32, as the FMA instruction computes
// it (the product of two float32 is exact in float64; the float64 sum is
// rounded again only when it lands exactly on a float32 rounding midpoint,
// and that case is settled with the exact error of the sum).
func FMA32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	const mid = 1 << 28 // the float64 bits below float32's last mantissa bit at a midpoint
	bits := math.Float64bits(s)
	if bits&(1<<29-1) != mid && math.Abs(s) >= 0x1p-126 {
		return float32(s)
	}
	// Round s to odd with the exact error of p+c, then to float32 (correct
	// because float64 has more than 24+1 extra bits).
	bb := s - p
	e := (p - (s - bb)) + (float64(c) - bb)
	if e != 0 && bits&1 == 0 {
		if (e > 0) == (s > 0) {
			bits++
		} else {
			bits--
		}
		s = math.Float64frombits(bits)
	}
	return float32(s)
}
