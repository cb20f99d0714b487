//go:build amd64

package qdot

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:noescape
func dotQ8_0AVX2(w, a *byte, nb int) float32

//go:noescape
func dotQ4_0AVX2(w, a *byte, nb int) float32

//go:noescape
func dotQ5_0AVX2(w, a *byte, nb int) float32

//go:noescape
func dotQ4_KAVX2(w, a *byte, nb int) float32

//go:noescape
func dotQ5_KAVX2(w, a *byte, nb int) float32

//go:noescape
func dotQ6_KAVX2(w, a *byte, nb int) float32

// The two-row AVX2 kernels dot rows i and i+H (H = ⌈nrows/2⌉) for each
// i < ⌊nrows/2⌋, then the middle row when nrows is odd; nrows ≥ 1, nb ≥ 1.

//go:noescape
func dotQ8_0RowsAVX2(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

//go:noescape
func dotQ4_0RowsAVX2(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

//go:noescape
func dotQ5_0RowsAVX2(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

//go:noescape
func dotQ4_KRowsAVX2(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

//go:noescape
func dotQ5_KRowsAVX2(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

//go:noescape
func dotQ6_KRowsAVX2(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

//go:noescape
func dotF32AVX2(w, x *float32, n int) float32

//go:noescape
func dotF16AVX2(w *uint16, x *float32, n int) float32

// The AVX-512 kernels dot nrows weight rows (row i at w + i·stride) with one
// activation row into dst[0:nrows]; nb ≥ 1 and nrows ≥ 1.

//go:noescape
func dotQ8_0RowsAVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

//go:noescape
func dotQ4_0RowsAVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

//go:noescape
func dotQ5_0RowsAVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

//go:noescape
func dotQ4_KRowsAVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

//go:noescape
func dotQ5_KRowsAVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

//go:noescape
func dotQ6_KRowsAVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

// The four-row kernels dot rows i, i+Q, i+2Q, i+3Q (Q = nrows/4) for each
// i < Q; nrows must be a positive multiple of 4.

//go:noescape
func dotQ8_0Rows4AVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

//go:noescape
func dotQ4_0Rows4AVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

//go:noescape
func dotQ5_0Rows4AVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

// dotQ4_KRows4AVX512 is the four-row Q4_K kernel (q4k4_amd64.s): rows i,
// i+Q, i+2Q, i+3Q (Q = nrows/4) for each i < Q; nrows must be a positive
// multiple of 4.
//
//go:noescape
func dotQ4_KRows4AVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

// dotQ4_KRows4AVX2 is dotQ4_KRows4AVX512 with AVX2 instructions only.
//
//go:noescape
func dotQ4_KRows4AVX2(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

//go:noescape
func quantizeQ8_0AVX512(dst *byte, x *float32, nb int)

// quantizeQ8_KAVX512 is QuantizeQ8_K for nb ≥ 1 blocks (quantq8k_amd64.s).
//
//go:noescape
func quantizeQ8_KAVX512(dst *byte, x *float32, nb int)

// The AVX-512 dequantizers expand nb ≥ 1 blocks of src into dst.

//go:noescape
func dequantQ8_0AVX512(dst *float32, src *byte, nb int)

//go:noescape
func dequantQ4_0AVX512(dst *float32, src *byte, nb int)

//go:noescape
func dequantQ5_0AVX512(dst *float32, src *byte, nb int)

//go:noescape
func dequantQ4_KAVX512(dst *float32, src *byte, nb int)

//go:noescape
func dequantQ6_KAVX512(dst *float32, src *byte, nb int)

// dequantAVX512 expands n elements of type t (checked by DequantizeRow) into
// dst, or reports false for types it does not handle.
func dequantAVX512(t Type, dst []float32, src []byte, n int) bool {
	var f func(dst *float32, src *byte, nb int)
	switch t {
	case Q8_0:
		f = dequantQ8_0AVX512
	case Q4_0:
		f = dequantQ4_0AVX512
	case Q5_0:
		f = dequantQ5_0AVX512
	case Q4_K:
		f = dequantQ4_KAVX512
	case Q6_K:
		f = dequantQ6_KAVX512
	default:
		return false
	}
	nb := n / t.BlockSize()
	if nb <= 0 {
		return true
	}
	_, _ = dst[n-1], src[nb*t.TypeSize()-1]
	f(&dst[0], &src[0], nb)
	return true
}

func hasAVX2() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C }

// hasAVX512 reports the AVX-512 subsets the AVX-512 kernels use: F, BW
// (byte/word ops and 64-bit masks), VL (EVEX forms of 128/256-bit ops) and
// VNNI (VPDPBUSD, VPDPWSSD); they also use the AVX2/FMA/F16C instructions.
func hasAVX512() bool {
	x := &cpu.X86
	return hasAVX2() && x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512VNNI
}

// avx2Kernels: the AVX2 kernels, Q4_K rows four at a time.
var avx2Kernels = withQ4KRows4(avx2TwoRowKernels, dotQ4_KRows4AVX2)

// avx2TwoRowKernels: the AVX2 assembly behind bounds checks done in Go.
var avx2TwoRowKernels = dotKernels{
	name:     "avx2",
	q8_0:     asmDotChecked(dotQ8_0AVX2, BytesQ8_0, BytesQ8_0),
	q4_0:     asmDotChecked(dotQ4_0AVX2, BytesQ4_0, BytesQ8_0),
	q5_0:     asmDotChecked(dotQ5_0AVX2, BytesQ5_0, BytesQ8_0),
	q4_K:     asmDotChecked(dotQ4_KAVX2, BytesQ4_K, BytesQ8_K),
	q5_K:     asmDotChecked(dotQ5_KAVX2, BytesQ5_K, BytesQ8_K),
	q6_K:     asmDotChecked(dotQ6_KAVX2, BytesQ6_K, BytesQ8_K),
	f16:      dotF16AVX2Tail,
	f32:      dotF32AVX2Tail,
	q8_0Rows: asmRowsChecked(dotQ8_0RowsAVX2, BytesQ8_0, BytesQ8_0),
	q4_0Rows: asmRowsChecked(dotQ4_0RowsAVX2, BytesQ4_0, BytesQ8_0),
	q5_0Rows: asmRowsChecked(dotQ5_0RowsAVX2, BytesQ5_0, BytesQ8_0),
	q4_KRows: asmRowsChecked(dotQ4_KRowsAVX2, BytesQ4_K, BytesQ8_K),
	q5_KRows: asmRowsChecked(dotQ5_KRowsAVX2, BytesQ5_K, BytesQ8_K),
	q6_KRows: asmRowsChecked(dotQ6_KRowsAVX2, BytesQ6_K, BytesQ8_K),
}

func dotF16AVX2Tail(w []byte, x []float32) float32 {
	n := len(x)
	m := n &^ 7
	var s float32
	if m > 0 {
		_ = w[2*m-1]
		s = dotF16AVX2((*uint16)(unsafe.Pointer(&w[0])), &x[0], m)
	}
	if m < n {
		s += dotF16Go(w[2*m:], x[m:])
	}
	return s
}

func dotF32AVX2Tail(w []byte, x []float32) float32 {
	n := len(x)
	m := n &^ 7
	var s float32
	if m > 0 {
		_ = w[4*m-1]
		s = dotF32AVX2((*float32)(unsafe.Pointer(&w[0])), &x[0], m)
	}
	if m < n {
		s += dotF32Go(w[4*m:], x[m:])
	}
	return s
}

// rowsBounds checks that w holds len(dst) rows of nb blocks of wbb bytes at
// the given stride and a holds nb activation blocks of abb bytes; false
// means there is nothing to compute (dst is zeroed when nb ≤ 0).
func rowsBounds(w []byte, stride int, a []byte, nb int, dst []float32, wbb, abb int) bool {
	n := len(dst)
	if n == 0 {
		return false
	}
	if nb <= 0 {
		clear(dst)
		return false
	}
	if stride < nb*wbb && n > 1 {
		panic("qdot: row stride shorter than a row")
	}
	_, _ = w[(n-1)*stride+nb*wbb-1], a[nb*abb-1]
	return true
}

// avx512Kernels: the AVX-512 row kernels, bit-identical to avx2Kernels; the
// F16/F32 dots are the AVX2 ones (memory-bound). Q4_K rows go four at a time
// through dotQ4_KRows4AVX512 (ymm EVEX: VPDPWSSD with broadcast scales, the
// super-block's activations held in registers), the remainder through the
// AVX2 kernels; Q5_K uses the two-row AVX2 kernel (see withAVX2KQuants).
var avx512Kernels = withQ4KRows4AVX512(withAVX2KQuants(avx512AllKernels))

// asmRows is the signature of the assembly multi-row kernels: nrows rows of
// w, stride bytes apart, against one activation row a of nb blocks.
type asmRows func(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

// rowsBy4 is a row kernel that runs rows4 on the rows in groups of four and
// rest on the remainder (both give each row the same bits); wbb and abb are
// the weight and activation block sizes for the bounds check.
func rowsBy4(rows4 asmRows, rest rowsFunc, wbb, abb int) rowsFunc {
	return func(w []byte, stride int, a []byte, nb int, dst []float32) {
		if !rowsBounds(w, stride, a, nb, dst, wbb, abb) {
			return
		}
		n4 := len(dst) &^ 3
		if n4 > 0 {
			rows4(&w[0], stride, &a[0], nb, &dst[0], n4)
		}
		if n4 < len(dst) {
			rest(w[n4*stride:], stride, a, nb, dst[n4:])
		}
	}
}

// asmRowsDot is the single-row dot that runs the row kernel f on one row.
func asmRowsDot(f asmRows, wbb, abb int) func(w, a []byte, nb int) float32 {
	return func(w, a []byte, nb int) float32 {
		if !dotBounds(w, a, nb, wbb, abb) {
			return 0
		}
		var d float32
		f(&w[0], 0, &a[0], nb, &d, 1)
		return d
	}
}

// asmRowsChecked is the row kernel f with rowsBounds' check done in Go.
func asmRowsChecked(f asmRows, wbb, abb int) rowsFunc {
	return func(w []byte, stride int, a []byte, nb int, dst []float32) {
		if rowsBounds(w, stride, a, nb, dst, wbb, abb) {
			f(&w[0], stride, &a[0], nb, &dst[0], len(dst))
		}
	}
}

// withQ4KRows4AVX512 gives k the AVX-512 four-row Q4_K kernel when the CPU
// also has AVX512_VBMI (VPERMB), which hasAVX512 does not require; without
// it k keeps the AVX2 four-row kernel.
func withQ4KRows4AVX512(k dotKernels) dotKernels {
	if !cpu.X86.HasAVX512VBMI {
		return k
	}
	return withQ4KRows4(k, dotQ4_KRows4AVX512)
}

// withQ4KRows4 gives k the four-row Q4_K kernel rows4 for the rows in
// groups of four and k's own Q4_K row kernel for the rest (same bits either
// way).
func withQ4KRows4(k dotKernels, rows4 asmRows) dotKernels {
	k.q4_KRows = rowsBy4(rows4, k.q4_KRows, BytesQ4_K, BytesQ8_K)
	return k
}

// withAVX2KQuants takes k's Q4_K and Q5_K kernels from avx2Kernels: on Zen 4,
// which runs 512-bit operations as two 256-bit halves, the two-row AVX2
// kernels for these types were ~5-8% faster than the zmm AVX-512 ones
// (measured with BenchmarkMatVecInCache), and the four-row AVX2 Q4_K kernel
// is ~1.5x faster; the results are the same bits either way.
func withAVX2KQuants(k dotKernels) dotKernels {
	k.q4_K, k.q4_KRows = avx2Kernels.q4_K, avx2Kernels.q4_KRows
	k.q5_K, k.q5_KRows = avx2Kernels.q5_K, avx2Kernels.q5_KRows
	return k
}

// avx512AllKernels is every AVX-512 kernel (tests run it as "avx512-all").
var avx512AllKernels = dotKernels{
	name:    "avx512",
	dequant: dequantAVX512,
	quantizeQ8_0: func(dst []byte, x []float32) {
		nb := len(x) / QK
		if nb > 0 {
			_ = dst[nb*BytesQ8_0-1]
			quantizeQ8_0AVX512(&dst[0], &x[0], nb)
		}
	},
	quantizeQ8_K: func(dst []byte, x []float32) {
		nb := len(x) / QKK
		if nb > 0 {
			_ = dst[nb*BytesQ8_K-1]
			quantizeQ8_KAVX512(&dst[0], &x[0], nb)
		}
	},
	q8_0:     asmRowsDot(dotQ8_0RowsAVX512, BytesQ8_0, BytesQ8_0),
	q4_0:     asmRowsDot(dotQ4_0RowsAVX512, BytesQ4_0, BytesQ8_0),
	q5_0:     asmRowsDot(dotQ5_0RowsAVX512, BytesQ5_0, BytesQ8_0),
	q4_K:     asmRowsDot(dotQ4_KRowsAVX512, BytesQ4_K, BytesQ8_K),
	q5_K:     asmRowsDot(dotQ5_KRowsAVX512, BytesQ5_K, BytesQ8_K),
	q6_K:     asmRowsDot(dotQ6_KRowsAVX512, BytesQ6_K, BytesQ8_K),
	q8_0Rows: rowsBy4(dotQ8_0Rows4AVX512, asmRowsChecked(dotQ8_0RowsAVX512, BytesQ8_0, BytesQ8_0), BytesQ8_0, BytesQ8_0),
	q4_0Rows: rowsBy4(dotQ4_0Rows4AVX512, asmRowsChecked(dotQ4_0RowsAVX512, BytesQ4_0, BytesQ8_0), BytesQ4_0, BytesQ8_0),
	q5_0Rows: rowsBy4(dotQ5_0Rows4AVX512, asmRowsChecked(dotQ5_0RowsAVX512, BytesQ5_0, BytesQ8_0), BytesQ5_0, BytesQ8_0),
	q4_KRows: asmRowsChecked(dotQ4_KRowsAVX512, BytesQ4_K, BytesQ8_K),
	q5_KRows: asmRowsChecked(dotQ5_KRowsAVX512, BytesQ5_K, BytesQ8_K),
	q6_KRows: asmRowsChecked(dotQ6_KRowsAVX512, BytesQ6_K, BytesQ8_K),
	f16:      dotF16AVX2Tail,
	f32:      dotF32AVX2Tail,
}

// platformKernelSets lists the assembly implementations this CPU supports,
// best last.
func platformKernelSets() []*dotKernels {
	var out []*dotKernels
	if hasAVX2() {
		out = append(out, &avx2Kernels)
		if hasAVX512() {
			out = append(out, &avx512Kernels)
		}
	}
	return out
}
