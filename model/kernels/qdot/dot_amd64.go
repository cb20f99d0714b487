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
func dotQ6_KAVX2(w, a *byte, nb int) float32

//go:noescape
func dotF32AVX2(w, x *float32, n int) float32

//go:noescape
func dotF16AVX2(w *uint16, x *float32, n int) float32

func hasAVX2() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C }

// avx2Kernels wraps the assembly with bounds checks done in Go, so a short
// slice panics with an index error here instead of reading out of bounds.
var avx2Kernels = dotKernels{
	name: "avx2",
	q8_0: func(w, a []byte, nb int) float32 {
		if nb <= 0 {
			return 0
		}
		_, _ = w[nb*BytesQ8_0-1], a[nb*BytesQ8_0-1]
		return dotQ8_0AVX2(&w[0], &a[0], nb)
	},
	q4_0: func(w, a []byte, nb int) float32 {
		if nb <= 0 {
			return 0
		}
		_, _ = w[nb*BytesQ4_0-1], a[nb*BytesQ8_0-1]
		return dotQ4_0AVX2(&w[0], &a[0], nb)
	},
	q5_0: func(w, a []byte, nb int) float32 {
		if nb <= 0 {
			return 0
		}
		_, _ = w[nb*BytesQ5_0-1], a[nb*BytesQ8_0-1]
		return dotQ5_0AVX2(&w[0], &a[0], nb)
	},
	q4_K: func(w, a []byte, nb int) float32 {
		if nb <= 0 {
			return 0
		}
		_, _ = w[nb*BytesQ4_K-1], a[nb*BytesQ8_K-1]
		return dotQ4_KAVX2(&w[0], &a[0], nb)
	},
	q5_K: dotQ5_KGo,
	q6_K: func(w, a []byte, nb int) float32 {
		if nb <= 0 {
			return 0
		}
		_, _ = w[nb*BytesQ6_K-1], a[nb*BytesQ8_K-1]
		return dotQ6_KAVX2(&w[0], &a[0], nb)
	},
	f16: func(w []byte, x []float32) float32 {
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
	},
	f32: func(w []byte, x []float32) float32 {
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
	},
}

// platformKernels is the assembly implementation this CPU supports, or nil.
func platformKernels() *dotKernels {
	if hasAVX2() {
		return &avx2Kernels
	}
	return nil
}
