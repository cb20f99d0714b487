//go:build arm64

package qdot

import "unsafe"

// The NEON kernels (dot_arm64.s). Advanced SIMD and the half-precision
// conversions they use are part of every AArch64 CPU, so they need no
// feature check. Each returns exactly the float32 of the portable Go kernel
// compiled for arm64 — whose float32 `s += w·x` gc fuses into one FMADDS, so
// the F32/F16 dots here are fused too and differ in the last bits from the
// same Go code on amd64; the quantized dots round the same on both.

//go:noescape
func dotF32NEON(w, x *float32, n int) float32

//go:noescape
func dotF16NEON(w *uint16, x *float32, n int) float32

//go:noescape
func dotQ8_0NEON(w, a *byte, nb int) float32

// neonKernels is the portable set with the NEON kernels in place of the Go
// ones that have one; the other types stay on the Go kernels.
var neonKernels = withNEON(genericKernels)

func withNEON(k dotKernels) dotKernels {
	k.name = "neon"
	k.f32 = func(w []byte, x []float32) float32 {
		n := len(x)
		if n == 0 {
			return 0
		}
		_ = w[4*n-1]
		return dotF32NEON((*float32)(unsafe.Pointer(&w[0])), &x[0], n)
	}
	k.f16 = func(w []byte, x []float32) float32 {
		n := len(x)
		if n == 0 {
			return 0
		}
		_ = w[2*n-1]
		return dotF16NEON((*uint16)(unsafe.Pointer(&w[0])), &x[0], n)
	}
	k.q8_0 = func(w, a []byte, nb int) float32 {
		if nb <= 0 {
			return 0
		}
		_, _ = w[nb*BytesQ8_0-1], a[nb*BytesQ8_0-1]
		return dotQ8_0NEON(&w[0], &a[0], nb)
	}
	k.q8_0Rows = nil // the single-row kernel per row
	return k
}

// platformKernelSets lists the assembly implementations: NEON.
func platformKernelSets() []*dotKernels { return []*dotKernels{&neonKernels} }
