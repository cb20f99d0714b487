package qdot

import (
	"encoding/binary"
	"math"

	"golang.org/x/sys/cpu"
)

// llama.cpp's prebuilt CPU backend ships one libggml-cpu per x86 feature
// level and loads the best one the CPU supports. The float orders the
// llama.cpp-order functions reproduce depend on which: the AVX-512 builds
// (skylakex, icelake, zen4, …) use 16-lane vectors, the AVX2 builds
// (haswell, alderlake) 8-lane ones and a different exp. The runtime follows
// the build this CPU would load; older CPUs (no AVX2+FMA) get the AVX2
// orders computed portably, which llama.cpp's SSE/AVX builds do not share.

// llama512 reports whether the orders are those of an AVX-512 build (F,
// CD, VL, DQ and BW: the skylakex level and above). Read-only after init;
// tests may flip it.
var llama512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512CD && cpu.X86.HasAVX512VL &&
	cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512BW

// LlamaOrderVariant names the ggml build whose float order is reproduced:
// "avx512" or "avx2".
func LlamaOrderVariant() string {
	if llama512 {
		return "avx512"
	}
	return "avx2"
}

// F16VecBlock is the number of elements ggml_vec_dot_f16 consumes per step
// (64 with AVX-512, 32 with AVX2): an attention length padded with zero
// probabilities to a multiple of it sums like llama.cpp's padded KV length.
func F16VecBlock() int {
	if llama512 {
		return 64
	}
	return 32
}

// F16GemmBlock is tinyBLAS's F16 vector width (16 with AVX-512, 8 with AVX2).
func F16GemmBlock() int {
	if llama512 {
		return 16
	}
	return 8
}

// expfAVX2Build is ggml_v_expf of the AVX2 build for one value: the same
// reduction, the polynomial without its constant term, 2ⁿ·(j+1) formed as
// fma(j, k, k), and a two-factor scaling when |n| > 126.
func expfAVX2Build(x float32) float32 {
	const r = 0x1.8p23
	z := FMA32(x, 0x1.715476p+0, r)
	n := z - r
	b := FMA32(-n, 0x1.7f7d1cp-20, FMA32(-n, 0x1.62e4p-1, x))
	e := math.Float32bits(z) << 23
	k := math.Float32frombits(e + math.Float32bits(1))
	u := b * b
	j := FMA32(FMA32(FMA32(0x1.0e4020p-7, b, 0x1.573e2ep-5), u, FMA32(0x1.555e66p-3, b, 0x1.fffdb6p-2)), u,
		0x1.ffffecp-1*b)
	an := float32(math.Abs(float64(n)))
	if !(an > 126) {
		return FMA32(k, j, k)
	}
	var g uint32
	if n <= 0 {
		g = 0x82000000
	}
	s1 := math.Float32frombits(g + 0x7f000000)
	s2 := math.Float32frombits(e - g)
	if an > 192 {
		return s1 * s1
	}
	return FMA32(s2, j, s2) * s1
}

// hsum8LO is the AVX2 builds' horizontal sum of 8 floats (hsum_float_8,
// tinyBLAS's hsum): t = hi+lo, then (t0+t2)+(t1+t3).
func hsum8LO(v *[8]float32) float32 {
	var t [4]float32
	for i := range t {
		t[i] = v[4+i] + v[i]
	}
	return (t[0] + t[2]) + (t[1] + t[3])
}

// f16VecOrder32Go is ggml_vec_dot_f16 of the AVX2 build over full blocks of
// 32 (then the block tw/tx if not nil): four 8-lane accumulators,
// (acc0+acc2)+(acc1+acc3), lo+hi, then two horizontal adds.
func f16VecOrder32Go(w []byte, x []float32, full int, tw *[32]uint16, tx *[32]float32) float32 {
	var acc [32]float32
	for e := 0; e < 32*full; e++ {
		acc[e&31] += half(w[2*e:]) * x[e]
	}
	if tw != nil {
		for e := range acc {
			acc[e] += halfBits(tw[e]) * tx[e]
		}
	}
	var v [8]float32
	for l := range v {
		v[l] = (acc[l] + acc[16+l]) + (acc[8+l] + acc[24+l])
	}
	var t [4]float32
	for i := range t {
		t[i] = v[i] + v[4+i]
	}
	return (t[0] + t[1]) + (t[2] + t[3])
}

func f16GemmOrder8Go(w []byte, x []float32, full int, tw *[8]uint16, tx *[8]float32) float32 {
	var acc [8]float32
	for e := 0; e < 8*full; e++ {
		acc[e&7] += half(w[2*e:]) * x[e]
	}
	if tw != nil {
		for e := range acc {
			acc[e] += halfBits(tw[e]) * tx[e]
		}
	}
	return hsum8LO(&acc)
}

// f16VecOrderAVX2Build and f16GemmOrderAVX2Build are F16VecOrder and
// F16GemmOrder for the AVX2 build.
func f16VecOrderAVX2Build(w []byte, x []float32, n int, padded bool) float32 {
	full := n / 32
	rem := n - 32*full
	if padded && rem > 0 {
		var tw [32]uint16
		var tx [32]float32
		for i := 0; i < rem; i++ {
			tw[i] = binary.LittleEndian.Uint16(w[2*(32*full+i):])
			tx[i] = x[32*full+i]
		}
		return f16VecOrder32(w, x, full, &tw, &tx)
	}
	s := f16VecOrder32(w, x, full, nil, nil)
	if rem == 0 {
		return s
	}
	return f16TailSum(s, w, x, 32*full, n)
}

func f16GemmOrderAVX2Build(w []byte, x []float32, n int) float32 {
	full := n / 8
	rem := n - 8*full
	if rem > 0 {
		var tw [8]uint16
		var tx [8]float32
		for i := 0; i < rem; i++ {
			tw[i] = binary.LittleEndian.Uint16(w[2*(8*full+i):])
			tx[i] = x[8*full+i]
		}
		return f16GemmOrder8(w, x, full, &tw, &tx)
	}
	return f16GemmOrder8(w, x, full, nil, nil)
}

// SoftmaxLlama replaces x (the scaled scores of the visible positions of one
// attention row) by their softmax as ggml_compute_forward_soft_max_f32 does
// over a KV length padded with −Inf: the maximum subtracted, ggml's exp per
// vector (16 lanes with AVX-512, 8 with AVX2) summed horizontally into a
// float64 total, then every value times float32(1/total). The padding adds
// exact zeros, so it is not materialised.
func SoftmaxLlama(x []float32) {
	maxv := float32(math.Inf(-1))
	for _, v := range x {
		if v > maxv {
			maxv = v
		}
	}
	for i := range x {
		x[i] -= maxv
	}
	ExpLlama(x, x)
	var sum float64
	if llama512 {
		var lane [16]float32
		for c := 0; c < len(x); c += 16 {
			lane = [16]float32{}
			copy(lane[:], x[c:min(c+16, len(x))])
			sum += float64(Reduce16(&lane))
		}
	} else {
		var lane [8]float32
		for c := 0; c < len(x); c += 8 {
			lane = [8]float32{}
			copy(lane[:], x[c:min(c+8, len(x))])
			sum += float64(hsum8LO(&lane))
		}
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
}
