package runtime

import (
	"math"

	"github.com/distill-ml/distill/model/kernels/qdot"
)

// This file reproduces, operation by operation, the float arithmetic of
// llama.cpp's CPU backend (ggml at the commit node-llama-cpp 3.22.1 ships)
// for the element-wise and reduction steps of a llama forward pass: the
// RMS norm, the RoPE tables, the softmax and SiLU exponentials, and the
// summation order of the attention dot products. Each step is cheap, and
// matching it exactly keeps our results bit-identical to llama.cpp's where the
// weight products are too, so greedy decoding picks the same tokens even at
// near-ties (an ulp of difference in an activation would otherwise flip an
// 8-bit activation rounding now and then and grow to visible logit noise).
//
// The orders are those of ggml's AVX-512 code (the libggml-cpu variant the
// prebuilt binary loads on AVX-512 machines): 16-lane vectors, and
// GCC's _mm512_reduce_add_ps tree for horizontal sums.

// fma32 is a·b+c rounded once to float32 (the FMA instruction).
func fma32(a, b, c float32) float32 { return qdot.FMA32(a, b, c) }

// fnma32 is −(a·b)+c rounded once (the FNMADD instruction).
func fnma32(a, b, c float32) float32 { return fma32(-a, b, c) }

// expf is ggml_v_expf (the AVX-512 version): an exp with a degree-5
// polynomial on a range-reduced argument, scaled by 2ⁿ, flushing to 0 or +Inf
// beyond |n| > 192.
func expf(x float32) float32 {
	const r = 0x1.8p23
	z := fma32(x, 0x1.715476p+0, r)
	n := z - r
	b := fnma32(n, 0x1.7f7d1cp-20, fnma32(n, 0x1.62e4p-1, x))
	if n > 192 || n < -192 {
		if n <= 0 {
			return 0
		}
		return float32(math.Inf(1))
	}
	u := b * b
	j := fma32(fma32(fma32(0x1.0e4020p-7, b, 0x1.573e2ep-5), u, fma32(0x1.555e66p-3, b, 0x1.fffdb6p-2)), u,
		fma32(0x1.ffffecp-1, b, 1))
	// scalef: j·2ⁿ, exact in float64, rounded once to float32
	return float32(math.Ldexp(float64(j), int(n)))
}

// silu is ggml_v_silu: x / (1 + exp(−x)).
func silu(x float32) float32 { return x / (1 + expf(0-x)) }

// siluScalar is ggml_silu_f32, used for the elements after the last full
// 16-lane vector: libm's expf, which rounds correctly in practice.
func siluScalar(x float32) float32 { return x / (1 + float32(math.Exp(float64(-x)))) }

// swiGLU sets g[i] = silu(g[i])·u[i] over one row as ggml_vec_swiglu_f32
// does: 16-element vectors with the polynomial exp, then scalar leftovers.
func swiGLU(g, u []float32) {
	nv := len(g) - len(g)%16
	for i := 0; i < nv; i++ {
		g[i] = silu(g[i]) * u[i]
	}
	for i := nv; i < len(g); i++ {
		g[i] = siluScalar(g[i]) * u[i]
	}
}

// softmaxRow replaces x[:n] (scaled scores of the visible positions) by
// their softmax as ggml_compute_forward_soft_max_f32 does over a KV length
// padded with masked (−Inf) entries: exp of each 16-element vector summed
// with reduce16 into a float64 total, then scaled by float32(1/total). The
// padding contributes exact zeros, so it is not materialised.
func softmaxRow(x []float32) {
	maxv := float32(math.Inf(-1))
	for _, v := range x {
		if v > maxv {
			maxv = v
		}
	}
	var sum float64
	var lane [16]float32
	for c := 0; c < len(x); c += 16 {
		lane = [16]float32{}
		for l := 0; l < 16 && c+l < len(x); l++ {
			e := expf(x[c+l] - maxv)
			x[c+l] = e
			lane[l] = e
		}
		sum += float64(qdot.Reduce16(&lane))
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
}

// ropePair rotates (x0, x1) by the angle with cosine c and sine s as ggml's
// rope does once compiled with FMA contraction: x0·c − x1·s and x0·s + x1·c
// each as one fused multiply-add of x0 onto the rounded x1 product.
func ropePair(x0, x1, c, s float32) (float32, float32) {
	return fma32(x0, c, -(x1 * s)), fma32(x0, s, x1*c)
}

// rmsNormExact is ggml's rms_norm followed by the weight multiply:
// Σ float32(x²) accumulated in float64, mean and scale in float32.
// dst = x·scale·w.
func rmsNormExact(dst, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		sq := v * v
		ss += float64(sq)
	}
	mean := float32(ss / float64(len(x)))
	scale := 1 / float32(math.Sqrt(float64(mean+eps)))
	for i, v := range x {
		dst[i] = v * scale * w[i]
	}
}

// ropeTables fills cos/sin [ctxLen, ropeDim/2] as ggml_rope_cache_init
// does: the angle of pair i at position p is p·θⁱ with θ = base^(−2/ropeDim)
// as a float32 power and the product accumulated in float32, one multiply
// per pair.
func ropeTables(cos, sin []float32, ctxLen, ropeDim int, base float64) {
	half := ropeDim / 2
	thetaScale := float32(math.Pow(float64(float32(base)), float64(float32(-2.0)/float32(ropeDim))))
	for p := 0; p < ctxLen; p++ {
		theta := float32(p)
		for i := 0; i < half; i++ {
			cos[p*half+i] = float32(math.Cos(float64(theta)))
			sin[p*half+i] = float32(math.Sin(float64(theta)))
			theta *= thetaScale
		}
	}
}
