package quant

import "encoding/binary"

// IQ4_NL and IQ4_XS: 4-bit codes indexing ggml's 16 non-linear levels
// kvalues_iq4nl, one scale per 32 elements.
//
//	IQ4_NL  18 B / 32 el:  d f16, qs [16]u8 (el j: low nibble, el 16+j: high)
//	                       x = d·kvalues[q]
//	IQ4_XS 136 B / 256 el: d f16, scales_h u16 (2 high bits per sub-block),
//	                       scales_l [4]u8 (4 low bits per sub-block), qs [128]u8
//	                       x = d·(ls−32)·kvalues[q], ls the 6-bit sub-block scale
//
// Both are quantized by quantize_row_iq4_nl_impl. ggml_quantize_chunk (what
// llama-quantize runs) calls quantize_iq4_nl / quantize_iq4_xs, which search
// 2·7+1 scales per block with or without an importance matrix (weights x²
// without one); quantize_row_iq4_nl_ref searches none (ntry −1). Quantize
// gives the bytes of quantize_iq4_nl / quantize_iq4_xs without weights,
// because those are the bytes a llama-quantize file holds.

// kvaluesIQ4NL is ggml's kvalues_iq4nl (ggml-common.h).
var kvaluesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// iq4Tries is the ntry of quantize_iq4_nl / quantize_iq4_xs.
const iq4Tries = 7

// bestIndexIQ4 is ggml's best_index_int8 over kvaluesIQ4NL: the index of
// the level nearest x (ties to the upper level), by bisection.
func bestIndexIQ4(x float32) uint8 {
	v := &kvaluesIQ4NL
	if x <= float32(v[0]) {
		return 0
	}
	if x >= float32(v[15]) {
		return 15
	}
	ml, mu := 0, 15
	for mu-ml > 1 {
		mav := (ml + mu) / 2
		if x < float32(v[mav]) {
			mu = mav
		} else {
			ml = mav
		}
	}
	if x-float32(v[mu-1]) < float32(v[mu])-x {
		return uint8(mu - 1)
	}
	return uint8(mu)
}

// quantizeIQ4 is quantize_row_iq4_nl_impl for one super-block x of 32
// (IQ4_NL) or QK_K (IQ4_XS) elements: it writes the half d to dh, the
// packed codes to q4 (len(x)/2 bytes) and, for IQ4_XS, the sub-block scales
// to scalesH (2 bytes) and scalesL (4 bytes). qw are the importance weights
// of x (nil: x²). L carries the levels between calls, as the C caller's
// array does (ntry ≤ 0 leaves an all-zero block's levels as they were).
func quantizeIQ4(x []float32, dh, q4, scalesH, scalesL []byte, qw []float32, L *[QK_K]uint8, ntry int) {
	sbs := len(x)
	var sigma2 float32
	for _, v := range x {
		sigma2 += float32(v * v)
	}
	sigma2 *= 2 / float32(sbs)
	clear(q4[:sbs/2])
	putHalf(dh, 0)
	var scales [QK_K / 32]float32
	var weight [32]float32
	var maxScale, amaxScale float32
	v0 := float32(kvaluesIQ4NL[0])
	for ib := 0; ib < sbs/32; ib++ {
		xb, Lb := x[32*ib:32*ib+32], L[32*ib:32*ib+32]
		for j, v := range xb {
			if qw != nil {
				weight[j] = qw[32*ib+j] * sqrt32(sigma2+float32(v*v))
			} else {
				weight[j] = float32(v * v)
			}
		}
		amax, maxv := absMax(xb)
		if amax < groupMaxEps {
			scales[ib] = 0
			continue
		}
		var d float32
		if ntry > 0 {
			d = -maxv / v0
		} else {
			d = maxv / v0
		}
		id := 1 / d
		var sumqx, sumq2 float32
		for j, v := range xb {
			l := bestIndexIQ4(float32(id * v))
			Lb[j] = l
			q := float32(kvaluesIQ4NL[l])
			wq := float32(weight[j] * q)
			sumqx += float32(wq * v)
			sumq2 += float32(wq * q)
		}
		d = 0
		if sumq2 > 0 {
			d = sumqx / sumq2
		}
		best := float32(d * sumqx)
		for itry := -ntry; itry <= ntry; itry++ {
			id = float32(itry+int(kvaluesIQ4NL[0])) / maxv
			sumqx, sumq2 = 0, 0
			for j, v := range xb {
				q := float32(kvaluesIQ4NL[bestIndexIQ4(float32(id*v))])
				wq := float32(weight[j] * q)
				sumqx += float32(wq * v)
				sumq2 += float32(wq * q)
			}
			if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
				d = sumqx / sumq2
				best = float32(d * sumqx)
			}
		}
		scales[ib] = d
		if ad := abs32(d); ad > amaxScale {
			amaxScale, maxScale = ad, d
		}
	}
	if sbs > 32 {
		var sh uint16
		d := -maxScale / 32
		putHalf(dh, d)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		for ib := 0; ib < sbs/32; ib++ {
			l := max(-32, min(31, nearestInt(float32(id*scales[ib]))))
			dl := float32(d * float32(l))
			var idl float32
			if dl != 0 {
				idl = 1 / dl
			}
			xb, Lb := x[32*ib:32*ib+32], L[32*ib:32*ib+32]
			for j, v := range xb {
				Lb[j] = bestIndexIQ4(float32(idl * v))
			}
			l += 32
			ll, lh := uint8(l&0xf), uint16(l>>4)
			if ib%2 == 0 {
				scalesL[ib/2] = ll
			} else {
				scalesL[ib/2] |= ll << 4
			}
			sh |= lh << (2 * (ib % 8))
		}
		binary.LittleEndian.PutUint16(scalesH, sh)
	} else {
		putHalf(dh, scales[0])
		if ntry > 0 {
			var id float32
			if scales[0] != 0 {
				id = 1 / scales[0]
			}
			for j, v := range x {
				L[j] = bestIndexIQ4(float32(id * v))
			}
		}
	}
	for i := 0; i < sbs/32; i++ {
		for j := 0; j < 16; j++ {
			q4[16*i+j] = L[32*i+j] | L[32*i+16+j]<<4
		}
	}
}

// quantizeIQ4Row quantizes x (len a multiple of t's block) as IQ4_NL or
// IQ4_XS blocks with ntry scale tries and importance weights qw (len(x),
// nil: none), as quantize_iq4_nl / quantize_iq4_xs do for one row.
func quantizeIQ4Row(t Type, y []byte, x, qw []float32, ntry int) {
	var L [QK_K]uint8
	bs, ts := t.BlockSize(), t.TypeSize()
	for i := 0; i < len(x)/bs; i++ {
		b, xb := y[i*ts:(i+1)*ts], x[i*bs:(i+1)*bs]
		var w []float32
		if qw != nil {
			w = qw[i*bs : (i+1)*bs]
		}
		if t == IQ4_NL {
			quantizeIQ4(xb, b[0:2], b[2:18], nil, nil, w, &L, ntry)
		} else {
			quantizeIQ4(xb, b[0:2], b[8:136], b[2:4], b[4:8], w, &L, ntry)
		}
	}
}

func dequantizeIQ4_NL(y []float32, x []byte) {
	d := half(x)
	for j := 0; j < 16; j++ {
		q := x[2+j]
		y[j] = d * float32(kvaluesIQ4NL[q&0xf])
		y[j+16] = d * float32(kvaluesIQ4NL[q>>4])
	}
}

func dequantizeIQ4_XS(y []float32, x []byte) {
	d := half(x)
	sh := binary.LittleEndian.Uint16(x[2:])
	sl, qs := x[4:8], x[8:136]
	for ib := 0; ib < QK_K/32; ib++ {
		ls := int(sl[ib/2]>>(4*(ib%2)))&0xf | int((sh>>(2*ib))&3)<<4
		dl := d * float32(ls-32)
		for j := 0; j < 16; j++ {
			q := qs[16*ib+j]
			y[32*ib+j] = dl * float32(kvaluesIQ4NL[q&0xf])
			y[32*ib+j+16] = dl * float32(kvaluesIQ4NL[q>>4])
		}
	}
}
