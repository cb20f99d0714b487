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

// q4KChunkSums sets out to one Q4_K super-block's eight unscaled chunk
// sums (dot_arm64.s); q is the 128 code bytes, a the 256 activation codes.
//
//go:noescape
func q4KChunkSums(q, a *byte, out *[8]int32)

// q6KLanes sets out to one Q6_K super-block's eight integer lanes without
// the −32 code offset (dot_arm64.s); w is the block, a the 256 activation
// codes, scl the 16 sub-block scales.
//
//go:noescape
func q6KLanes(w, a *byte, scl *[16]int32, out *[8]int32)

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
	k.q8_0 = asmDotChecked(dotQ8_0NEON, BytesQ8_0, BytesQ8_0)
	k.q4_K = func(w, a []byte, nb int) float32 {
		if !dotBounds(w, a, nb, BytesQ4_K, BytesQ8_K) {
			return 0
		}
		return dotQ4_KNEON(w, a, nb)
	}
	k.q6_K = func(w, a []byte, nb int) float32 {
		if !dotBounds(w, a, nb, BytesQ6_K, BytesQ8_K) {
			return 0
		}
		return dotQ6_KNEON(w, a, nb)
	}
	k.q8_0Rows, k.q4_KRows, k.q6_KRows = nil, nil, nil // the single-row kernels per row
	return k
}

// platformKernelSets lists the assembly implementations: NEON.
func platformKernelSets() []*dotKernels { return []*dotKernels{&neonKernels} }

// dotQ4_KNEON is dotQ4_KGo with each super-block's integer sums from NEON
// (exact, so in any order); the scales, and the float steps in
// dotQ4_KGo's order, stay in Go.
func dotQ4_KNEON(w, a []byte, nb int) float32 {
	var acc, accm float32
	var sums [8]int32
	for i := 0; i < nb; i++ {
		wb := w[i*BytesQ4_K : i*BytesQ4_K+BytesQ4_K]
		ab := a[i*BytesQ8_K : i*BytesQ8_K+BytesQ8_K]
		sc, m := scaleMinK4(wb[4:16])
		q4KChunkSums(&wb[16], &ab[4], &sums)
		var sumi int32
		for j, s := range sums {
			sumi += s * int32(sc[j])
		}
		da := q8KScale(ab)
		acc = fma32(float32(sumi), half(wb)*da, acc)
		accm = fma32(float32(q4KMins(ab, &m)), half(wb[2:])*da, accm)
	}
	return acc - accm
}

// dotQ6_KNEON is dotQ6_KGo with each super-block's lanes from NEON (integer,
// exact): lane k is q6KLanes' lane minus 32·(sc[2k]·bsums[2k] +
// sc[2k+1]·bsums[2k+1]), then one FMA per lane with d·da and hsum8, in
// dotQ6_KGo's order.
func dotQ6_KNEON(w, a []byte, nb int) float32 {
	var acc [8]float32
	var scl [16]int32
	var lanes [8]int32
	for i := 0; i < nb; i++ {
		wb := w[i*BytesQ6_K : i*BytesQ6_K+BytesQ6_K]
		ab := a[i*BytesQ8_K : i*BytesQ8_K+BytesQ8_K]
		for g, s := range wb[192:208] {
			scl[g] = int32(int8(s))
		}
		q6KLanes(&wb[0], &ab[4], &scl, &lanes)
		for k := range lanes {
			lanes[k] -= (scl[2*k]*q8KBsum(ab, 2*k) + scl[2*k+1]*q8KBsum(ab, 2*k+1)) << 5
		}
		fmaLanes(&acc, &lanes, half(wb[208:])*q8KScale(ab))
	}
	return hsum8(&acc)
}
