package infer

import (
	"math"

	"github.com/distill-ml/distill/num/kernels/qdot"
)

// This file reproduces, operation by operation, the float arithmetic of
// llama.cpp's CPU backend (ggml at the commit node-llama-cpp 3.22.1 ships)
// for the element-wise and reduction steps of a llama forward pass: the RoPE
// tables and rotation, the softmax and SiLU exponentials, and the summation
// order of the attention dot products (the RMS norm's float rounding of x² is
// in session.go's rmsNorm; the weight products' orders in exact_mul.go). Each step is cheap, and
// matching it exactly keeps our results bit-identical to llama.cpp's where the
// weight products are too, so greedy decoding picks the same tokens even at
// near-ties (an ulp of difference in an activation would otherwise flip an
// 8-bit activation rounding now and then and grow to visible logit noise).
//
// The vector orders follow the libggml-cpu build llama.cpp's prebuilt
// binary loads on this CPU (qdot.LlamaOrderVariant: AVX-512 or AVX2).

// fma32 is a·b+c rounded once to float32 (the FMA instruction).
func fma32(a, b, c float32) float32 { return qdot.FMA32(a, b, c) }

// swiGLU sets g[i] = silu(g[i])·u[i] over one row as ggml_vec_swiglu_f32
// does (vectors with ggml's polynomial exp, scalar leftovers).
func swiGLU(g, u []float32) { qdot.SwiGLULlama(g, u) }

// softmaxRow replaces x[:n] (scaled scores of the visible positions) by
// their softmax as ggml computes it over its padded KV length
// (qdot.SoftmaxLlama).
func softmaxRow(x []float32) { qdot.SoftmaxLlama(x) }

// ropePair rotates (x0, x1) by the angle with cosine c and sine s as ggml's
// rope does once compiled with FMA contraction: x0·c − x1·s and x0·s + x1·c
// each as one fused multiply-add of x0 onto the rounded x1 product.
func ropePair(x0, x1, c, s float32) (float32, float32) {
	return fma32(x0, c, -(x1 * s)), fma32(x0, s, x1*c)
}

// ropeTables fills the rows [from, to) of cos/sin [positions, ropeDim/2] as
// ggml_rope_cache_init does: the angle of pair i at position p is p·θⁱ with
// θ = base^(−2/ropeDim) as a float32 power and the product accumulated in
// float32, one multiply per pair; sine and cosine as glibc's sinf/cosf
// (exact_trig.go). Each row depends on its position only, so tables can be
// filled piece by piece as a session grows.
//
// freqFactors (rope_freqs.weight, Llama 3 scaling; nil for none) divides the
// angle of pair i before its sine and cosine, as ggml's rope_yarn does with
// freq_factors (ext_factor 0, freq_scale 1).
func ropeTables(cos, sin []float32, from, to, ropeDim int, base float64, freqFactors []float32) {
	half := ropeDim / 2
	thetaScale := float32(math.Pow(float64(float32(base)), float64(float32(-2.0)/float32(ropeDim))))
	for p := from; p < to; p++ {
		theta := float32(p)
		for i := 0; i < half; i++ {
			angle := theta
			if freqFactors != nil {
				angle = theta / freqFactors[i]
			}
			sin[p*half+i], cos[p*half+i] = sinCosf32(angle)
			theta *= thetaScale
		}
	}
}
