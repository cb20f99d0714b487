package infer

import (
	"math"

	"github.com/distill-ml/distill/num/f16"
	"github.com/distill-ml/distill/num/kernels/qdot"
)

// attention computes, for each of the n new tokens (positions pos..pos+n−1,
// already in the cache) and each query head, softmax(q·Kᵀ/√hd) over the
// cached positions up to its own, times V. Work is split over (token, head).
// q: [n, nHeads·hd], out: [n, nHeads·hd].
func (s *Session) attention(l int, q, out []float32, n int) {
	if s.elem == 2 {
		s.attentionExact(l, q, out, n)
		return
	}
	hp := s.m.Hyper
	hd, nh := hp.HeadDim, hp.NHeads
	group := hp.NHeads / hp.NKVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	kc, vc := s.kCache[l], s.vCache[l]
	rowBytes := s.kvDim * s.elem
	vStride := s.kvCap * s.elem
	base := s.pos
	f16cache := s.elem == 2
	s.forSlots(n*nh, func(slot, lo, hi int) {
		scores := slotScratch(s.scoreBuf, slot, base+n)
		qr := slotScratch(s.qBuf, slot, hd)
		for w := lo; w < hi; w++ {
			i, head := w/nh, w%nh
			kvh := head / group
			p := base + i
			qh := q[i*nh*hd+head*hd : i*nh*hd+(head+1)*hd]
			copy(qr, qh)
			if f16cache {
				for j, v := range qr {
					qr[j] = f16.Float32(f16.Float16(v))
				}
			}
			maxs := float32(math.Inf(-1))
			for j := 0; j <= p; j++ {
				krow := kc[j*rowBytes+kvh*hd*s.elem : j*rowBytes+(kvh+1)*hd*s.elem]
				var sc float32
				if f16cache {
					sc = qdot.DotF16(krow, qr)
				} else {
					sc = qdot.DotF32(bytesF32(krow), qr)
				}
				sc *= scale
				scores[j] = sc
				if sc > maxs {
					maxs = sc
				}
			}
			var sum float64
			for j := 0; j <= p; j++ {
				e := float32(math.Exp(float64(scores[j] - maxs)))
				scores[j] = e
				sum += float64(e)
			}
			inv := float32(1 / sum)
			for j := 0; j <= p; j++ {
				pj := scores[j] * inv
				if f16cache {
					// llama.cpp multiplies the F16 V cache by probabilities
					// converted to F16; do the same so logits track it.
					pj = f16.Float32(f16.Float16(pj))
				}
				scores[j] = pj
			}
			// out[c] = Σ_j p_j·V[c, j]: one contiguous dot per channel of
			// the transposed V cache.
			oh := out[i*nh*hd+head*hd : i*nh*hd+(head+1)*hd]
			probs := scores[:p+1]
			for c := range oh {
				vrow := vc[(kvh*hd+c)*vStride : (kvh*hd+c)*vStride+(p+1)*s.elem]
				if f16cache {
					oh[c] = qdot.DotF16(vrow, probs)
				} else {
					oh[c] = qdot.DotF32(bytesF32(vrow), probs)
				}
			}
		}
	})
}
