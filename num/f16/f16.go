// Package f16 converts between IEEE 754 binary32 (float32) and binary16
// (half precision, stored as uint16 bits).
//
// Float32→half rounds to nearest, ties to even. Results are bit-identical to
// the x86 F16C instructions (VCVTPS2PH with rounding immediate 0, VCVTPH2PS),
// which is what ggml uses on x86:
//   - ±Inf stays ±Inf; finite values too large for half (≥ 65520) become ±Inf;
//   - NaN keeps its sign and the top 10 bits of its payload and is quieted
//     (the half quiet bit 0x0200 is set), so a NaN never turns into Inf;
//   - values below half's normal range become half subnormals, rounded to
//     nearest even; float32 subnormals become ±0 (the sign is kept);
//   - half→float32 is exact for every finite half (subnormals included); a
//     half NaN keeps its payload and is quieted (float32 bit 22 set).
//
// The slice functions use F16C (8 lanes per instruction) when the CPU has it
// and a portable Go loop otherwise; both give identical bits.
package f16

import "math"

// Float16 converts f to half precision bits (round to nearest even).
func Float16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	switch {
	case exp == 0xff:
		if mant == 0 {
			return sign | 0x7c00 // ±Inf
		}
		return sign | 0x7e00 | uint16(mant>>13) // NaN: quiet, payload kept
	case exp >= 113: // |f| ≥ 2^-14: normal half unless it overflows
		if exp >= 143 { // |f| ≥ 2^16
			return sign | 0x7c00
		}
		h := uint32(exp-112)<<10 | mant>>13
		rem := mant & 0x1fff
		if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
			h++ // a carry into the exponent is the correct result, up to Inf
		}
		return sign | uint16(h)
	case exp == 0:
		return sign // float32 zero or subnormal (< 2^-126): far below half's 2^-24 step
	default: // half subnormal: value = m · 2^(exp-150), in units of 2^-24 that is m >> (126-exp)
		shift := uint(126 - exp) // 14..125
		if shift > 24 {
			return sign // below half the smallest subnormal
		}
		m := mant | 0x800000
		h := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
}

// Float32 converts half precision bits to float32 (exact).
func Float32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		if mant == 0 {
			return math.Float32frombits(sign | 0x7f800000)
		}
		return math.Float32frombits(sign | 0x7fc00000 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	default: // subnormal half: normalise
		e := uint32(113)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	}
}

// FromFloat32 converts src to half precision into dst[:len(src)].
// It panics if dst is shorter than src.
func FromFloat32(dst []uint16, src []float32) {
	if len(dst) < len(src) {
		panic("f16.FromFloat32: dst shorter than src")
	}
	convert(dst, src, fromFloat32F16C, fromFloat32Generic)
}

// ToFloat32 converts src from half precision into dst[:len(src)].
// It panics if dst is shorter than src.
func ToFloat32(dst []float32, src []uint16) {
	if len(dst) < len(src) {
		panic("f16.ToFloat32: dst shorter than src")
	}
	convert(dst, src, toFloat32F16C, toFloat32Generic)
}

// convert runs the F16C kernel on the largest multiple of 8 elements when
// the CPU has it, and the portable conversion on the rest (len(dst) ≥
// len(src)).
func convert[D, S uint16 | float32](dst []D, src []S, f16c func(dst *D, src *S, n int), portable func(dst []D, src []S)) {
	n := 0
	if hasF16C {
		n = len(src) &^ 7
		if n > 0 {
			f16c(&dst[0], &src[0], n)
		}
	}
	portable(dst[n:], src[n:])
}

func fromFloat32Generic(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		dst[i] = Float16(f)
	}
}

func toFloat32Generic(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = Float32(h)
	}
}
