package qdot

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/distill-ml/distill/num/f16"
)

// dotKernels is one implementation of every dot product. The quantized
// functions take nb blocks of weights w and nb blocks of activations a in
// VecDotType format; the float functions take n elements.
//
// The optional *Rows functions dot len(dst) consecutive weight rows (row i
// at w[i·stride:]) with one activation row, dst[i] being bit-identical to
// the single-row function on row i; nil means "loop over the single-row one".
type dotKernels struct {
	name string
	q8_0 func(w, a []byte, nb int) float32
	q4_0 func(w, a []byte, nb int) float32
	q5_0 func(w, a []byte, nb int) float32
	q4_K func(w, a []byte, nb int) float32
	q5_K func(w, a []byte, nb int) float32
	q6_K func(w, a []byte, nb int) float32
	f16  func(w []byte, x []float32) float32
	f32  func(w []byte, x []float32) float32

	q8_0Rows, q4_0Rows, q5_0Rows, q4_KRows, q5_KRows, q6_KRows rowsFunc

	// quantizeQ8_0 is a faster QuantizeQ8_0 with the same bytes, or nil.
	quantizeQ8_0 func(dst []byte, x []float32)
	// quantizeQ8_K is a faster QuantizeQ8_K with the same bytes, or nil.
	quantizeQ8_K func(dst []byte, x []float32)
	// dequant is a faster DequantizeRow for some types (same floats); it
	// reports false for a type it leaves to the Go code. Nil: none.
	dequant func(t Type, dst []float32, src []byte, n int) bool
}

// rowsFunc dots len(dst) weight rows spaced stride bytes apart with the
// activation blocks a (nb blocks per row).
type rowsFunc func(w []byte, stride int, a []byte, nb int, dst []float32)

// asmDot is the signature of the assembly single-row dots over nb ≥ 1 blocks.
type asmDot func(w, a *byte, nb int) float32

// asmDotChecked is f with the bounds check done in Go, so a short slice
// panics with an index error here instead of f reading out of bounds; wbb
// and abb are the weight and activation block sizes.
func asmDotChecked(f asmDot, wbb, abb int) func(w, a []byte, nb int) float32 {
	return func(w, a []byte, nb int) float32 {
		if !dotBounds(w, a, nb, wbb, abb) {
			return 0
		}
		return f(&w[0], &a[0], nb)
	}
}

// dotBounds checks that w holds nb weight blocks of wbb bytes and a nb
// activation blocks of abb bytes; false means nb ≤ 0 (the dot is 0).
func dotBounds(w, a []byte, nb, wbb, abb int) bool {
	if nb <= 0 {
		return false
	}
	_, _ = w[nb*wbb-1], a[nb*abb-1]
	return true
}

var genericKernels = dotKernels{
	name: "go",
	q8_0: dotQ8_0Go,
	q4_0: dotQ4_0Go,
	q5_0: dotQ5_0Go,
	q4_K: dotQ4_KGo,
	q5_K: dotQ5_KGo,
	q6_K: dotQ6_KGo,
	f16:  dotF16Go,
	f32:  dotF32Go,
}

// The portable quantized dots follow the float order of the AVX2 kernels
// (which is llama.cpp's), so that every implementation returns the same
// bits: the integer products of each block are summed exactly into eight
// int32 lanes (lane k: elements 4k..4k+3 of a 32-element group), each lane
// is converted to float32 and fused-multiply-added (FMA32, one rounding)
// with the block's scale into eight float32 accumulators, and the
// accumulators are summed as hsum8 does. Q4_K keeps one exact integer sum
// per super-block and two scalar accumulators, as ggml's repacked kernels.

// hsum8 sums eight lanes in the order of the AVX2 horizontal sum:
// (l0+l4)+(l2+l6) + (l1+l5)+(l3+l7).
func hsum8(acc *[8]float32) float32 {
	t0, t1 := acc[0]+acc[4], acc[1]+acc[5]
	t2, t3 := acc[2]+acc[6], acc[3]+acc[7]
	u0, u1 := t0+t2, t1+t3
	return u0 + u1
}

// fmaLanes adds float32(lanes[k])·s into acc[k] with one rounding each
// (fma32's fast path written out, so that the loop makes no calls).
func fmaLanes(acc *[8]float32, lanes *[8]int32, s float32) {
	for k := range acc {
		a := float32(lanes[k])
		r := float64(a)*float64(s) + float64(acc[k])
		if bits := math.Float64bits(r); bits&(1<<29-1) != 1<<28 && (bits>>52)&0x7ff >= 897 {
			acc[k] = float32(r)
		} else {
			acc[k] = FMA32(a, s, acc[k])
		}
	}
}

// fma32 is FMA32 with its common case inlined: a·b is exact in float64, and
// rounding the float64 sum to float32 rounds once unless that sum sits
// exactly on a float32 midpoint or below the normal range (then FMA32 does
// the exact rounding).
func fma32(a, b, c float32) float32 {
	s := float64(a)*float64(b) + float64(c)
	// exponent ≥ 1023−126: |s| ≥ 2⁻¹²⁶ (Inf and NaN pass through)
	if bits := math.Float64bits(s); bits&(1<<29-1) != 1<<28 && (bits>>52)&0x7ff >= 897 {
		return float32(s)
	}
	return FMA32(a, b, c)
}

func dotQ8_0Go(w, a []byte, nb int) float32 {
	var acc [8]float32
	for i := 0; i < nb; i++ {
		wb := w[i*BytesQ8_0 : i*BytesQ8_0+BytesQ8_0]
		ab := a[i*BytesQ8_0 : i*BytesQ8_0+BytesQ8_0]
		var lanes [8]int32
		for k := range lanes {
			q, x := wb[2+4*k:6+4*k], ab[2+4*k:6+4*k]
			lanes[k] = int32(int8(q[0]))*int32(int8(x[0])) + int32(int8(q[1]))*int32(int8(x[1])) +
				int32(int8(q[2]))*int32(int8(x[2])) + int32(int8(q[3]))*int32(int8(x[3]))
		}
		fmaLanes(&acc, &lanes, half(wb)*half(ab))
	}
	return hsum8(&acc)
}

func dotQ4_0Go(w, a []byte, nb int) float32 {
	var acc [8]float32
	for i := 0; i < nb; i++ {
		wb := w[i*BytesQ4_0 : i*BytesQ4_0+BytesQ4_0]
		ab := a[i*BytesQ8_0 : i*BytesQ8_0+BytesQ8_0]
		var lanes [8]int32
		for j := 0; j < 16; j++ {
			lanes[j/4] += (int32(wb[2+j]&15) - 8) * int32(int8(ab[2+j]))
			lanes[4+j/4] += (int32(wb[2+j]>>4) - 8) * int32(int8(ab[18+j]))
		}
		fmaLanes(&acc, &lanes, half(wb)*half(ab))
	}
	return hsum8(&acc)
}

func dotQ5_0Go(w, a []byte, nb int) float32 {
	var acc [8]float32
	for i := 0; i < nb; i++ {
		wb := w[i*BytesQ5_0 : i*BytesQ5_0+BytesQ5_0]
		ab := a[i*BytesQ8_0 : i*BytesQ8_0+BytesQ8_0]
		qh := binary.LittleEndian.Uint32(wb[2:])
		var lanes [8]int32
		for j := 0; j < 16; j++ {
			lo := int32(wb[6+j]&15) | int32((qh>>j)&1)<<4
			hi := int32(wb[6+j]>>4) | int32((qh>>(j+16))&1)<<4
			lanes[j/4] += (lo - 16) * int32(int8(ab[2+j]))
			lanes[4+j/4] += (hi - 16) * int32(int8(ab[18+j]))
		}
		fmaLanes(&acc, &lanes, half(wb)*half(ab))
	}
	return hsum8(&acc)
}

func q8KScale(ab []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(ab)) }

func q8KBsum(ab []byte, g int) int32 {
	return int32(int16(binary.LittleEndian.Uint16(ab[4+QKK+2*g:])))
}

// q4KMins is Σ_j m[j]·(bsums[2j] + bsums[2j+1]), exact.
func q4KMins(ab []byte, m *[8]uint8) int32 {
	var summ int32
	for j := 0; j < 8; j++ {
		summ += int32(m[j]) * (q8KBsum(ab, 2*j) + q8KBsum(ab, 2*j+1))
	}
	return summ
}

// q4KPairSums is the exact integer dot of a Q4_K sub-block pair's codes q
// (32 bytes: the low nibbles are the first sub-block, the high nibbles the
// second) with its 64 activations aq: s1 for the first sub-block against
// aq[0:32], s2 for the second against aq[32:64].
func q4KPairSums(q, aq []byte) (s1, s2 int32) {
	_, _ = q[31], aq[63]
	for l := 0; l < 32; l++ {
		s1 += int32(q[l]&15) * int32(int8(aq[l]))
		s2 += int32(q[l]>>4) * int32(int8(aq[32+l]))
	}
	return s1, s2
}

// q4KBlockSums is the exact integer part of one Q4_K·Q8_K super-block (wb,
// ab), per pair j of 32-element sub-blocks: isb[j] = Σ sc·q·a over the pair
// and imin[j] = m₀·bsum₀ + m₁·bsum₁ (the pair's mins times Q8_K's sums of
// 16). Integer sums are exact in any order, so every Q4_K dot shares them.
func q4KBlockSums(wb, ab []byte) (isb, imin [4]int32) {
	sc, m := scaleMinK4(wb[4:16])
	aq := ab[4:]
	for j := 0; j < 4; j++ {
		s1, s2 := q4KPairSums(wb[16+32*j:16+32*j+32], aq[64*j:64*j+64])
		isb[j] = s1*int32(sc[2*j]) + s2*int32(sc[2*j+1])
		imin[j] = int32(m[2*j])*(q8KBsum(ab, 4*j)+q8KBsum(ab, 4*j+1)) +
			int32(m[2*j+1])*(q8KBsum(ab, 4*j+2)+q8KBsum(ab, 4*j+3))
	}
	return isb, imin
}

func dotQ4_KGo(w, a []byte, nb int) float32 {
	var acc, accm float32
	for i := 0; i < nb; i++ {
		wb := w[i*BytesQ4_K : i*BytesQ4_K+BytesQ4_K]
		ab := a[i*BytesQ8_K : i*BytesQ8_K+BytesQ8_K]
		isb, imin := q4KBlockSums(wb, ab)
		da := q8KScale(ab)
		acc = fma32(float32(isb[0]+isb[1]+isb[2]+isb[3]), half(wb)*da, acc)
		accm = fma32(float32(imin[0]+imin[1]+imin[2]+imin[3]), half(wb[2:])*da, accm)
	}
	return acc - accm
}

// dotQ5_KGo: eight lanes per super-block (lane k: elements 4k..4k+3 of each
// 32-element half-chunk times its scale), FMA'd with d·da; the mins in a
// scalar FMA'd with dmin·da; result = hsum8(lanes) − mins (llama.cpp's AVX2
// order).
func dotQ5_KGo(w, a []byte, nb int) float32 {
	var acc [8]float32
	var accm float32
	for i := 0; i < nb; i++ {
		wb := w[i*BytesQ5_K : i*BytesQ5_K+BytesQ5_K]
		ab := a[i*BytesQ8_K : i*BytesQ8_K+BytesQ8_K]
		sc, m := scaleMinK4(wb[4:16])
		qh := wb[16:48]
		aq := ab[4:]
		var lanes [8]int32
		for j := 0; j < 4; j++ {
			q := wb[48+32*j:]
			for l := 0; l < 32; l++ {
				lo := int32(q[l]&15) | int32((qh[l]>>(2*j))&1)<<4
				hi := int32(q[l]>>4) | int32((qh[l]>>(2*j+1))&1)<<4
				lanes[l/4] += int32(sc[2*j])*lo*int32(int8(aq[64*j+l])) +
					int32(sc[2*j+1])*hi*int32(int8(aq[64*j+32+l]))
			}
		}
		da := q8KScale(ab)
		fmaLanes(&acc, &lanes, half(wb)*da)
		accm = fma32(float32(q4KMins(ab, &m)), half(wb[2:])*da, accm)
	}
	return hsum8(&acc) - accm
}

// dotQ6_KGo: lane k starts at −32·(sc[2k]·bsums[2k] + sc[2k+1]·bsums[2k+1])
// and collects, for each half h and 32-element chunk c, sc[8h+2c+k/4] times
// the unsigned 6-bit codes of elements 4k..4k+3 of the chunk times their
// activations; then one FMA per lane with d·da.
func dotQ6_KGo(w, a []byte, nb int) float32 {
	var acc [8]float32
	for i := 0; i < nb; i++ {
		wb := w[i*BytesQ6_K : i*BytesQ6_K+BytesQ6_K]
		ab := a[i*BytesQ8_K : i*BytesQ8_K+BytesQ8_K]
		scales := wb[192:208]
		var lanes [8]int32
		for k := 0; k < 8; k++ {
			b := int32(int8(scales[2*k]))*q8KBsum(ab, 2*k) + int32(int8(scales[2*k+1]))*q8KBsum(ab, 2*k+1)
			lanes[k] = -(b << 5)
		}
		for h := 0; h < 2; h++ {
			ql, qh, sc := wb[64*h:], wb[128+32*h:], scales[8*h:]
			aq := ab[4+128*h:]
			for l := 0; l < 32; l++ {
				k := l / 4
				is := l / 16
				q1 := int32(ql[l]&15 | (qh[l]&3)<<4)
				q2 := int32(ql[l+32]&15 | ((qh[l]>>2)&3)<<4)
				q3 := int32(ql[l]>>4 | ((qh[l]>>4)&3)<<4)
				q4 := int32(ql[l+32]>>4 | ((qh[l]>>6)&3)<<4)
				lanes[k] += int32(int8(sc[is]))*q1*int32(int8(aq[l])) +
					int32(int8(sc[is+2]))*q2*int32(int8(aq[l+32])) +
					int32(int8(sc[is+4]))*q3*int32(int8(aq[l+64])) +
					int32(int8(sc[is+6]))*q4*int32(int8(aq[l+96]))
			}
		}
		fmaLanes(&acc, &lanes, half(wb[208:])*q8KScale(ab))
	}
	return hsum8(&acc)
}

func dotF16Go(w []byte, x []float32) float32 {
	var s0, s1, s2, s3 float32
	n := len(x)
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += f16.Float32(binary.LittleEndian.Uint16(w[2*i:])) * x[i]
		s1 += f16.Float32(binary.LittleEndian.Uint16(w[2*i+2:])) * x[i+1]
		s2 += f16.Float32(binary.LittleEndian.Uint16(w[2*i+4:])) * x[i+2]
		s3 += f16.Float32(binary.LittleEndian.Uint16(w[2*i+6:])) * x[i+3]
	}
	for ; i < n; i++ {
		s0 += f16.Float32(binary.LittleEndian.Uint16(w[2*i:])) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotF32Go(w []byte, x []float32) float32 {
	wf := bytesAsFloat32(w, len(x))
	var s0, s1, s2, s3 float32
	n := len(x)
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += wf[i] * x[i]
		s1 += wf[i+1] * x[i+1]
		s2 += wf[i+2] * x[i+2]
		s3 += wf[i+3] * x[i+3]
	}
	for ; i < n; i++ {
		s0 += wf[i] * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// bytesAsFloat32 views the first 4n bytes of b as n float32 (little-endian
// host, as every platform Go's float path targets here).
func bytesAsFloat32(b []byte, n int) []float32 {
	if n == 0 {
		return nil
	}
	_ = b[4*n-1]
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
}
