package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/distill-ml/distill/num/f16"
	"github.com/distill-ml/distill/num/parallel"
)

// Floating-point note: every expression below mirrors the C reference
// operation by operation in float32. Products that feed a sum are wrapped in
// float32(...) so that no platform fuses them into an FMA (the Go spec lets a
// compiler fuse a*b+c unless an explicit conversion rounds a*b), which would
// change the bits relative to ggml built without FMA contraction.

// littleEndian is true on hosts whose memory order is GGUF's (little-endian),
// where F32/F16 data can be copied without per-element encoding.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Quantizable reports whether Quantize/Dequantize support t.
func Quantizable(t Type) bool {
	switch t {
	case F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS:
		return true
	}
	return false
}

func checkSizes(t Type, nBytes, nElems int) error {
	if !Quantizable(t) {
		return fmt.Errorf("quant: type %s is not supported", t)
	}
	rs, err := t.RowSize(nElems)
	if err != nil {
		return fmt.Errorf("quant: %w", err)
	}
	if nBytes != rs {
		return fmt.Errorf("quant: %s: %d elements need %d bytes, buffer has %d", t, nElems, rs, nBytes)
	}
	return nil
}

// Quantize encodes src into dst as type t, block by block, exactly as ggml's
// quantize_row_<t>_ref does (for IQ4_NL and IQ4_XS: as quantize_iq4_nl /
// quantize_iq4_xs without weights, which llama-quantize runs; see iq4.go). len(src) must be a multiple of t's block size and
// len(dst) must be the matching byte size (t.RowSize(len(src))). src must be
// finite (callers check; non-finite input gives the same bytes as ggml's
// reference on x86, which are meaningless).
func Quantize(t Type, dst []byte, src []float32) error {
	if err := checkSizes(t, len(dst), len(src)); err != nil {
		return err
	}
	quantizeBlocks(t, dst, src)
	return nil
}

// QuantizeParallel is Quantize split over the shared worker pool (blocks are
// independent, so the bytes are identical).
func QuantizeParallel(t Type, dst []byte, src []float32) error {
	if err := checkSizes(t, len(dst), len(src)); err != nil {
		return err
	}
	bs, ts := t.BlockSize(), t.TypeSize()
	if t == F32 || t == F16 {
		bs, ts = 4096, 4096*ts // plain types: chunk by 4096 elements
	}
	nb := (len(src) + bs - 1) / bs
	parallel.Default().For(nb, max(1, 16384/bs), func(lo, hi int) {
		s := src[lo*bs : min(hi*bs, len(src))]
		d := dst[lo*ts : min(hi*ts, len(dst))]
		quantizeBlocks(t, d, s)
	})
	return nil
}

func quantizeBlocks(t Type, dst []byte, src []float32) {
	switch t {
	case F32:
		if littleEndian && len(src) > 0 {
			copy(dst, unsafe.Slice((*byte)(unsafe.Pointer(&src[0])), 4*len(src)))
			return
		}
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case F16:
		if littleEndian && len(src) > 0 {
			f16.FromFloat32(unsafe.Slice((*uint16)(unsafe.Pointer(&dst[0])), len(src)), src)
			return
		}
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], f16.Float16(v))
		}
	case Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K:
		quantize := blockQuantizer(t)
		bs, ts := t.BlockSize(), t.TypeSize()
		for i := range len(src) / bs {
			quantize(dst[i*ts:(i+1)*ts], src[i*bs:(i+1)*bs])
		}
	case IQ4_NL, IQ4_XS:
		quantizeIQ4Row(t, dst, src, nil, iq4Tries)
	}
}

// Dequantize decodes src (type t) into dst, as ggml's dequantize_row_<t>.
func Dequantize(t Type, dst []float32, src []byte) error {
	if err := checkSizes(t, len(src), len(dst)); err != nil {
		return err
	}
	switch t {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = f16.Float32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	default:
		dequantize := blockDequantizer(t)
		bs, ts := t.BlockSize(), t.TypeSize()
		for i := range len(dst) / bs {
			dequantize(dst[i*bs:(i+1)*bs], src[i*ts:(i+1)*ts])
		}
	}
	return nil
}

// blockQuantizer is t's reference quantizer of one block: y is the block's
// t.TypeSize() bytes, x its t.BlockSize() values (t a ggml block type that
// Quantizable accepts, not an IQ4 type, which quantizes a whole row).
func blockQuantizer(t Type) func(y []byte, x []float32) {
	switch t {
	case Q8_0:
		return func(y []byte, x []float32) { quantizeQ8_0((*[34]byte)(y), (*[32]float32)(x)) }
	case Q4_0:
		return func(y []byte, x []float32) { quantizeQ4_0((*[18]byte)(y), (*[32]float32)(x)) }
	case Q4_1:
		return func(y []byte, x []float32) { quantizeQ4_1((*[20]byte)(y), (*[32]float32)(x)) }
	case Q5_0:
		return func(y []byte, x []float32) { quantizeQ5_0((*[22]byte)(y), (*[32]float32)(x)) }
	case Q5_1:
		return func(y []byte, x []float32) { quantizeQ5_1((*[24]byte)(y), (*[32]float32)(x)) }
	case Q2_K:
		return quantizeQ2_K
	case Q3_K:
		return quantizeQ3_K
	case Q4_K:
		return quantizeQ4_K
	case Q5_K:
		return quantizeQ5_K
	case Q6_K:
		return func(y []byte, x []float32) { quantizeQ6_K(y, x, nil) }
	}
	panic(fmt.Sprintf("quant: no block quantizer for %s", t))
}

// blockDequantizer is t's decoder of one block into t.BlockSize() values
// (t a block type that Quantizable accepts).
func blockDequantizer(t Type) func(y []float32, x []byte) {
	switch t {
	case Q8_0:
		return dequantizeQ8_0
	case Q4_0:
		return dequantizeQ4_0
	case Q4_1:
		return dequantizeQ4_1
	case Q5_0:
		return dequantizeQ5_0
	case Q5_1:
		return dequantizeQ5_1
	case IQ4_NL:
		return dequantizeIQ4_NL
	case IQ4_XS:
		return dequantizeIQ4_XS
	case Q2_K:
		return dequantizeQ2_K
	case Q3_K:
		return dequantizeQ3_K
	case Q4_K:
		return dequantizeQ4_K
	case Q5_K:
		return dequantizeQ5_K
	case Q6_K:
		return dequantizeQ6_K
	}
	panic(fmt.Sprintf("quant: no block dequantizer for %s", t))
}

// ---- helpers shared with ggml's reference ----

func putHalf(b []byte, f float32) { binary.LittleEndian.PutUint16(b, f16.Float16(f)) }
func half(b []byte) float32       { return f16.Float32(binary.LittleEndian.Uint16(b)) }

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// nearestInt is ggml's nearest_int: round to nearest, ties to even, through
// the 1.5·2^23 magic constant (valid for |f| ≤ 2^22; other inputs give the
// same bits as the C code without its assert).
func nearestInt(f float32) int {
	v := f + 12582912
	return int(int32(math.Float32bits(v)&0x007fffff) - 0x00400000)
}

// truncInt8 is C's (int8_t)(float) on x86-64: cvttss2si to int32 (out of
// range and NaN give INT32_MIN), then the low byte.
func truncInt8(f float32) int8 {
	if !(f > -2147483648.0 && f < 2147483648.0) {
		return 0
	}
	return int8(int32(f))
}

// ---- Q8_0: d (f16), 32 × int8 ----

func quantizeQ8_0(y *[34]byte, x *[32]float32) {
	var amax float32
	for _, v := range x {
		if a := abs32(v); amax <= a { // C: MAX(amax, fabsf(v)) = amax > a ? amax : a
			amax = a
		}
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(y[0:], d)
	if finite(id) { // |v·id| ≤ 127(1+ε): a plain conversion is exact
		for j, v := range x {
			y[2+j] = byte(int8(int32(roundf(v * id))))
		}
		return
	}
	for j, v := range x {
		x0 := v * id
		y[2+j] = byte(truncInt8(roundf(x0)))
	}
}

// finite reports whether f is neither ±Inf nor NaN.
func finite(f float32) bool { return f-f == 0 }

// roundf rounds half away from zero, as C's roundf; the result is then
// converted as C converts float to int8_t on x86 (the value is in range).
func roundf(x float32) float32 { return float32(math.Round(float64(x))) }

func dequantizeQ8_0(y []float32, x []byte) {
	d := half(x)
	for j := range y {
		y[j] = float32(int8(x[2+j])) * d
	}
}

// ---- Q4_0: d (f16), 16 bytes of nibbles (low: j, high: j+16) ----

// absMax returns the largest magnitude in x and the first element that has
// it, sign kept (NaNs are passed over), as ggml's reference quantizers
// search: if (amax < fabsf(v)) { amax = fabsf(v); max = v; }.
func absMax(x []float32) (amax, maxv float32) {
	for _, v := range x {
		if ax := abs32(v); ax > amax {
			amax, maxv = ax, v
		}
	}
	return amax, maxv
}

// putSignedScale writes the d half of a Q4_0/Q5_0 block, d = max/−nmax with
// max the element of largest magnitude, and returns 1/d (0 when d is 0), as
// quantize_row_q4_0_ref / q5_0_ref compute them.
func putSignedScale(y []byte, x *[32]float32, nmax float32) (id float32) {
	_, maxv := absMax(x[:])
	d := maxv / -nmax
	if d != 0 {
		id = 1 / d
	}
	putHalf(y[0:], d)
	return id
}

func quantizeQ4_0(y *[18]byte, x *[32]float32) {
	id := putSignedScale(y[:], x, 8)
	if finite(id) { // |x·id| ≤ 8(1+ε): x·id+8.5 is in [0, 17), convert directly
		for j := 0; j < 16; j++ {
			xi0 := min(15, int32(float32(x[j]*id)+8.5))
			xi1 := min(15, int32(float32(x[16+j]*id)+8.5))
			y[2+j] = uint8(xi0) | uint8(xi1)<<4
		}
		return
	}
	for j := 0; j < 16; j++ {
		x0 := x[j] * id
		x1 := x[16+j] * id
		xi0 := uint8(min(15, int(truncInt8(x0+8.5))))
		xi1 := uint8(min(15, int(truncInt8(x1+8.5))))
		y[2+j] = xi0 | xi1<<4
	}
}

func dequantizeQ4_0(y []float32, x []byte) {
	d := half(x)
	for j := 0; j < 16; j++ {
		q := x[2+j]
		y[j] = float32(int(q&0x0f)-8) * d
		y[j+16] = float32(int(q>>4)-8) * d
	}
}

// ---- Q4_1: d, m (f16), 16 bytes of nibbles; x = q·d + m ----

// putScaleMin writes the d and m halves of a Q4_1/Q5_1 block (levels
// 0..nmax over x's range, m its minimum) and returns the minimum and 1/d
// (0 when d is 0), as quantize_row_q4_1_ref / q5_1_ref compute them.
func putScaleMin(y []byte, x *[32]float32, nmax float32) (minv, id float32) {
	minv, maxv := float32(math.MaxFloat32), float32(-math.MaxFloat32)
	for _, v := range x {
		if v < minv {
			minv = v
		}
		if v > maxv {
			maxv = v
		}
	}
	d := (maxv - minv) / nmax
	if d != 0 {
		id = 1 / d
	}
	putHalf(y[0:], d)
	putHalf(y[2:], minv)
	return minv, id
}

func quantizeQ4_1(y *[20]byte, x *[32]float32) {
	minv, id := putScaleMin(y[:], x, 15)
	for j := 0; j < 16; j++ {
		x0 := (x[j] - minv) * id
		x1 := (x[16+j] - minv) * id
		xi0 := uint8(min(15, int(truncInt8(x0+0.5))))
		xi1 := uint8(min(15, int(truncInt8(x1+0.5))))
		y[4+j] = xi0 | xi1<<4
	}
}

func dequantizeQ4_1(y []float32, x []byte) {
	d, m := half(x[0:]), half(x[2:])
	for j := 0; j < 16; j++ {
		y[j] = float32(float32(x[4+j]&0x0f)*d) + m
		y[j+16] = float32(float32(x[4+j]>>4)*d) + m
	}
}

// ---- Q5_0: d (f16), qh (4 bytes: 5th bits), 16 bytes of nibbles ----

func quantizeQ5_0(y *[22]byte, x *[32]float32) {
	id := putSignedScale(y[:], x, 16)
	var L [32]uint8
	if finite(id) { // |x·id| ≤ 16(1+ε): x·id+16.5 is in [0, 33), convert directly
		for j, v := range x {
			L[j] = uint8(min(31, int32(float32(v*id)+16.5)))
		}
	} else {
		for j, v := range x {
			L[j] = uint8(min(31, int(truncInt8(float32(v*id)+16.5))))
		}
	}
	packQ5(y[2:6], y[6:22], &L)
}

func dequantizeQ5_0(y []float32, x []byte) {
	d := half(x)
	qh := binary.LittleEndian.Uint32(x[2:])
	for j := 0; j < 16; j++ {
		xh0 := uint8(qh>>j<<4) & 0x10
		xh1 := uint8(qh>>(j+12)) & 0x10
		y[j] = float32(int32(x[6+j]&0x0f|xh0)-16) * d
		y[j+16] = float32(int32(x[6+j]>>4|xh1)-16) * d
	}
}

// ---- Q5_1: d, m (f16), qh (4 bytes), 16 bytes of nibbles; x = q·d + m ----

// truncUint8 is C's (uint8_t)(float) on x86-64 (via a 32-bit conversion).
func truncUint8(f float32) uint8 { return uint8(truncInt8(f)) }

func quantizeQ5_1(y *[24]byte, x *[32]float32) {
	minv, id := putScaleMin(y[:], x, 31)
	var L [32]uint8
	for j, v := range x {
		L[j] = truncUint8(float32((v-minv)*id) + 0.5)
	}
	packQ5(y[4:8], y[8:24], &L)
}

func dequantizeQ5_1(y []float32, x []byte) {
	d, m := half(x[0:]), half(x[2:])
	qh := binary.LittleEndian.Uint32(x[4:])
	for j := 0; j < 16; j++ {
		xh0 := uint8(qh>>j<<4) & 0x10
		xh1 := uint8(qh>>(j+12)) & 0x10
		y[j] = float32(float32(x[8+j]&0x0f|xh0)*d) + m
		y[j+16] = float32(float32(x[8+j]>>4|xh1)*d) + m
	}
}

// ---- k-quant helpers ----

// makeQKX2Quants is ggml's make_qkx2_quants: a weighted search for the scale
// and min of a sub-block of len(x) elements with levels 0..nmax, the error
// measured as squared (useMad false) or absolute (useMad true) differences.
// It fills L (Laux is scratch, both len(x)) and returns (scale, -min).
func makeQKX2Quants(nmax int, x, weights []float32, L, Laux []uint8, rmin, rdelta float32, nstep int, useMad bool) (float32, float32) {
	n := len(x)
	weights, L, Laux = weights[:n], L[:n], Laux[:n]
	errOf := func(diff float32) float32 {
		if useMad {
			return abs32(diff)
		}
		return float32(diff * diff)
	}
	minv, maxv := x[0], x[0]
	sumW := weights[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < minv {
			minv = x[i]
		}
		if x[i] > maxv {
			maxv = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if minv > 0 {
		minv = 0
	}
	if maxv == minv {
		clear(L)
		return 0, -minv
	}
	fmax := float32(nmax)
	iscale := fmax / (maxv - minv)
	scale := 1 / iscale
	var bestError float32
	for i := 0; i < n; i++ {
		l := nearestInt(float32(iscale * (x[i] - minv)))
		L[i] = uint8(max(0, min(nmax, l)))
		diff := float32(float32(scale*float32(L[i]))+minv) - x[i]
		bestError += float32(weights[i] * errOf(diff))
	}
	if nstep < 1 {
		return scale, -minv
	}
	var xmBuf [32]float32 // x - min, rounded as the C expression rounds it
	xm := xmBuf[:n]
	for i := range xm {
		xm[i] = x[i] - minv
	}
	for is := 0; is <= nstep; is++ {
		iscale = (float32(rmin+float32(rdelta*float32(is))) + fmax) / (maxv - minv)
		var sumL, sumL2, sumXL float32
		for i := 0; i < n; i++ {
			l := nearestInt(float32(iscale * xm[i]))
			l = max(0, min(nmax, l))
			Laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			wl := float32(w * fl)
			sumL += wl
			sumL2 += float32(wl * fl)
			sumXL += float32(wl * x[i])
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var curError float32
			for i := 0; i < n; i++ {
				diff := float32(float32(thisScale*float32(Laux[i]))+thisMin) - x[i]
				curError += float32(weights[i] * errOf(diff))
			}
			if curError < bestError {
				copy(L, Laux)
				bestError = curError
				scale = thisScale
				minv = thisMin // later steps search around the new min (as in C)
				for i := range xm {
					xm[i] = x[i] - minv
				}
			}
		}
	}
	return scale, -minv
}

// getScaleMinK4 unpacks the 6-bit scale and min of sub-block j.
func getScaleMinK4(j int, q []byte) (uint8, uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// quantizeK45 is the shared body of quantize_row_q4_K_ref / q5_K_ref: it
// fills y's d, dmin and scales and returns the levels L (0..nmax).
func quantizeK45(y []byte, x []float32, L *[QK_K]uint8, nmax int, rmin float32, nstep int) {
	var mins, scales [QK_K / 32]float32
	var weights [32]float32
	var Laux [32]uint8
	var maxScale, maxMin float32
	for j := 0; j < QK_K/32; j++ {
		xs := (*[32]float32)(x[32*j:])
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := sqrt32(sumX2 / 32)
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(nmax, xs[:], weights[:], L[32*j:32*j+32], Laux[:], rmin, 0.1, nstep, false)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	var ls, lm [QK_K / 32]uint8
	for j := range ls {
		ls[j] = min(63, uint8(nearestInt(float32(invScale*scales[j]))))
		lm[j] = min(63, uint8(nearestInt(float32(invMin*mins[j]))))
	}
	finishScalesMinsK4(y, x, L[:], nmax, maxScale/63, maxMin/63, &ls, &lm)
}

// finishScalesMinsK4 ends a Q4_K/Q5_K super-block as ggml does: it packs the
// eight 6-bit sub-block scales ls and mins lm into y[4:16], writes d and dmin
// as halves at y[0:4], and re-quantizes x into levels 0..nmax in L with the
// values as stored (rounded to half and to 6 bits).
func finishScalesMinsK4(y []byte, x []float32, L []uint8, nmax int, d, dmin float32, ls, lm *[QK_K / 32]uint8) {
	sc := y[4:16]
	clear(sc)
	for j := 0; j < QK_K/32; j++ {
		if j < 4 {
			sc[j] = ls[j]
			sc[j+4] = lm[j]
		} else {
			sc[j+4] = ls[j]&0xf | (lm[j]&0xf)<<4
			sc[j-4] |= (ls[j] >> 4) << 6
			sc[j] |= (lm[j] >> 4) << 6
		}
	}
	putHalf(y[0:], d)
	putHalf(y[2:], dmin)
	dAll, dminAll := half(y[0:]), half(y[2:])
	for j := 0; j < QK_K/32; j++ {
		s, m := getScaleMinK4(j, sc)
		d := dAll * float32(s)
		if d == 0 {
			continue
		}
		dm := dminAll * float32(m)
		for ii := 0; ii < 32; ii++ {
			l := nearestInt((x[32*j+ii] + dm) / d)
			L[32*j+ii] = uint8(max(0, min(nmax, l)))
		}
	}
}

// ---- Q4_K: d, dmin (f16), scales[12], qs[128] ----

func quantizeQ4_K(y []byte, x []float32) {
	var L [QK_K]uint8
	quantizeK45(y, x, &L, 15, -1, 20)
	packQ4_K(y, &L)
}

// packQ4_K stores the levels L (0..15) in a Q4_K block's qs.
func packQ4_K(y []byte, L *[QK_K]uint8) {
	q := y[16:]
	for j := 0; j < QK_K; j += 64 {
		for l := 0; l < 32; l++ {
			q[l] = L[j+l] | L[j+l+32]<<4
		}
		q = q[32:]
	}
}

func dequantizeQ4_K(y []float32, x []byte) {
	d, dmin := half(x[0:]), half(x[2:])
	sc := x[4:16]
	q := x[16:]
	is := 0
	for j := 0; j < QK_K; j += 64 {
		s, m := getScaleMinK4(is, sc)
		d1, m1 := d*float32(s), dmin*float32(m)
		s, m = getScaleMinK4(is+1, sc)
		d2, m2 := d*float32(s), dmin*float32(m)
		for l := 0; l < 32; l++ {
			y[j+l] = float32(d1*float32(q[l]&0xf)) - m1
		}
		for l := 0; l < 32; l++ {
			y[j+32+l] = float32(d2*float32(q[l]>>4)) - m2
		}
		q = q[32:]
		is += 2
	}
}

// ---- Q5_K: d, dmin (f16), scales[12], qh[32], qs[128] ----

func quantizeQ5_K(y []byte, x []float32) {
	var L [QK_K]uint8
	quantizeK45(y, x, &L, 31, -0.5, 15)
	packQ5_K(y, &L)
}

// packQ5_K stores the levels L (0..31) in a Q5_K block's qh and qs.
func packQ5_K(y []byte, L *[QK_K]uint8) {
	qh := y[16:48]
	ql := y[48:]
	for i := range qh {
		qh[i] = 0
	}
	m1, m2 := uint8(1), uint8(2)
	for n := 0; n < QK_K; n += 64 {
		for j := 0; j < 32; j++ {
			l1 := L[n+j]
			if l1 > 15 {
				l1 -= 16
				qh[j] |= m1
			}
			l2 := L[n+j+32]
			if l2 > 15 {
				l2 -= 16
				qh[j] |= m2
			}
			ql[j] = l1 | l2<<4
		}
		m1 <<= 2
		m2 <<= 2
		ql = ql[32:]
	}
}

func dequantizeQ5_K(y []float32, x []byte) {
	d, dmin := half(x[0:]), half(x[2:])
	sc := x[4:16]
	qh := x[16:48]
	ql := x[48:]
	is := 0
	u1, u2 := uint8(1), uint8(2)
	for j := 0; j < QK_K; j += 64 {
		s, m := getScaleMinK4(is, sc)
		d1, m1 := d*float32(s), dmin*float32(m)
		s, m = getScaleMinK4(is+1, sc)
		d2, m2 := d*float32(s), dmin*float32(m)
		for l := 0; l < 32; l++ {
			v := int(ql[l] & 0xf)
			if qh[l]&u1 != 0 {
				v += 16
			}
			y[j+l] = float32(d1*float32(v)) - m1
		}
		for l := 0; l < 32; l++ {
			v := int(ql[l] >> 4)
			if qh[l]&u2 != 0 {
				v += 16
			}
			y[j+32+l] = float32(d2*float32(v)) - m2
		}
		ql = ql[32:]
		is += 2
		u1 <<= 2
		u2 <<= 2
	}
}

// ---- Q6_K: ql[128], qh[64], scales[16] (int8), d (f16) ----

const groupMaxEps = 1e-15

// makeQXQuants is ggml's make_qx_quants with rmse_type 1 (the variant q6_K
// uses): levels -nmax..nmax-1 stored offset by nmax in L; returns the
// scale. The weights are qw (an importance matrix's) or, when qw is nil, x².
func makeQXQuants(nmax int, x []float32, L []int8, qw []float32) float32 {
	L = L[:len(x)]
	amax, maxv := absMax(x)
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	fn := float32(nmax)
	iscale := float32(-nmax) / maxv
	// Weights w = x² and w·x, rounded as the C expressions round them; the
	// search below reuses them instead of recomputing.
	var wBuf, wxBuf [32]float32
	w, wx := wBuf[:len(x)], wxBuf[:len(x)]
	var sumlx, suml2 float32
	for i, v := range x {
		l := nearestInt(float32(iscale * v))
		l = max(-nmax, min(nmax-1, l))
		L[i] = int8(l + nmax)
		if qw != nil {
			w[i] = qw[i]
		} else {
			w[i] = float32(v * v)
		}
		wx[i] = float32(w[i] * v)
		fl := float32(l)
		sumlx += float32(wx[i] * fl)
		suml2 += float32(float32(w[i]*fl) * fl)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := scale * sumlx
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(fn + float32(0.1*float32(is))) / maxv
		sumlx, suml2 = 0, 0
		for i, v := range x {
			l := nearestInt(float32(iscale * v))
			l = max(-nmax, min(nmax-1, l))
			fl := float32(l)
			sumlx += float32(wx[i] * fl)
			suml2 += float32(float32(w[i]*fl) * fl)
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i, v := range x {
				l := nearestInt(float32(iscale * v))
				L[i] = int8(nmax + max(-nmax, min(nmax-1, l)))
			}
			scale = sumlx / suml2
			best = scale * sumlx
		}
	}
	return scale
}

// quantizeQ6_K is quantize_row_q6_K_ref, or quantize_row_q6_K_impl with
// importance weights qw (len QK_K) when qw is not nil.
func quantizeQ6_K(y []byte, x []float32, qw []float32) {
	var L [QK_K]int8
	var scales [QK_K / 16]float32
	var maxScale, maxAbsScale float32
	for ib := 0; ib < QK_K/16; ib++ {
		var w []float32
		if qw != nil {
			w = qw[16*ib : 16*ib+16]
		}
		s := makeQXQuants(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16], w)
		scales[ib] = s
		if as := abs32(s); as > maxAbsScale {
			maxAbsScale = as
			maxScale = s
		}
	}
	if maxAbsScale < groupMaxEps {
		for i := range y[:210] {
			y[i] = 0
		}
		putHalf(y[208:], 0)
		return
	}
	ql, qh, sc := y[0:128], y[128:192], y[192:208]
	iscale := -128 / maxScale
	putHalf(y[208:], 1/iscale)
	for ib := 0; ib < QK_K/16; ib++ {
		sc[ib] = byte(int8(min(127, nearestInt(float32(iscale*scales[ib])))))
	}
	d0 := half(y[208:])
	for j := 0; j < QK_K/16; j++ {
		d := d0 * float32(int8(sc[j]))
		if d == 0 {
			continue
		}
		for ii := 0; ii < 16; ii++ {
			l := nearestInt(x[16*j+ii] / d)
			l = max(-32, min(31, l))
			L[16*j+ii] = int8(l + 32)
		}
	}
	for j := 0; j < QK_K; j += 128 {
		for l := 0; l < 32; l++ {
			q1 := uint8(L[j+l]) & 0xf
			q2 := uint8(L[j+l+32]) & 0xf
			q3 := uint8(L[j+l+64]) & 0xf
			q4 := uint8(L[j+l+96]) & 0xf
			ql[l] = q1 | q3<<4
			ql[l+32] = q2 | q4<<4
			qh[l] = uint8(L[j+l])>>4 | (uint8(L[j+l+32])>>4)<<2 | (uint8(L[j+l+64])>>4)<<4 | (uint8(L[j+l+96])>>4)<<6
		}
		ql = ql[64:]
		qh = qh[32:]
	}
}

func dequantizeQ6_K(y []float32, x []byte) {
	d := half(x[208:])
	ql, qh, sc := x[0:128], x[128:192], x[192:208]
	for n := 0; n < QK_K; n += 128 {
		for l := 0; l < 32; l++ {
			is := l / 16
			q1 := int8(ql[l]&0xf|((qh[l]>>0)&3)<<4) - 32
			q2 := int8(ql[l+32]&0xf|((qh[l]>>2)&3)<<4) - 32
			q3 := int8(ql[l]>>4|((qh[l]>>4)&3)<<4) - 32
			q4 := int8(ql[l+32]>>4|((qh[l]>>6)&3)<<4) - 32
			y[n+l] = float32(d*float32(int8(sc[is]))) * float32(q1)
			y[n+l+32] = float32(d*float32(int8(sc[is+2]))) * float32(q2)
			y[n+l+64] = float32(d*float32(int8(sc[is+4]))) * float32(q3)
			y[n+l+96] = float32(d*float32(int8(sc[is+6]))) * float32(q4)
		}
		ql = ql[64:]
		qh = qh[32:]
		sc = sc[8:]
	}
}
