package quant

// ---- Q3_K: hmask[32], qs[64], scales[12] (16 six-bit scales), d (f16) ----
//
// 256 elements in 16 sub-blocks of 16; x = d·(sc−32)·(q−4) with q in 0..7:
// its two low bits in qs (element 32c+l of each 128-half at bits 2c of
// qs[32h+l]), its high bit in hmask (bit 4h+c of hmask[l]).

// makeQ3Quants is ggml's make_q3_quants with do_rmse (the only variant the
// reference uses): levels -nmax..nmax-1 chosen by x²-weighted least squares
// with up to five coordinate-descent passes; L gets the levels offset by
// nmax, and the scale is returned.
func makeQ3Quants(nmax int, x *[16]float32, L *[16]int8) float32 {
	amax, maxv := absMax(x[:])
	if amax < groupMaxEps {
		*L = [16]int8{}
		return 0
	}
	iscale := float32(-nmax) / maxv
	var sumlx, suml2 float32
	for i, v := range x {
		l := nearestInt(float32(iscale * v))
		l = max(-nmax, min(nmax-1, l))
		L[i] = int8(l)
		w := float32(v * v)
		fl := float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	for range 5 {
		changed := 0
		for i, v := range x {
			w := float32(v * v)
			li := float32(L[i])
			slx := sumlx - float32(float32(w*v)*li)
			if slx > 0 {
				sl2 := suml2 - float32(float32(w*li)*li)
				nl := nearestInt(float32(v*sl2) / slx)
				nl = max(-nmax, min(nmax-1, nl))
				if nl != int(L[i]) {
					fn := float32(nl)
					slx += float32(float32(w*v) * fn)
					sl2 += float32(float32(w*fn) * fn)
					if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
						L[i] = int8(nl)
						sumlx, suml2 = slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	for i := range L {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// q3KScale is the signed 6-bit scale (−32..31) of sub-block j.
func q3KScale(sc []byte, j int) int8 {
	var lo uint8
	if j < 8 {
		lo = sc[j] & 0xf
	} else {
		lo = sc[j-8] >> 4
	}
	return int8(lo|((sc[8+j%4]>>(2*(j/4)))&3)<<4) - 32
}

func quantizeQ3_K(y []byte, x []float32) {
	var L [QK_K]int8
	var scales [QK_K / 16]float32
	var maxScale, amax float32
	for j := 0; j < QK_K/16; j++ {
		scales[j] = makeQ3Quants(4, (*[16]float32)(x[16*j:]), (*[16]int8)(L[16*j:]))
		if s := abs32(scales[j]); s > amax {
			amax = s
			maxScale = scales[j]
		}
	}
	sc := y[96:108]
	clear(sc)
	if maxScale != 0 {
		iscale := -32 / maxScale
		for j := 0; j < QK_K/16; j++ {
			l := int8(nearestInt(float32(iscale * scales[j]))) // C: int8_t l = nearest_int(...)
			l = max(-32, min(31, l)) + 32
			if j < 8 {
				sc[j] = uint8(l) & 0xf
			} else {
				sc[j-8] |= (uint8(l) & 0xf) << 4
			}
			l >>= 4
			sc[j%4+8] |= uint8(l) << (2 * (j / 4))
		}
		putHalf(y[108:], 1/iscale)
	} else {
		putHalf(y[108:], 0)
	}
	finishQ3_K(y, x, &L)
}

// finishQ3_K requantizes x with the block's stored scales (sub-blocks of
// scale 0 keep their levels from L) and packs the levels into hmask and qs.
func finishQ3_K(y []byte, x []float32, L *[QK_K]int8) {
	hmask, qs, sc := y[0:32], y[32:96], y[96:108]
	dAll := half(y[108:])
	for j := 0; j < QK_K/16; j++ {
		d := dAll * float32(q3KScale(sc, j))
		if d == 0 {
			continue
		}
		for ii := 0; ii < 16; ii++ {
			l := nearestInt(x[16*j+ii] / d)
			L[16*j+ii] = int8(max(-4, min(3, l)) + 4)
		}
	}
	clear(hmask)
	m, hm := 0, uint8(1)
	for j := 0; j < QK_K; j++ {
		if L[j] > 3 {
			hmask[m] |= hm
			L[j] -= 4
		}
		if m++; m == QK_K/8 {
			m = 0
			hm <<= 1
		}
	}
	for j := 0; j < QK_K; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = uint8(L[j+l]) | uint8(L[j+l+32])<<2 | uint8(L[j+l+64])<<4 | uint8(L[j+l+96])<<6
		}
	}
}

func dequantizeQ3_K(y []float32, x []byte) {
	dAll := half(x[108:])
	hm, q, sc := x[0:32], x[32:96], x[96:108]
	is := 0
	m := uint8(1)
	for n := 0; n < QK_K; n += 128 {
		for c := 0; c < 4; c++ { // 32-element chunk c: bits 2c of q, bit m of hm
			for h := 0; h < 2; h++ { // its two 16-element sub-blocks
				dl := dAll * float32(q3KScale(sc, is))
				is++
				for l := 16 * h; l < 16*h+16; l++ {
					v := int8((q[l]>>(2*c))&3) - 4
					if hm[l]&m != 0 {
						v += 4
					}
					y[n+32*c+l] = dl * float32(v)
				}
			}
			m <<= 1
		}
		q = q[32:]
	}
}
