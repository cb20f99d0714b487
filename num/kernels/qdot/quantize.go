package qdot

import (
	"encoding/binary"
	"math"

	"github.com/distill-ml/distill/num/f16"
)

// QuantizeQ8_0 quantizes x (len a multiple of 32) into Q8_0 blocks in dst
// (len(x)/32·34 bytes) as llama.cpp's x86 quantize_row_q8_0 does for
// activations: d = amax/127, q = round-half-even(x·127/amax).
func QuantizeQ8_0(dst []byte, x []float32) {
	if kernelSet.quantizeQ8_0 != nil {
		kernelSet.quantizeQ8_0(dst, x)
		return
	}
	quantizeQ8_0Go(dst, x)
}

func quantizeQ8_0Go(dst []byte, x []float32) {
	nb := len(x) / QK
	if nb == 0 {
		return
	}
	_ = dst[nb*BytesQ8_0-1]
	for i := 0; i < nb; i++ {
		xb := x[i*QK : i*QK+QK]
		b := dst[i*BytesQ8_0 : i*BytesQ8_0+BytesQ8_0]
		amax := absMax(xb)
		d := amax / 127
		var id float32
		if amax != 0 {
			id = 127 / amax
		}
		binary.LittleEndian.PutUint16(b, f16.Float16(d))
		q := b[2:BytesQ8_0]
		q = q[:len(xb)]
		for j, v := range xb {
			q[j] = byte(int8(roundEven(v * id)))
		}
	}
}

// absMax is max |v| over xb (len a multiple of 4), NaNs skipped (as a >
// comparison skips them): the bit patterns of non-negative floats order
// like the floats, so the maximum is taken on integers, without branches,
// in four independent chains.
func absMax(xb []float32) float32 {
	abs := func(v float32) uint32 {
		a := math.Float32bits(v) &^ (1 << 31)
		if a > 0x7f800000 { // NaN
			a = 0
		}
		return a
	}
	var m0, m1, m2, m3 uint32
	for i := 0; i+3 < len(xb); i += 4 {
		m0 = max(m0, abs(xb[i]))
		m1 = max(m1, abs(xb[i+1]))
		m2 = max(m2, abs(xb[i+2]))
		m3 = max(m3, abs(xb[i+3]))
	}
	return math.Float32frombits(max(m0, m1, m2, m3))
}

// roundEven rounds p to the nearest integer, ties to even, for |p| < 2²²
// (adding and removing 1.5·2²³ leaves no fraction bits; float32 addition
// rounds half to even). Activation codes satisfy |p| ≤ 127.00002; a NaN
// stays NaN. float32(p) keeps p's own rounding where the caller passes a
// product: without it gc on arm64 fuses v·id + magic into one FMADD.
func roundEven(p float32) float32 {
	const magic = 0x1.8p23
	return (float32(p) + magic) - magic
}

// QuantizeQ8_K quantizes x (len a multiple of 256) into Q8_K blocks in dst
// (len(x)/256·292 bytes) exactly as ggml's quantize_row_q8_K_ref: the value
// of largest magnitude maps to −127, d = 1/iscale, bsums per 16 elements.
func QuantizeQ8_K(dst []byte, x []float32) {
	if kernelSet.quantizeQ8_K != nil {
		kernelSet.quantizeQ8_K(dst, x)
		return
	}
	quantizeQ8_KGo(dst, x)
}

func quantizeQ8_KGo(dst []byte, x []float32) {
	nb := len(x) / QKK
	_ = dst[nb*BytesQ8_K-1]
	for i := 0; i < nb; i++ {
		xb := x[i*QKK : i*QKK+QKK]
		b := dst[i*BytesQ8_K : i*BytesQ8_K+BytesQ8_K]
		var amax, max float32
		for _, v := range xb {
			if a := math.Float32frombits(math.Float32bits(v) &^ (1 << 31)); a > amax {
				amax, max = a, v
			}
		}
		if amax == 0 {
			clear(b)
			continue
		}
		iscale := -127 / max
		q := b[4 : 4+QKK]
		for j, v := range xb {
			r := roundEven(iscale * v)
			if r > 127 {
				r = 127
			}
			q[j] = byte(int8(r))
		}
		for g := 0; g < QKK/16; g++ {
			var s int16
			for _, c := range q[16*g : 16*g+16] {
				s += int16(int8(c))
			}
			binary.LittleEndian.PutUint16(b[4+QKK+2*g:], uint16(s))
		}
		binary.LittleEndian.PutUint32(b, math.Float32bits(1/iscale))
	}
}

// QuantizeActivations quantizes x into the format t's dot product consumes
// (VecDotType(t)), reusing buf when large enough; for F32/F16 weights it
// returns nil (the dot products read x directly).
func QuantizeActivations(t Type, x []float32, buf []byte) []byte {
	vt := VecDotType(t)
	switch vt {
	case Q8_0:
		n := len(x) / QK * BytesQ8_0
		buf = grow(buf, n)
		QuantizeQ8_0(buf, x)
		return buf
	case Q8_1:
		n := len(x) / QK * BytesQ8_1
		buf = grow(buf, n)
		quantizeQ8_1(buf, x)
		return buf
	case Q8_K:
		n := len(x) / QKK * BytesQ8_K
		buf = grow(buf, n)
		QuantizeQ8_K(buf, x)
		return buf
	}
	return nil
}

func grow(buf []byte, n int) []byte {
	if cap(buf) < n {
		return make([]byte, n)
	}
	return buf[:n]
}

func half(b []byte) float32 { return f16.Float32(binary.LittleEndian.Uint16(b)) }

// RoundActivations sets dst[:len(x)] to the activations x as the dot
// products of weight type t consume them: quantized to VecDotType(t) and
// back (Q8_0, Q8_K: d·q element by element), rounded to F16 for F16
// weights, unchanged for F32. Multiplying these by the dequantized weights
// forms the same products as the quantized dot products, so a GEMM over
// them (the runtime's fast prompt path) differs from the dot products only
// in the order of the additions, not by the activation quantization noise.
// len(x) must be a multiple of VecDotType(t)'s block (whole rows of a
// weight's width are); buf is byte scratch, returned grown.
func RoundActivations(t Type, dst, x []float32, buf []byte) []byte {
	dst = dst[:len(x)]
	switch vt := VecDotType(t); vt {
	case Q8_0, Q8_1, Q8_K:
		buf = QuantizeActivations(t, x, buf)
		if err := DequantizeRow(vt, dst, buf, len(x)); err != nil {
			panic("qdot: RoundActivations: " + err.Error())
		}
	default:
		if t == F16 {
			roundToF16(dst, x)
		} else {
			copy(dst, x)
		}
	}
	return buf
}
