package qdot

import "github.com/distill-ml/distill/num/parallel"

// F32 weights in llama.cpp's order: ggml_vec_dot_f32 for one activation row
// (16-lane vectors in four accumulators with AVX-512, 8-lane with AVX2) and
// llamafile's tinyBLAS F32 GEMM (one accumulator of 16 or 8 lanes) for a
// batch. Unlike F16, the products are not exact, so every step is a fused
// multiply-add (FMA32 in the portable code).

// F32TinyBLAS reports whether llama.cpp multiplies an F32 matrix of this
// shape with tinyBLAS for a batch of n rows (n ≥ 2, inner dimension a
// multiple of the vector width, rows a multiple of 4).
func (m *Matrix) F32TinyBLAS(n int) bool {
	return m.Type == F32 && n >= 2 && m.Cols%F16GemmBlock() == 0 && m.Rows%4 == 0
}

// f32VecOrderGo is ggml_vec_dot_f32: blocks of 4·lanes into four lane-wide
// FMA accumulators, reduced as the F16 version, then the leftovers added
// one by one with fused multiply-adds.
func f32VecOrderGo(w, x []float32, n int) float32 {
	blk := F16VecBlock()
	var acc [64]float32
	np := n - n%blk
	for e := 0; e < np; e++ {
		k := e % blk
		acc[k] = FMA32(w[e], x[e], acc[k])
	}
	var s float32
	if llama512 {
		var v [16]float32
		for l := range v {
			v[l] = (acc[l] + acc[32+l]) + (acc[16+l] + acc[48+l])
		}
		s = Reduce16(&v)
	} else {
		var v [8]float32 // (acc0+acc2)+(acc1+acc3), then lo+hi and two hadds
		for l := range v {
			v[l] = (acc[l] + acc[16+l]) + (acc[8+l] + acc[24+l])
		}
		var t [4]float32
		for i := range t {
			t[i] = v[i] + v[4+i]
		}
		s = (t[0] + t[1]) + (t[2] + t[3])
	}
	for e := np; e < n; e++ {
		s = FMA32(w[e], x[e], s)
	}
	return s
}

// f32GemmOrderGo is tinyBLAS F32: one lane-wide FMA accumulator (n a
// multiple of the width), reduced with the build's horizontal sum.
func f32GemmOrderGo(w, x []float32, n int) float32 {
	lanes := F16GemmBlock()
	var acc [16]float32
	for e := 0; e < n; e++ {
		k := e % lanes
		acc[k] = FMA32(w[e], x[e], acc[k])
	}
	if llama512 {
		return Reduce16(&acc)
	}
	var v [8]float32
	copy(v[:], acc[:8])
	return hsum8LO(&v)
}

// MulF32LlamaOrder computes dst = W·x for an F32 matrix in llama.cpp's
// order (tinyBLAS lanes for a batch it takes, ggml_vec_dot_f32 otherwise),
// rows split over pool.
// x: [n, Cols], dst: [n, Rows].
func (m *Matrix) MulF32LlamaOrder(pool *parallel.Pool, dst, x []float32, n int, ws *Workspace) {
	m.mustBe(F32, "MulF32LlamaOrder")
	if n <= 0 {
		return
	}
	if pool == nil {
		pool = parallel.Default()
	}
	cols := m.Cols
	gemm := m.F32TinyBLAS(n)
	if n == 1 && !gemm && cols%F16VecBlock() != 0 {
		// Rows with leftover elements (tiny's FFN 688 = 10·64 + 48): four
		// rows per call run the leftovers' FMA chains interleaved in
		// assembly instead of FMA32 row by row.
		m.mulF32VecRows4(pool, dst[:m.Rows], x[:cols])
		return
	}
	grain := 64
	if n > 1 {
		grain = 16
	}
	pool.For(m.Rows, grain, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			w := bytesAsFloat32(m.Data[r*m.rowBytes:(r+1)*m.rowBytes], cols)
			for t := 0; t < n; t++ {
				xt := x[t*cols : (t+1)*cols]
				if gemm {
					dst[t*m.Rows+r] = f32GemmOrder(w, xt, cols)
				} else {
					dst[t*m.Rows+r] = f32VecOrder(w, xt, cols)
				}
			}
		}
	})
}

// mulF32VecRows4 is the decode case of MulF32LlamaOrder (one activation
// row, ggml_vec_dot_f32 order) for widths with leftover elements: rows i,
// i+q, i+2q, i+3q (q = Rows/4) go through one f32VecOrder4 call, the last
// Rows%4 rows one at a time. Results are bit-identical to the row-at-a-time
// loop. Measured (BenchmarkF32Decode, runtime decode A/B, 2026-11-25 on
// the shared 2-core Zen 4): tiny's ffn_down 256×688 3.3× faster, tiny F32
// decode +13–20% on 1 thread; for whole-block widths (576, 1536) the
// four-row kernel gained nothing in cache and lost ~6% at 2 threads on the
// 125M F32 decode (memory-bound), so those keep one row at a time; four
// neighbouring rows per call instead of far-apart ones were 2× slower.
// x: [Cols], dst: [Rows].
func (m *Matrix) mulF32VecRows4(pool *parallel.Pool, dst, x []float32) {
	cols := m.Cols
	row := func(r int) []float32 {
		return bytesAsFloat32(m.Data[r*m.rowBytes:(r+1)*m.rowBytes], cols)
	}
	q := m.Rows / 4
	pool.For(q, 16, func(lo, hi int) {
		var w [4][]float32
		var out [4]float32
		for i := lo; i < hi; i++ {
			for k := range w {
				w[k] = row(i + k*q)
			}
			f32VecOrder4(&w, x, cols, &out)
			for k, v := range out {
				dst[i+k*q] = v
			}
		}
	})
	for r := 4 * q; r < m.Rows; r++ {
		dst[r] = f32VecOrder(row(r), x, cols)
	}
}
