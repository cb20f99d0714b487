package quant

// ---- Q2_K: scales[16] (4-bit scale | 4-bit min << 4), qs[64], d, dmin (f16) ----
//
// 256 elements in 16 sub-blocks of 16; x = d·sc·q − dmin·m with q in 0..3,
// element 32c+l of each 128-half at bits 2c of qs[32h+l].

func quantizeQ2_K(y []byte, x []float32) {
	const q4scale = 15
	var L [QK_K]uint8
	var Laux [16]uint8
	var weights [16]float32
	var mins, scales [QK_K / 16]float32
	var maxScale, maxMin float32
	for j := 0; j < QK_K/16; j++ {
		xs := x[16*j : 16*j+16]
		for l, v := range xs {
			weights[l] = abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(3, xs, weights[:], L[16*j:16*j+16], Laux[:], -0.5, 0.1, 15, true)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	sc := y[0:16]
	if maxScale > 0 {
		iscale := q4scale / maxScale
		for j := range sc {
			sc[j] = uint8(nearestInt(float32(iscale * scales[j])))
		}
		putHalf(y[80:], maxScale/q4scale)
	} else {
		clear(sc)
		putHalf(y[80:], 0)
	}
	if maxMin > 0 {
		iscale := q4scale / maxMin
		for j := range sc {
			sc[j] |= uint8(nearestInt(float32(iscale*mins[j]))) << 4
		}
		putHalf(y[82:], maxMin/q4scale)
	} else {
		putHalf(y[82:], 0)
	}
	finishQ2_K(y, x, &L)
}

// finishQ2_K is the tail both Q2_K quantizers share: with y's scales
// (y[0:16]), d and dmin (y[80:84]) already stored, it requantizes every
// element to 0..3 against the stored (rounded) scales and packs the levels
// into qs (y[16:80]). L is scratch.
func finishQ2_K(y []byte, x []float32, L *[QK_K]uint8) {
	sc, qs := y[0:16], y[16:80]
	dAll, dminAll := half(y[80:]), half(y[82:])
	for j := 0; j < QK_K/16; j++ {
		d := dAll * float32(sc[j]&0xf)
		if d == 0 {
			continue
		}
		dm := dminAll * float32(sc[j]>>4)
		for ii := 0; ii < 16; ii++ {
			l := nearestInt((x[16*j+ii] + dm) / d)
			L[16*j+ii] = uint8(max(0, min(3, l)))
		}
	}
	for j := 0; j < QK_K; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

func dequantizeQ2_K(y []float32, x []byte) {
	d, dmin := half(x[80:]), half(x[82:])
	sc, q := x[0:16], x[16:80]
	is := 0
	for n := 0; n < QK_K; n += 128 {
		for c := 0; c < 4; c++ { // 32-element chunk c: bits 2c of q
			for h := 0; h < 2; h++ { // its two 16-element sub-blocks
				s := sc[is]
				is++
				dl, ml := d*float32(s&0xf), dmin*float32(s>>4)
				for l := 16 * h; l < 16*h+16; l++ {
					y[n+32*c+l] = float32(dl*float32((q[l]>>(2*c))&3)) - ml
				}
			}
		}
		q = q[32:]
	}
}
