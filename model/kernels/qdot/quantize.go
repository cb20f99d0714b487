package qdot

import (
	"encoding/binary"
	"math"

	"github.com/distill-ml/distill/model/kernels/f16"
)

// QuantizeQ8_0 quantizes x (len a multiple of 32) into Q8_0 blocks in dst
// (len(x)/32·34 bytes) as llama.cpp's x86 quantize_row_q8_0 does for
// activations: d = amax/127, q = round-half-even(x·127/amax).
func QuantizeQ8_0(dst []byte, x []float32) {
	nb := len(x) / QK
	_ = dst[nb*BytesQ8_0-1]
	for i := 0; i < nb; i++ {
		xb := x[i*QK : i*QK+QK]
		b := dst[i*BytesQ8_0 : i*BytesQ8_0+BytesQ8_0]
		var amax float32
		for _, v := range xb {
			if a := float32(math.Abs(float64(v))); a > amax {
				amax = a
			}
		}
		d := amax / 127
		var id float32
		if amax != 0 {
			id = 127 / amax
		}
		binary.LittleEndian.PutUint16(b, f16.Float16(d))
		for j, v := range xb {
			b[2+j] = byte(int8(math.RoundToEven(float64(v * id))))
		}
	}
}

// QuantizeQ8_K quantizes x (len a multiple of 256) into Q8_K blocks in dst
// (len(x)/256·292 bytes) exactly as ggml's quantize_row_q8_K_ref: the value
// of largest magnitude maps to −127, d = 1/iscale, bsums per 16 elements.
func QuantizeQ8_K(dst []byte, x []float32) {
	nb := len(x) / QKK
	_ = dst[nb*BytesQ8_K-1]
	for i := 0; i < nb; i++ {
		xb := x[i*QKK : i*QKK+QKK]
		b := dst[i*BytesQ8_K : i*BytesQ8_K+BytesQ8_K]
		var amax, max float32
		for _, v := range xb {
			if a := float32(math.Abs(float64(v))); a > amax {
				amax, max = a, v
			}
		}
		if amax == 0 {
			clear(b)
			continue
		}
		iscale := -127 / max
		for j, v := range xb {
			q := math.RoundToEven(float64(iscale * v))
			if q > 127 {
				q = 127
			}
			b[4+j] = byte(int8(q))
		}
		for g := 0; g < QKK/16; g++ {
			var s int16
			for _, q := range b[4+16*g : 4+16*g+16] {
				s += int16(int8(q))
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
