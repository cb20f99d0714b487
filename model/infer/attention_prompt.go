package infer

import (
	"math"

	"github.com/distill-ml/distill/num/f16"
	"github.com/distill-ml/distill/num/fastmath"
)

// promptAttnMinBatch is the batch size from which a prompt's attention runs
// as two SGEMMs per head (promptAttention) instead of per-(token, head) dot
// products (attention), unless Options.ExactPrompt asks for llama.cpp's
// arithmetic. Decode (n = 1) always uses attention.
const promptAttnMinBatch = 32

// promptQueryBlock is how many query rows one unit of work covers; it bounds
// the score buffer at promptQueryBlock × (positions) floats per worker.
const promptQueryBlock = 64

// promptAttention computes, like attention, softmax(q·Kᵀ/√hd + causal
// mask)·V for n new tokens at positions pos..pos+n−1 (already in the cache),
// but for a whole block of queries at once:
//
//	K_g: [P, hd]  (P = pos+n cached positions of kv head g, converted to F32 once)
//	Vᵀ_g: [hd, P] (the cache keeps V transposed)
//	S = scale · Q_h · K_gᵀ     [rows, P]  one SGEMM (NT)
//	S = softmax(S + mask)      row by row, vectorised exp
//	O_h = S · (Vᵀ_g)ᵀ          [rows, hd] one SGEMM (NT)
//
// With an F16 cache the queries and the probabilities are rounded to F16
// first, as ggml converts them to the cache's type before its products, so
// the products are llama.cpp's own and only the order of the additions
// differs (Options.ExactPrompt reproduces that order too).
// q: [n, nHeads·hd], out: [n, nHeads·hd].
func (s *Session) promptAttention(l int, q, out []float32, n int) {
	hp := s.m.Hyper
	hd, nh, nkv := hp.HeadDim, hp.NHeads, hp.NKVHeads
	group := nh / nkv
	P := s.pos + n
	scale := float32(1 / math.Sqrt(float64(hd)))

	// Convert the cached K and V of every kv head to F32 once per layer.
	// kf[g]: [P, hd], vf[g]: [hd, P].
	if need := nkv * P * hd; len(s.attK) < need {
		s.attK = make([]float32, need)
		s.attV = make([]float32, need)
	}
	kc, vc := s.cacheView(l)
	s.m.pool.For(nkv, 1, func(lo, hi int) {
		for g := lo; g < hi; g++ {
			kf := s.attK[g*P*hd : (g+1)*P*hd]
			vf := s.attV[g*P*hd : (g+1)*P*hd]
			for p := 0; p < P; p++ {
				kc.row(kf[p*hd:(p+1)*hd], p*s.kvDim+g*hd)
			}
			for c := 0; c < hd; c++ {
				vc.row(vf[c*P:(c+1)*P], (g*hd+c)*s.kvCap)
			}
		}
	})

	half := s.elem == 2
	if half { // q is not read again after attention: round it in place
		s.forRows(n, func(slot, lo, hi int) {
			for i := lo; i < hi; i++ {
				row := q[i*nh*hd : (i+1)*nh*hd]
				roundF16(row, row, slotScratch(s.halfBuf, slot, len(row)))
			}
		})
	}
	blocks := (n + promptQueryBlock - 1) / promptQueryBlock
	s.forSlots(nh*blocks, func(slot, lo, hi int) {
		scores := slotScratch(s.scoreBuf, slot, promptQueryBlock*P)
		for w := lo; w < hi; w++ {
			head, blk := w/blocks, w%blocks
			g := head / group
			i0 := blk * promptQueryBlock
			rows := min(promptQueryBlock, n-i0)
			// Positions beyond the block's last query are masked for every
			// row of the block, so the products stop there.
			cols := s.pos + i0 + rows
			kf := s.attK[g*P*hd : (g+1)*P*hd]
			vf := s.attV[g*P*hd : (g+1)*P*hd]
			qh := q[i0*nh*hd+head*hd:]
			S := scores[:rows*cols]
			// S[rows, cols] = scale · Q[rows, hd] · K[cols, hd]ᵀ
			s.m.tileEng.Sgemm(false, true, rows, cols, hd, scale, qh, nh*hd, kf, hd, 0, S, cols)
			for r := 0; r < rows; r++ {
				row := S[r*cols : (r+1)*cols]
				valid := s.pos + i0 + r + 1
				mx := float32(math.Inf(-1))
				for _, v := range row[:valid] {
					mx = max(mx, v)
				}
				inv := float32(1 / fastmath.ExpSum(row[:valid], row[:valid], mx, 1))
				for j := range row[:valid] {
					row[j] *= inv
				}
				if half {
					roundF16(row[:valid], row[:valid], slotScratch(s.halfBuf, slot, valid))
				}
				clear(row[valid:])
			}
			// O[rows, hd] = S[rows, cols] · Vᵀ[hd, cols]ᵀ (only the first
			// cols positions of each V channel row).
			oh := out[i0*nh*hd+head*hd:]
			s.m.tileEng.Sgemm(false, true, rows, hd, cols, 1, S, cols, vf, P, 0, oh, nh*hd)
		}
	})
}

// cacheRows reads runs of one layer's K or V cache as F32.
type cacheRows struct {
	f16 []uint16
	f32 []float32
}

// row copies len(dst) cache elements starting at element off into dst.
func (c cacheRows) row(dst []float32, off int) {
	if c.f32 != nil {
		copy(dst, c.f32[off:off+len(dst)])
		return
	}
	f16.ToFloat32(dst, c.f16[off:off+len(dst)])
}

// cacheView is layer l's K and V caches of session s as element slices.
func (s *Session) cacheView(l int) (k, v cacheRows) {
	view := func(b []byte) cacheRows {
		if s.elem == 4 {
			return cacheRows{f32: bytesF32(b)}
		}
		return cacheRows{f16: bytesU16(b)}
	}
	return view(s.kCache[l]), view(s.vCache[l])
}
