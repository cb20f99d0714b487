package infer

import (
	"math"

	"github.com/distill-ml/distill/num/f16"
	"github.com/distill-ml/distill/num/kernels/qdot"
)

// Attention with llama.cpp's summation orders (see exact.go). With an F16
// KV cache every product in the two attention matrix products is a product
// of two halves (the query and the probabilities are rounded to F16 first, as
// ggml converts them to the F16 vec_dot type), which float32 holds exactly, so
// each fused multiply-add is an exact product plus one rounded addition and
// only the order of the additions matters:
//
//   - one token (decode, ggml_vec_dot_f16): element e goes to lane e mod 64
//     of four 16-lane accumulators; lanes are combined as
//     (acc0+acc2)+(acc1+acc3), then reduced with reduce16; elements after the
//     last full 64 are added one by one in float64.
//   - a batch of two or more tokens (llamafile's tinyBLAS F16 GEMM): element e
//     goes to lane e mod 16 of one accumulator, then reduce16.
//
// The attention length in llama.cpp is the KV cache padded to a multiple of
// 256 with masked positions whose probabilities are exactly 0; they add
// nothing, so only the visible positions are summed, in their lanes.

// attentionExact is Session.attention for an F16 cache in llama.cpp's order.
// q: [n, nHeads·hd], out: [n, nHeads·hd].
func (s *Session) attentionExact(l int, q, out []float32, n int) {
	hp := s.m.Hyper
	hd, nh := hp.HeadDim, hp.NHeads
	group := hp.NHeads / hp.NKVHeads
	scale := 1 / float32(math.Sqrt(float64(hd)))
	kc, vc := s.kCache[l], s.vCache[l]
	rowBytes := s.kvDim * 2
	vStride := s.kvCap * 2
	base := s.pos
	// A batch goes through tinyBLAS when its shapes allow (k a multiple of
	// 16, rows a multiple of 4), else through ggml's vec_dot.
	kqBatch := n > 1 && hd%16 == 0
	kqvBatch := n > 1 && hd%4 == 0
	s.forSlots(n*nh, func(slot, lo, hi int) {
		scores := slotScratch(s.scoreBuf, slot, (base+n+63)&^63) // room for zero padding to a block (≤ 64)
		qr := slotScratch(s.qBuf, slot, hd)
		h16 := slotScratch(s.halfBuf, slot, max(hd, base+n))
		for w := lo; w < hi; w++ {
			i, head := w/nh, w%nh
			kvh := head / group
			p := base + i
			qh := q[i*nh*hd+head*hd : i*nh*hd+(head+1)*hd]
			roundF16(qr, qh, h16)
			// q·k for every cached position: rows of the K cache rowBytes apart
			probs := scores[:p+1]
			keys := kc[kvh*hd*2:]
			if kqBatch {
				qdot.F16GemmOrderRows(keys, rowBytes, qr, hd, probs)
			} else {
				qdot.F16VecOrderRows(keys, rowBytes, qr, hd, probs)
			}
			for j := range probs {
				probs[j] *= scale
			}
			softmaxRow(probs)
			roundF16(probs, probs, h16)
			// Summing whole blocks straight from the cache needs the
			// probabilities zero-padded to the block (the cache positions
			// past p hold zeros or stale finite values: 0·v = 0) and the
			// padded row inside the cache row.
			blk := qdot.F16VecBlock()
			if kqvBatch {
				blk = qdot.F16GemmBlock()
			}
			pad := (p + blk) / blk * blk
			clear(scores[p+1 : pad])
			direct := pad <= s.kvCap
			oh := out[i*nh*hd+head*hd : i*nh*hd+(head+1)*hd]
			for c := range oh {
				row := (kvh*hd + c) * vStride
				switch {
				case direct && kqvBatch:
					oh[c] = qdot.F16GemmOrder(vc[row:row+pad*2], scores[:pad], pad)
				case direct:
					oh[c] = qdot.F16VecOrder(vc[row:row+pad*2], scores[:pad], pad, false)
				case kqvBatch:
					oh[c] = qdot.F16GemmOrder(vc[row:row+(p+1)*2], probs, p+1)
				default:
					oh[c] = qdot.F16VecOrder(vc[row:row+(p+1)*2], probs, p+1, true)
				}
			}
		}
	})
}

// roundF16 sets dst[i] to src[i] rounded to the nearest F16 (tmp: scratch
// of at least len(src) halves).
func roundF16(dst, src []float32, tmp []uint16) {
	h := tmp[:len(src)]
	f16.FromFloat32(h, src)
	f16.ToFloat32(dst, h)
}
