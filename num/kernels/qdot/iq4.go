package qdot

// IQ4_NL and IQ4_XS weights (llama.cpp's IQ4_NL/IQ4_XS files) and Q4_1
// (llama.cpp's Q4_0 files with an importance matrix give it to the first
// eighth of ffn_down) have only the portable code here, which every
// implementation (go, avx2, avx512) runs, in the float order of ggml's AVX2
// ggml_vec_dot_iq4_nl_q8_0 / iq4_xs_q8_K / q4_1_q8_1.
//
// Block layouts (little-endian; kvalues are ggml's 16 non-linear levels):
//
//	IQ4_NL  18 B / 32 el:  d f16, qs [16]u8 (el j: low nibble, el 16+j: high)  x = d·kvalues[q]
//	IQ4_XS 136 B / 256 el: d f16, scales_h u16, scales_l [4]u8, qs [128]u8
//	                       x = d·(ls−32)·kvalues[q], ls = 4 bits of scales_l | 2 of scales_h
//	Q4_1    20 B / 32 el:  d f16, m f16, qs [16]u8                              x = d·q + m

// kvaluesIQ4NL is ggml's kvalues_iq4nl (ggml-common.h).
var kvaluesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// iq4Lanes sums one 32-element block of 4-bit codes qs (16 bytes: element j
// in the low nibble of byte j, element 16+j in the high one) mapped through
// kvalues times the int8 activations aq: lane k holds elements 4k..4k+3.
func iq4Lanes(qs, aq []byte) (lanes [8]int32) {
	for e := 0; e < QK; e++ {
		lanes[e/4] += int32(kvaluesIQ4NL[iq4Code(qs, e)]) * int32(int8(aq[e]))
	}
	return
}

// dotIQ4_NLGo is ggml_vec_dot_iq4_nl_q8_0: blocks in pairs, the even block
// into one set of eight accumulators and the odd one into another (one FMA
// per lane with da·d), the two sets added lane by lane and summed as
// hsum8; an odd last block is then added as one FMA of its integer sum.
func dotIQ4_NLGo(w, a []byte, nb int) float32 {
	var acc1, acc2 [8]float32
	ib := 0
	for ; ib+1 < nb; ib += 2 {
		for k, acc := range []*[8]float32{&acc1, &acc2} {
			wb := w[(ib+k)*BytesIQ4_NL : (ib+k+1)*BytesIQ4_NL]
			ab := a[(ib+k)*BytesQ8_0 : (ib+k+1)*BytesQ8_0]
			lanes := iq4Lanes(wb[2:18], ab[2:34])
			fmaLanes(acc, &lanes, half(ab)*half(wb))
		}
	}
	var sum [8]float32
	for k := range sum {
		sum[k] = acc1[k] + acc2[k]
	}
	sumf := hsum8(&sum)
	for ; ib < nb; ib++ {
		wb := w[ib*BytesIQ4_NL : (ib+1)*BytesIQ4_NL]
		ab := a[ib*BytesQ8_0 : (ib+1)*BytesQ8_0]
		lanes := iq4Lanes(wb[2:18], ab[2:34])
		var s int32
		for _, l := range lanes {
			s += l
		}
		sumf = fma32(half(ab)*half(wb), float32(s), sumf)
	}
	return sumf
}

// iq4XSScale is sub-block ib's signed scale ls−32 of an IQ4_XS block.
func iq4XSScale(wb []byte, ib int) int32 {
	sh := uint16(wb[2]) | uint16(wb[3])<<8
	return int32((wb[4+ib/2]>>(4*(ib%2)))&15|uint8((sh>>(2*ib))&3)<<4) - 32
}

// dotIQ4_XSGo is ggml_vec_dot_iq4_xs_q8_K: per super-block, lane k sums the
// eight sub-blocks' lane k times their scales exactly, then one FMA per lane
// with d·da; hsum8 at the end.
func dotIQ4_XSGo(w, a []byte, nb int) float32 {
	var acc [8]float32
	for i := 0; i < nb; i++ {
		wb := w[i*BytesIQ4_XS : (i+1)*BytesIQ4_XS]
		ab := a[i*BytesQ8_K : (i+1)*BytesQ8_K]
		var lanes [8]int32
		for ib := 0; ib < QKK/32; ib++ {
			sub := iq4Lanes(wb[8+16*ib:24+16*ib], ab[4+32*ib:36+32*ib])
			ls := iq4XSScale(wb, ib)
			for k := range lanes {
				lanes[k] += ls * sub[k]
			}
		}
		fmaLanes(&acc, &lanes, half(wb)*q8KScale(ab))
	}
	return hsum8(&acc)
}

// dotQ4_1Go is ggml_vec_dot_q4_1_q8_1: as dotQ5_1Go with 4-bit codes.
func dotQ4_1Go(w, a []byte, nb int) float32 {
	var acc [8]float32
	var summs float32
	for i := 0; i < nb; i++ {
		wb := w[i*BytesQ4_1 : (i+1)*BytesQ4_1]
		ab := a[i*BytesQ8_1 : (i+1)*BytesQ8_1]
		summs = fma32(half(wb[2:]), half(ab[2:]), summs)
		var lanes [8]int32
		for e := 0; e < QK; e++ {
			lanes[e/4] += int32(iq4Code(wb[4:20], e)) * int32(int8(ab[4+e]))
		}
		fmaLanes(&acc, &lanes, half(wb)*half(ab))
	}
	return hsum8(&acc) + summs
}

// dequantizeIQ4 is DequantizeRow for IQ4_NL, IQ4_XS and Q4_1 (ggml's
// dequantize_row_*), reporting false for other types.
func dequantizeIQ4(t Type, dst []float32, src []byte, n int) bool {
	switch t {
	case IQ4_NL:
		for i := 0; i < n/QK; i++ {
			b := src[i*BytesIQ4_NL:]
			d := half(b)
			for e := 0; e < QK; e++ {
				dst[i*QK+e] = d * float32(kvaluesIQ4NL[iq4Code(b[2:18], e)])
			}
		}
	case IQ4_XS:
		for i := 0; i < n/QKK; i++ {
			b := src[i*BytesIQ4_XS:]
			d := half(b)
			for ib := 0; ib < QKK/32; ib++ {
				dl := d * float32(iq4XSScale(b, ib))
				for e := 0; e < QK; e++ {
					dst[i*QKK+32*ib+e] = dl * float32(kvaluesIQ4NL[iq4Code(b[8+16*ib:24+16*ib], e)])
				}
			}
		}
	case Q4_1:
		for i := 0; i < n/QK; i++ {
			b := src[i*BytesQ4_1:]
			d, m := half(b), half(b[2:])
			for e := 0; e < QK; e++ {
				dst[i*QK+e] = float32(float32(iq4Code(b[4:20], e))*d) + m
			}
		}
	default:
		return false
	}
	return true
}

// iq4Code is element e's 4-bit code in 16 bytes of packed nibbles (IQ4_NL,
// IQ4_XS sub-blocks, Q4_1: element j low nibble of byte j, 16+j high).
func iq4Code(qs []byte, e int) uint8 {
	if e < 16 {
		return qs[e] & 15
	}
	return qs[e-16] >> 4
}
