//go:build amd64

package qdot

import "unsafe"

//go:noescape
func f16VecOrderAVX2(w *uint16, x *float32, nblk int, tw *uint16, tx *float32) float32

//go:noescape
func f16GemmOrderAVX2(w *uint16, x *float32, nblk int, tw *uint16, tx *float32) float32

//go:noescape
func dotQ4_0RepackAVX2(w, a *byte, nb int) float32

//go:noescape
func expAVX2(dst, src *float32, n int)

//go:noescape
func siluMulAVX2(dst, gate, up *float32, n int)

//go:noescape
func dotQ4_KGemmOrderAVX2(w, a *byte, nb int) float32

//go:noescape
func dotQ4_0Repack4AVX2(w *byte, stride int, a *byte, nb int, out *float32)

//go:noescape
func f16VecOrder32AVX2(w *uint16, x *float32, nblk int, tw *uint16, tx *float32) float32

//go:noescape
func f16GemmOrder8AVX2(w *uint16, x *float32, nblk int, tw *uint16, tx *float32) float32

//go:noescape
func exp2AVX2(dst, src *float32, n int)

//go:noescape
func siluMul2AVX2(dst, gate, up *float32, n int)

//go:noescape
func f16VecOrderRowsAVX2(w *uint16, stride int, x *float32, nblk, rows int, out *float32)

//go:noescape
func f16GemmOrderRowsAVX2(w *uint16, stride int, x *float32, nblk, rows int, out *float32)

//go:noescape
func f16VecOrder32RowsAVX2(w *uint16, stride int, x *float32, nblk, rows int, out *float32)

//go:noescape
func f16GemmOrder8RowsAVX2(w *uint16, stride int, x *float32, nblk, rows int, out *float32)

func unsafeU16(b []byte) *uint16 { return (*uint16)(unsafe.Pointer(&b[0])) }

//go:noescape
func f32VecOrderAVX2(w, x *float32, nblk int) float32

//go:noescape
func f32GemmOrderAVX2(w, x *float32, nblk int) float32

//go:noescape
func f32VecOrder32AVX2(w, x *float32, nblk int) float32

//go:noescape
func f32GemmOrder8AVX2(w, x *float32, nblk int) float32

var llamaOrderAsm = hasAVX2()

func f32VecOrder(w, x []float32, n int) float32 {
	blk := F16VecBlock()
	if !llamaOrderAsm || n < blk {
		return f32VecOrderGo(w, x, n)
	}
	// ggml_vec_dot_f32: the whole blocks in lanes, reduced, then the
	// leftover elements one FMA at a time into the sum (as f32VecOrderGo).
	np := n - n%blk
	_, _ = w[n-1], x[n-1]
	var s float32
	if llama512 {
		s = f32VecOrderAVX2(&w[0], &x[0], np/64)
	} else {
		s = f32VecOrder32AVX2(&w[0], &x[0], np/32)
	}
	for e := np; e < n; e++ {
		s = FMA32(w[e], x[e], s)
	}
	return s
}

func f32GemmOrder(w, x []float32, n int) float32 {
	if !llamaOrderAsm || n == 0 {
		return f32GemmOrderGo(w, x, n)
	}
	_, _ = w[n-1], x[n-1]
	if llama512 {
		return f32GemmOrderAVX2(&w[0], &x[0], n/16)
	}
	return f32GemmOrder8AVX2(&w[0], &x[0], n/8)
}

// f16Blocks returns the pointers the F16 order kernels take for the full
// blocks of width elements: w's and x's first elements, after checking that
// they hold full blocks (nil, nil when full is 0). The kernels' zero-padded
// tail arrays tw, tx go as (*uint16)(unsafe.Pointer(tw)) and
// (*float32)(unsafe.Pointer(tx)): nil when there is no tail.
func f16Blocks(w []byte, x []float32, full, width int) (*uint16, *float32) {
	if full <= 0 {
		return nil, nil
	}
	_, _ = w[2*width*full-1], x[width*full-1]
	return (*uint16)(unsafe.Pointer(&w[0])), &x[0]
}

func f16VecOrder32(w []byte, x []float32, full int, tw *[32]uint16, tx *[32]float32) float32 {
	if !llamaOrderAsm {
		return f16VecOrder32Go(w, x, full, tw, tx)
	}
	wp, xp := f16Blocks(w, x, full, 32)
	return f16VecOrder32AVX2(wp, xp, full, (*uint16)(unsafe.Pointer(tw)), (*float32)(unsafe.Pointer(tx)))
}

func f16GemmOrder8(w []byte, x []float32, full int, tw *[8]uint16, tx *[8]float32) float32 {
	if !llamaOrderAsm {
		return f16GemmOrder8Go(w, x, full, tw, tx)
	}
	wp, xp := f16Blocks(w, x, full, 8)
	return f16GemmOrder8AVX2(wp, xp, full, (*uint16)(unsafe.Pointer(tw)), (*float32)(unsafe.Pointer(tx)))
}

// dotQ4_0Repack4 computes rows r..r+3 (w starts at row r; rows stride bytes
// apart) against one activation row.
func dotQ4_0Repack4(w []byte, stride int, a []byte, nb int, out *[4]float32) {
	if nb <= 0 {
		*out = [4]float32{}
		return
	}
	if !llamaOrderAsm {
		for k := range out {
			out[k] = dotQ4_0RepackGo(w[k*stride:], a, nb)
		}
		return
	}
	_, _ = w[3*stride+nb*BytesQ4_0-1], a[nb*BytesQ8_0-1]
	dotQ4_0Repack4AVX2(&w[0], stride, &a[0], nb, &out[0])
}

func dotQ4_KGemmOrder(w, a []byte, nb int) float32 {
	if !dotBounds(w, a, nb, BytesQ4_K, BytesQ8_K) {
		return 0
	}
	if !llamaOrderAsm {
		return dotQ4_KGemmOrderGo(w, a, nb)
	}
	return dotQ4_KGemmOrderAVX2(&w[0], &a[0], nb)
}

func dotQ4_0Repack(w, a []byte, nb int) float32 {
	if !dotBounds(w, a, nb, BytesQ4_0, BytesQ8_0) {
		return 0
	}
	if !llamaOrderAsm {
		return dotQ4_0RepackGo(w, a, nb)
	}
	return dotQ4_0RepackAVX2(&w[0], &a[0], nb)
}

func f16VecOrder(w []byte, x []float32, full int, tw *[64]uint16, tx *[64]float32) float32 {
	if !llamaOrderAsm {
		return f16VecOrderGo(w, x, full, tw, tx)
	}
	wp, xp := f16Blocks(w, x, full, 64)
	return f16VecOrderAVX2(wp, xp, full, (*uint16)(unsafe.Pointer(tw)), (*float32)(unsafe.Pointer(tx)))
}

func f16GemmOrder(w []byte, x []float32, full int, tw *[16]uint16, tx *[16]float32) float32 {
	if !llamaOrderAsm {
		return f16GemmOrderGo(w, x, full, tw, tx)
	}
	wp, xp := f16Blocks(w, x, full, 16)
	return f16GemmOrderAVX2(wp, xp, full, (*uint16)(unsafe.Pointer(tw)), (*float32)(unsafe.Pointer(tx)))
}
