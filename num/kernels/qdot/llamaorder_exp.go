package qdot

import "math"

// The exponential of ggml's vectorised softmax and SiLU (ggml_v_expf, the
// AVX-512 version): a degree-5 polynomial on the argument reduced by
// n = round(x·log2 e), scaled by 2ⁿ, flushed to 0 or +Inf when |n| > 192.
// On amd64 with AVX2+FMA the vector code runs in assembly for lanes with
// |x| ≤ 87 (where 2ⁿ is a normal float32 and j·2ⁿ rounds as the AVX-512
// scalef does); the rest go through the portable version.

// expLimit bounds the arguments the assembly handles (|n| ≤ 126 needs
// |x| below 126·ln 2 ≈ 87.3).
const expLimit = 87

// ExpfLlama is ggml_v_expf for one value, as the build LlamaOrderVariant
// names computes it.
func ExpfLlama(x float32) float32 {
	if !llama512 {
		return expfAVX2Build(x)
	}
	const r = 0x1.8p23
	z := FMA32(x, 0x1.715476p+0, r)
	n := z - r
	b := FMA32(-n, 0x1.7f7d1cp-20, FMA32(-n, 0x1.62e4p-1, x))
	if n > 192 || n < -192 {
		if n <= 0 {
			return 0
		}
		return float32(math.Inf(1))
	}
	u := b * b
	j := FMA32(FMA32(FMA32(0x1.0e4020p-7, b, 0x1.573e2ep-5), u, FMA32(0x1.555e66p-3, b, 0x1.fffdb6p-2)), u,
		FMA32(0x1.ffffecp-1, b, 1))
	// scalef: j·2ⁿ, exact in float64, rounded once to float32
	return float32(math.Ldexp(float64(j), int(n)))
}

// ExpLlama sets dst[i] = ExpfLlama(src[i]) (len(dst) ≥ len(src); dst may
// be src).
func ExpLlama(dst, src []float32) {
	n := len(src)
	_ = dst[:n]
	done := 0
	if llamaOrderAsm {
		// chunks of 64: keep the arguments the assembly cannot take before
		// dst (possibly src) is overwritten, then redo them
		var keep [64]int
		var keepV [64]float32
		for c := 0; c+8 <= n; c += 64 {
			m := min(64, (n-c)&^7)
			k := 0
			for i := c; i < c+m; i++ {
				if v := src[i]; v > expLimit || v < -expLimit || v != v {
					keep[k], keepV[k] = i, v
					k++
				}
			}
			if llama512 {
				expAVX2(&dst[c], &src[c], m)
			} else {
				exp2AVX2(&dst[c], &src[c], m)
			}
			for j := 0; j < k; j++ {
				dst[keep[j]] = ExpfLlama(keepV[j])
			}
			done = c + m
		}
	}
	for i := done; i < n; i++ {
		dst[i] = ExpfLlama(src[i])
	}
}

// SwiGLULlama sets g[i] = silu(g[i])·u[i] as ggml_vec_swiglu_f32: SiLU
// x/(1+exp(0−x)) with ExpfLlama over whole vectors (16 elements with
// AVX-512, 8 with AVX2), then libm's expf (correctly rounded in practice)
// for the elements after the last one.
func SwiGLULlama(g, u []float32) {
	n := len(g)
	_ = u[:n]
	vw := 16
	if !llama512 {
		vw = 8
	}
	nv := n - n%vw
	done := 0
	if llamaOrderAsm && nv > 0 {
		// keep the arguments the assembly cannot take before overwriting g
		var keep [16]int
		var keepV [16]float32
		for c := 0; c < nv; c += vw {
			k := 0
			for i := c; i < c+vw; i++ {
				if v := g[i]; v > expLimit || v < -expLimit || v != v {
					keep[k], keepV[k] = i, v
					k++
				}
			}
			if llama512 {
				siluMulAVX2(&g[c], &g[c], &u[c], vw)
			} else {
				siluMul2AVX2(&g[c], &g[c], &u[c], vw)
			}
			for j := 0; j < k; j++ {
				i, v := keep[j], keepV[j]
				g[i] = v / (1 + ExpfLlama(0-v)) * u[i]
			}
		}
		done = nv
	}
	for i := done; i < nv; i++ {
		v := g[i]
		g[i] = v / (1 + ExpfLlama(0-v)) * u[i]
	}
	for i := nv; i < n; i++ {
		v := g[i]
		g[i] = v / (1 + float32(math.Exp(float64(-v)))) * u[i]
	}
}
