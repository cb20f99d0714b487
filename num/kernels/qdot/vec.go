package qdot

import "unsafe"

// DotF32 is Σ w[i]·x[i] over len(x) elements (len(w) ≥ len(x)).
func DotF32(w, x []float32) float32 {
	if len(x) == 0 {
		return 0
	}
	_ = w[len(x)-1]
	return kernelSet.f32(unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 4*len(x)), x)
}

// DotF16 is Σ half(w[2i:])·x[i] over len(x) elements of little-endian
// IEEE halves in w (len(w) ≥ 2·len(x)).
func DotF16(w []byte, x []float32) float32 {
	if len(x) == 0 {
		return 0
	}
	_ = w[2*len(x)-1]
	return kernelSet.f16(w, x)
}
