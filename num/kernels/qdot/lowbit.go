package qdot

import (
	"encoding/binary"

	"github.com/distill-ml/distill/num/f16"
)

// Q5_1, Q3_K and Q2_K weights — the fallback of Q5_K rows that are not a
// multiple of 256, and the low-bit K-quants of llama.cpp's Q3_K_M/S and Q2_K
// mixes — have only the portable code here, which every implementation
// (go, avx2, avx512) runs, in the float order of ggml's AVX2
// ggml_vec_dot_q5_1_q8_1 / q3_K_q8_K / q2_K_q8_K (the same in its AVX-512
// builds): integer block sums in eight int32 lanes, one FMA per lane and
// block (Q2_K: first its mins, then its sums), ggml's horizontal sum; Q5_1
// adds Σ m·s, accumulated with one FMA per block as GCC contracts that C
// line, after the lanes.
//
// Block layouts (little-endian):
//
//	Q5_1  24 B / 32 el:  d f16, m f16, qh u32, qs [16]u8   x = d·q + m
//	Q8_1  36 B / 32 el:  d f16, s f16 (d·Σq), qs [32]int8 (activations only)
//	Q3_K 110 B / 256 el: hmask [32]u8, qs [64]u8, scales [12]u8 (16 six-bit), d f16
//	                     x = d·(sc−32)·(q−4), q = 2 low bits | high bit·4
//	Q2_K  84 B / 256 el: scales [16]u8 (scale | min<<4), qs [64]u8, d, dmin f16
//	                     x = d·sc·q − dmin·m

// quantizeQ8_1 quantizes x (len a multiple of 32) into Q8_1 blocks as
// ggml's x86 quantize_row_q8_1: the codes of quantize_row_q8_0 (d = amax/127,
// codes rounded half to even) plus s = d·Σ codes rounded to F16.
func quantizeQ8_1(dst []byte, x []float32) {
	var b0 [BytesQ8_0]byte
	for i := 0; i < len(x)/QK; i++ {
		QuantizeQ8_0(b0[:], x[i*QK:i*QK+QK])
		b := dst[i*BytesQ8_1 : i*BytesQ8_1+BytesQ8_1]
		copy(b[0:2], b0[0:2])
		copy(b[4:], b0[2:])
		var sum int32
		for _, c := range b0[2:] {
			sum += int32(int8(c))
		}
		d := absMax(x[i*QK:i*QK+QK]) / 127 // unrounded, as the C code multiplies it
		binary.LittleEndian.PutUint16(b[2:], f16.Float16(d*float32(sum)))
	}
}

// q5_1Code returns element e's 5-bit code of a Q5_1 block.
func q5_1Code(wb []byte, qh uint32, e int) int32 {
	if e < 16 {
		return int32(wb[8+e]&15) | int32((qh>>e)&1)<<4
	}
	return int32(wb[8+e-16]>>4) | int32((qh>>e)&1)<<4
}

func dotQ5_1Go(w, a []byte, nb int) float32 {
	var acc [8]float32
	var summs float32
	for i := 0; i < nb; i++ {
		wb := w[i*BytesQ5_1 : i*BytesQ5_1+BytesQ5_1]
		ab := a[i*BytesQ8_1 : i*BytesQ8_1+BytesQ8_1]
		summs = fma32(half(wb[2:]), half(ab[2:]), summs)
		qh := binary.LittleEndian.Uint32(wb[4:])
		var lanes [8]int32
		for e := 0; e < QK; e++ {
			lanes[e/4] += q5_1Code(wb, qh, e) * int32(int8(ab[4+e]))
		}
		fmaLanes(&acc, &lanes, half(wb)*half(ab))
	}
	return hsum8(&acc) + summs
}

// q3KScales unpacks the sixteen signed scales (sc−32) of a Q3_K block.
func q3KScales(b []byte) (sc [16]int32) {
	for j := 0; j < 16; j++ {
		var lo uint8
		if j < 8 {
			lo = b[j] & 15
		} else {
			lo = b[j-8] >> 4
		}
		sc[j] = int32(lo|((b[8+j%4]>>(2*(j/4)))&3)<<4) - 32
	}
	return
}

// dotQ3_KGo: lane k collects, for each 128-element half h and 32-element
// chunk c, scale[8h+2c+k/4] times the codes (q−4) of elements 4k..4k+3 of
// the chunk times their activations; one FMA per lane with da·d.
func dotQ3_KGo(w, a []byte, nb int) float32 {
	var acc [8]float32
	for i := 0; i < nb; i++ {
		wb := w[i*BytesQ3_K : i*BytesQ3_K+BytesQ3_K]
		ab := a[i*BytesQ8_K : i*BytesQ8_K+BytesQ8_K]
		hm, sc := wb[0:32], q3KScales(wb[96:108])
		var lanes [8]int32
		for h := 0; h < 2; h++ {
			q3 := wb[32+32*h : 64+32*h]
			for c := 0; c < 4; c++ {
				aq := ab[4+128*h+32*c:]
				bit := uint(4*h + c)
				for k := 0; k < 8; k++ {
					var s int32
					for b := 4 * k; b < 4*k+4; b++ {
						q := int32((q3[b]>>(2*c))&3) - 4 + 4*int32((hm[b]>>bit)&1)
						s += q * int32(int8(aq[b]))
					}
					lanes[k] += sc[8*h+2*c+k/4] * s
				}
			}
		}
		fmaLanes(&acc, &lanes, q8KScale(ab)*half(wb[108:]))
	}
	return hsum8(&acc)
}

// dotQ2_KGo: per block, lane k first gets m[2k]·bsums[2k] + m[2k+1]·bsums[2k+1]
// FMA'd with −da·dmin, then the scaled code sums (as Q3_K, codes 0..3) FMA'd
// with da·d.
func dotQ2_KGo(w, a []byte, nb int) float32 {
	var acc [8]float32
	for i := 0; i < nb; i++ {
		wb := w[i*BytesQ2_K : i*BytesQ2_K+BytesQ2_K]
		ab := a[i*BytesQ8_K : i*BytesQ8_K+BytesQ8_K]
		sc := wb[0:16]
		da := q8KScale(ab)
		var mins [8]int32
		for k := range mins {
			mins[k] = int32(sc[2*k]>>4)*q8KBsum(ab, 2*k) + int32(sc[2*k+1]>>4)*q8KBsum(ab, 2*k+1)
		}
		fmaLanes(&acc, &mins, -da*half(wb[82:]))
		var lanes [8]int32
		for h := 0; h < 2; h++ {
			q2 := wb[16+32*h : 48+32*h]
			for c := 0; c < 4; c++ {
				aq := ab[4+128*h+32*c:]
				for k := 0; k < 8; k++ {
					var s int32
					for b := 4 * k; b < 4*k+4; b++ {
						s += int32((q2[b]>>(2*c))&3) * int32(int8(aq[b]))
					}
					lanes[k] += int32(sc[8*h+2*c+k/4]&15) * s
				}
			}
		}
		fmaLanes(&acc, &lanes, da*half(wb[80:]))
	}
	return hsum8(&acc)
}

// dequantizeLowBit is DequantizeRow for Q5_1, Q8_1, Q3_K and Q2_K (ggml's
// dequantize_row_*), reporting false for other types.
func dequantizeLowBit(t Type, dst []float32, src []byte, n int) bool {
	switch t {
	case Q5_1:
		for i := 0; i < n/QK; i++ {
			b := src[i*BytesQ5_1:]
			d, m := half(b), half(b[2:])
			qh := binary.LittleEndian.Uint32(b[4:])
			for e := 0; e < QK; e++ {
				dst[i*QK+e] = float32(float32(q5_1Code(b, qh, e))*d) + m
			}
		}
	case Q8_1:
		for i := 0; i < n/QK; i++ {
			b := src[i*BytesQ8_1:]
			d := half(b)
			for j := 0; j < QK; j++ {
				dst[i*QK+j] = float32(int8(b[4+j])) * d
			}
		}
	case Q3_K:
		for i := 0; i < n/QKK; i++ {
			b := src[i*BytesQ3_K:]
			d := half(b[108:])
			hm, sc := b[0:32], q3KScales(b[96:108])
			y := dst[i*QKK:]
			for h := 0; h < 2; h++ {
				q3 := b[32+32*h:]
				for c := 0; c < 4; c++ {
					for l := 0; l < 32; l++ {
						q := int32((q3[l]>>(2*c))&3) - 4 + 4*int32((hm[l]>>(4*h+c))&1)
						y[128*h+32*c+l] = d * float32(sc[8*h+2*c+l/16]) * float32(q)
					}
				}
			}
		}
	case Q2_K:
		for i := 0; i < n/QKK; i++ {
			b := src[i*BytesQ2_K:]
			d, dmin := half(b[80:]), half(b[82:])
			sc := b[0:16]
			y := dst[i*QKK:]
			for h := 0; h < 2; h++ {
				q2 := b[16+32*h:]
				for c := 0; c < 4; c++ {
					for l := 0; l < 32; l++ {
						s := sc[8*h+2*c+l/16]
						dl, ml := d*float32(s&15), dmin*float32(s>>4)
						y[128*h+32*c+l] = float32(dl*float32((q2[l]>>(2*c))&3)) - ml
					}
				}
			}
		}
	default:
		return false
	}
	return true
}
