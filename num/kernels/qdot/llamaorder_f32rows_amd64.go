//go:build amd64

package qdot

import "golang.org/x/sys/cpu"

// f32VecOrderRows4AVX512 sets out[k] to the lane part of ggml_vec_dot_f32
// (AVX-512 build: nblk blocks of 64, four 16-lane accumulators, reduced)
// of rows w0..w3 against x, exactly as f32VecOrderAVX2 would for each row.
//
//go:noescape
func f32VecOrderRows4AVX512(w0, w1, w2, w3, x *float32, nblk int, out *[4]float32)

// f32VecOrder32Rows2AVX2 is f32VecOrder32AVX2 (AVX2 build: blocks of 32,
// four 8-lane accumulators) for two rows sharing the x loads.
//
//go:noescape
func f32VecOrder32Rows2AVX2(w0, w1, x *float32, nblk int, out *[2]float32)

// f32FMATail4 sets out[k] = fma(wk[e], x[e], out[k]) for e < n in order
// (correctly rounded float32 FMAs: FMA32 in hardware).
//
//go:noescape
func f32FMATail4(w0, w1, w2, w3, x *float32, n int, out *[4]float32)

// f32Rows512 reports whether the CPU runs the zmm four-row kernel (llama512
// may be flipped by tests on a CPU without AVX-512).
var f32Rows512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

// f32VecOrder4 sets out[k] = f32VecOrder(w[k], x, n) for the four rows,
// bit for bit, streaming the rows together (rows far apart in memory keep
// more cache misses in flight than one row at a time).
func f32VecOrder4(w *[4][]float32, x []float32, n int, out *[4]float32) {
	blk := F16VecBlock()
	if !llamaOrderAsm || n < blk || (llama512 && !f32Rows512) {
		for k := range out {
			out[k] = f32VecOrder(w[k], x, n)
		}
		return
	}
	_ = x[n-1]
	for k := range w {
		_ = w[k][n-1]
	}
	np := n - n%blk
	if llama512 {
		f32VecOrderRows4AVX512(&w[0][0], &w[1][0], &w[2][0], &w[3][0], &x[0], np/64, out)
	} else {
		var o [2]float32
		f32VecOrder32Rows2AVX2(&w[0][0], &w[1][0], &x[0], np/32, &o)
		out[0], out[1] = o[0], o[1]
		f32VecOrder32Rows2AVX2(&w[2][0], &w[3][0], &x[0], np/32, &o)
		out[2], out[3] = o[0], o[1]
	}
	// The leftover elements one FMA at a time into each sum (as f32VecOrder).
	if np < n {
		f32FMATail4(&w[0][np], &w[1][np], &w[2][np], &w[3][np], &x[np], n-np, out)
	}
}
