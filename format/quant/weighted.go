package quant

import (
	"encoding/binary"
	"fmt"

	"github.com/distill-ml/distill/num/parallel"
)

// Importance-matrix quantization: ggml's quantize_<type>(…, quant_weights),
// which llama-quantize calls with a tensor's importance-matrix row (the mean
// squared activation of each input column) when given --imatrix. Types
// whose ggml quantizer ignores the weights (F32, F16, Q8_0) quantize as
// without them.

// WeightedQuantizable reports whether QuantizeWeighted supports t.
func WeightedQuantizable(t Type) bool {
	switch t {
	case F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS:
		return true
	}
	return false
}

// QuantizeWeighted encodes rows of rowLen elements of src into dst as type
// t with importance weights qw (len rowLen, shared by every row), exactly as
// ggml's quantize_<t> with quant_weights: for Q4_K and Q5_K
// quantize_row_q4_K_impl / q5_K_impl (make_qkx3_quants and make_qp_quants
// weighted by qw·√(σ²+x²)), for Q5_0 quantize_row_q5_0_impl (make_qx_quants
// weighted by qw·√(σ²+x²), σ² over the row; Q4_0 likewise with
// quantize_row_q4_0_impl), for Q5_1 and Q4_1 quantize_row_q5_1_impl /
// q4_1_impl (make_qkx3_quants with those weights), for IQ4_NL and IQ4_XS
// quantize_iq4_nl / quantize_iq4_xs (quantize_row_iq4_nl_impl), for Q2_K quantize_row_q2_K_impl
// (make_qkx3_quants, make_qp_quants, requantized), for Q3_K quantize_row_q3_K_impl
// (make_qx_quants for the levels and for the scales), for Q6_K
// quantize_row_q6_K_impl (make_qx_quants weighted by qw). Other types
// return an error.
func QuantizeWeighted(t Type, dst []byte, src []float32, rowLen int, qw []float32) error {
	if !WeightedQuantizable(t) {
		return fmt.Errorf("quant: importance-matrix quantization to %s is not implemented (supported: F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS)", t)
	}
	if err := checkSizes(t, len(dst), len(src)); err != nil {
		return err
	}
	if rowLen <= 0 || len(src)%rowLen != 0 || len(qw) != rowLen {
		return fmt.Errorf("quant: %d values in rows of %d with %d importance weights", len(src), rowLen, len(qw))
	}
	rs, err := t.RowSize(rowLen)
	if err != nil {
		return fmt.Errorf("quant: %w", err)
	}
	parallel.Default().For(len(src)/rowLen, 1, func(lo, hi int) { // rows are independent
		for r := lo; r < hi; r++ {
			quantizeRowWeighted(t, dst[r*rs:(r+1)*rs], src[r*rowLen:(r+1)*rowLen], qw)
		}
	})
	return nil
}

// quantizeRowWeighted quantizes one row x into y with importance weights qw.
func quantizeRowWeighted(t Type, y []byte, x, qw []float32) {
	switch t {
	case Q4_K, Q5_K:
		ts, nmax := t.TypeSize(), 15 // Q4_K: levels 0..15
		if t == Q5_K {
			nmax = 31
		}
		for i := 0; i < len(x)/QK_K; i++ {
			var L [QK_K]uint8
			b := y[i*ts : (i+1)*ts]
			quantizeK45Weighted(b, x[i*QK_K:(i+1)*QK_K], qw[i*QK_K:(i+1)*QK_K], &L, nmax)
			if t == Q4_K {
				packQ4_K(b, &L)
			} else {
				packQ5_K(b, &L)
			}
		}
	case Q6_K:
		for i := 0; i < len(x)/QK_K; i++ {
			quantizeQ6_K(y[i*210:(i+1)*210], x[i*QK_K:(i+1)*QK_K], qw[i*QK_K:(i+1)*QK_K])
		}
	case Q4_0, Q5_0:
		quantizeQ4_0Q5_0Weighted(t, y, x, qw)
	case Q4_1, Q5_1:
		quantizeQ4_1Q5_1Weighted(t, y, x, qw)
	case IQ4_NL, IQ4_XS:
		quantizeIQ4Row(t, y, x, qw, iq4Tries)
	case Q2_K:
		for i := 0; i < len(x)/QK_K; i++ {
			quantizeQ2_KWeighted(y[i*84:(i+1)*84], x[i*QK_K:(i+1)*QK_K], qw[i*QK_K:(i+1)*QK_K])
		}
	case Q3_K:
		for i := 0; i < len(x)/QK_K; i++ {
			quantizeQ3_KWeighted(y[i*110:(i+1)*110], x[i*QK_K:(i+1)*QK_K], qw[i*QK_K:(i+1)*QK_K])
		}
	default: // F32, F16, Q8_0: ggml ignores the weights
		quantizeBlocks(t, y, x)
	}
}

// makeQPQuants is ggml's make_qp_quants: levels 0..nmax for the n
// non-negative values x (sub-block scales or mins), weighted by qw, by a
// search over 9 scales and up to five coordinate-descent passes; returns the
// scale.
func makeQPQuants(nmax int, x []float32, L []uint8, qw []float32) float32 {
	n := len(x)
	var maxv float32
	for _, v := range x {
		maxv = max(maxv, v) // C: MAX(max, x[i]) = max > x ? max : x
	}
	if maxv < groupMaxEps {
		clear(L[:n])
		return 0
	}
	iscale := float32(nmax) / maxv
	for i, v := range x {
		L[i] = uint8(nearestInt(float32(iscale * v)))
	}
	scale := 1 / iscale
	var bestMSE float32
	for i, v := range x {
		diff := v - float32(scale*float32(L[i]))
		bestMSE += float32(float32(qw[i]*diff) * diff)
	}
	for is := -4; is <= 4; is++ {
		if is == 0 {
			continue
		}
		iscaleIs := (float32(0.1*float32(is)) + float32(nmax)) / maxv
		scaleIs := 1 / iscaleIs
		var mse float32
		for i, v := range x {
			l := min(nmax, nearestInt(float32(iscaleIs*v)))
			diff := v - float32(scaleIs*float32(l))
			mse += float32(float32(qw[i]*diff) * diff)
		}
		if mse < bestMSE {
			bestMSE = mse
			iscale = iscaleIs
		}
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := min(nmax, nearestInt(float32(iscale*v)))
		L[i] = uint8(l)
		w, fl := qw[i], float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	for range 5 {
		changed := 0
		for i, v := range x {
			w, li := qw[i], float32(L[i])
			slx := sumlx - float32(float32(w*v)*li)
			sl2 := suml2 - float32(float32(w*li)*li)
			if slx > 0 && sl2 > 0 {
				nl := min(nmax, nearestInt(float32(v*sl2)/slx))
				if nl != int(L[i]) {
					fn := float32(nl)
					slx += float32(float32(w*v) * fn)
					sl2 += float32(float32(w*fn) * fn)
					if float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
						L[i] = uint8(nl)
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
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// sumSquares is Σx², summed in float32 in x's order as ggml's impl
// quantizers sum it for σ².
func sumSquares(x []float32) (sum float32) {
	for _, v := range x {
		sum += float32(v * v)
	}
	return sum
}

// importanceWeights fills weight[i] = qw[i]·√(σ²+x[i]²), the weights ggml's
// impl quantizers give each element of a block from the importance matrix
// qw, and returns their sum (in weight's order).
func importanceWeights(weight, x, qw []float32, sigma2 float32) (sum float32) {
	weight = weight[:len(x)]
	for i, v := range x {
		weight[i] = qw[i] * sqrt32(sigma2+float32(v*v))
	}
	for _, w := range weight {
		sum += w
	}
	return sum
}

// quantizeK45Weighted is the shared body of quantize_row_q4_K_impl /
// q5_K_impl (levels 0..nmax) for one super-block: it fills y's d, dmin and
// scales and returns the levels in L.
func quantizeK45Weighted(y []byte, x, qw []float32, L *[QK_K]uint8, nmax int) {
	var Laux [32]uint8
	var Ls, Lm [QK_K / 32]uint8
	var weights [32]float32
	var sw, mins, scales [QK_K / 32]float32
	sigma2 := 2 * sumSquares(x[:QK_K]) / QK_K
	for j := 0; j < QK_K/32; j++ {
		sw[j] = importanceWeights(weights[:], x[32*j:32*j+32], qw[32*j:32*j+32], sigma2)
		// make_qkx3_quants with weights is make_qkx2_quants (max ≤ min only when equal).
		scales[j], mins[j] = makeQKX2Quants(nmax, x[32*j:32*j+32], weights[:], L[32*j:32*j+32], Laux[:], -0.9, 0.05, 36, false)
	}
	dBlock := makeQPQuants(63, scales[:], Ls[:], sw[:])
	mBlock := makeQPQuants(63, mins[:], Lm[:], sw[:])
	var ls, lm [QK_K / 32]uint8
	for j := range ls {
		ls[j], lm[j] = min(63, Ls[j]), min(63, Lm[j])
	}
	finishScalesMinsK4(y, x, L[:], nmax, dBlock, mBlock, &ls, &lm)
}

// eachWeightedBlock calls f for every 32-element block xb (index ib) of the
// row x with the weights of ggml's row-wise impl quantizers (q4_0, q4_1,
// q5_0, q5_1): qw·√(σ²+x²), σ² the mean of x² over the row.
func eachWeightedBlock(x, qw []float32, f func(ib int, xb, weight []float32)) {
	sigma2 := sumSquares(x) / float32(len(x))
	var weight [32]float32
	for ib := 0; ib < len(x)/32; ib++ {
		xb := x[32*ib : 32*ib+32]
		importanceWeights(weight[:], xb, qw[32*ib:32*ib+32], sigma2)
		f(ib, xb, weight[:])
	}
}

// quantizeQ4_0Q5_0Weighted is quantize_row_q4_0_impl (t Q4_0, levels
// −8..7) or quantize_row_q5_0_impl (t Q5_0, levels −16..15) for one row.
func quantizeQ4_0Q5_0Weighted(t Type, y []byte, x, qw []float32) {
	var L [32]int8
	ts, nmax := t.TypeSize(), 8
	if t == Q5_0 {
		nmax = 16
	}
	eachWeightedBlock(x, qw, func(ib int, xb, weight []float32) {
		b := y[ts*ib : ts*ib+ts]
		putHalf(b, makeQXQuants(nmax, xb, L[:], weight))
		if t == Q4_0 {
			packQ4(b[2:18], &L)
		} else {
			packQ5(b[2:6], b[6:22], &L)
		}
	})
}

// quantizeQ4_1Q5_1Weighted is quantize_row_q4_1_impl (t Q4_1, levels 0..15)
// or quantize_row_q5_1_impl (t Q5_1, levels 0..31) for one row.
func quantizeQ4_1Q5_1Weighted(t Type, y []byte, x, qw []float32) {
	var L, Laux [32]uint8
	ts, nmax := t.TypeSize(), 15
	if t == Q5_1 {
		nmax = 31
	}
	eachWeightedBlock(x, qw, func(ib int, xb, weight []float32) {
		// make_qkx3_quants with weights is make_qkx2_quants; it returns −min.
		d, negMin := makeQKX2Quants(nmax, xb, weight, L[:], Laux[:], -0.9, 0.05, 36, false)
		b := y[ts*ib : ts*ib+ts]
		putHalf(b, d)
		putHalf(b[2:], -negMin)
		if t == Q4_1 {
			packQ4(b[4:20], &L)
		} else {
			packQ5(b[4:8], b[8:24], &L)
		}
	})
}

// packQ4 stores 32 four-bit levels (L[j] for element j, in 0..15) as
// Q4_0/Q4_1 do: element j in the low nibble of qs[j], element 16+j in its
// high nibble.
func packQ4[T int8 | uint8](qs []byte, L *[32]T) {
	_ = qs[15]
	for j := 0; j < 16; j++ {
		qs[j] = uint8(L[j]) | uint8(L[j+16])<<4
	}
}

// packQ5 stores 32 five-bit levels (L[j] for element j, in 0..31) as
// Q5_0/Q5_1 do: the low nibbles in qs (element j low, 16+j high), the fifth
// bits in the little-endian u32 qh.
func packQ5[T int8 | uint8](qh, qs []byte, L *[32]T) {
	var h uint32
	for j := 0; j < 16; j++ {
		xi0, xi1 := uint8(L[j]), uint8(L[j+16])
		qs[j] = xi0&0x0f | (xi1&0x0f)<<4
		h |= uint32(xi0&0x10) >> 4 << j
		h |= uint32(xi1&0x10) >> 4 << (j + 16)
	}
	binary.LittleEndian.PutUint32(qh, h)
}

// quantizeQ3_KWeighted is quantize_row_q3_K_impl for one super-block.
func quantizeQ3_KWeighted(y []byte, x, qw []float32) {
	var L [QK_K]int8
	var scales, sw [QK_K / 16]float32
	var Ls [QK_K / 16]int8
	var weight [16]float32
	sigma2 := 2 * sumSquares(x[:QK_K]) / QK_K
	for j := 0; j < QK_K/16; j++ {
		sw[j] = importanceWeights(weight[:], x[16*j:16*j+16], qw[16*j:16*j+16], sigma2)
		scales[j] = makeQXQuants(4, x[16*j:16*j+16], L[16*j:16*j+16], weight[:])
	}
	sc := y[96:108]
	clear(sc)
	dBlock := makeQXQuants(32, scales[:], Ls[:], sw[:])
	for j := 0; j < QK_K/16; j++ {
		l := int(Ls[j])
		if j < 8 {
			sc[j] = uint8(l & 0xf)
		} else {
			sc[j-8] |= uint8(l&0xf) << 4
		}
		l >>= 4
		sc[j%4+8] |= uint8(l << (2 * (j / 4)))
	}
	putHalf(y[108:], dBlock)
	finishQ3_K(y, x, &L)
}

// quantizeQ2_KWeighted is quantize_row_q2_K_impl for one super-block.
func quantizeQ2_KWeighted(y []byte, x, qw []float32) {
	var L [QK_K]uint8
	var Laux [16]uint8
	var mins, scales, sw [QK_K / 16]float32
	var weight [16]float32
	var Ls, Lm [QK_K / 16]uint8
	sigma2 := sumSquares(x[:QK_K]) / QK_K
	for j := 0; j < QK_K/16; j++ {
		sw[j] = importanceWeights(weight[:], x[16*j:16*j+16], qw[16*j:16*j+16], sigma2)
		// make_qkx3_quants with weights is make_qkx2_quants.
		scales[j], mins[j] = makeQKX2Quants(3, x[16*j:16*j+16], weight[:], L[16*j:16*j+16], Laux[:], -0.9, 0.05, 36, false)
	}
	dm := makeQPQuants(15, scales[:], Ls[:], sw[:])
	mm := makeQPQuants(15, mins[:], Lm[:], sw[:])
	putHalf(y[80:], dm)
	putHalf(y[82:], mm)
	sc := y[0:16]
	for j := range sc {
		sc[j] = Ls[j] | Lm[j]<<4
	}
	finishQ2_K(y, x, &L)
}
