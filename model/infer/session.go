package infer

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/distill-ml/distill/num/f16"
	"github.com/distill-ml/distill/num/kernels"
	"github.com/distill-ml/distill/num/kernels/qdot"
)

// maxBatch is the number of tokens one forward step processes; longer
// inputs are split (the KV cache makes the split invisible).
const maxBatch = 256

// Session is one sequence being evaluated: its KV cache and scratch buffers.
// A Session is not safe for concurrent use; use one per goroutine.
type Session struct {
	m      *Model
	ctxLen int // capacity in tokens: evaluating past it is an error
	pos    int // tokens in the cache

	// The KV cache and the RoPE tables hold kvCap ≤ ctxLen positions and
	// grow with the sequence (growKV), so a session's memory follows the
	// tokens it has seen, not its capacity.
	kvCap  int
	kvDim  int
	kCache [][]byte // per layer [kvCap, kvDim] as F16 (2 B) or F32 (4 B)
	vCache [][]byte // per layer [kvDim, kvCap]: V transposed, as llama.cpp keeps it
	elem   int      // bytes per cache element

	cos, sin []float32 // [kvCap, ropeDim/2]

	// scratch for batches of up to scratchRows tokens (grown on demand)
	scratchRows                 int
	x, h, q, k, v, att, o, g, u []float32
	logits                      []float32 // the LM head's output rows, reused (callers get copies)
	ws                          qdot.Workspace
	attK, attV                  []float32             // promptAttention's F32 copies of one layer's K and V
	tileBuf, scoreBuf, qBuf     [][]float32           // per pool thread: a dequantized weight tile, attention scores, one query head
	halfBuf                     [][]uint16            // per pool thread: F16 rounding scratch
	packedX                     kernels.PackedA       // mulDequant's packed activations
	packScratch                 []kernels.PackScratch // per pool thread: mulDequant's B sliver and edge tile
	vGather                     [][]float32           // per pool thread: one V channel of a batch (storeKVRows)
	actBuf                      []float32             // mulDequant's rounded activations
	actQ                        [][]byte              // per pool thread: their quantized form
	observe                     MatmulObserver        // Observe's callback, or nil
	matNames                    map[*qdot.Matrix]string
}

// NewSession starts an empty sequence with room for ctxLen tokens (≤ 0 or
// more than the model's context length — Model.ContextLength, the file's
// llama.context_length capped by Options.Context — means the model's
// context length). Nothing is allocated for the cache yet: it grows with the
// tokens evaluated.
func (m *Model) NewSession(ctxLen int) *Session {
	if limit := m.ContextLength(); ctxLen <= 0 || ctxLen > limit {
		ctxLen = limit
	}
	h := m.Hyper
	s := &Session{m: m, ctxLen: ctxLen, kvDim: h.NKVHeads * h.HeadDim, elem: 2}
	if m.kvF32 {
		s.elem = 4
	}
	s.kCache = make([][]byte, h.NLayers)
	s.vCache = make([][]byte, h.NLayers)
	return s
}

// Pos is the number of tokens evaluated so far (the next token's position).
func (s *Session) Pos() int { return s.pos }

// ContextLength is the session's capacity in tokens.
func (s *Session) ContextLength() int { return s.ctxLen }

// KVCacheBytes is the memory the KV cache holds now (it grows with the
// sequence up to Model.KVCacheBytes(ContextLength())).
func (s *Session) KVCacheBytes() int64 {
	return int64(len(s.kCache)) * 2 * int64(s.kvCap) * int64(s.kvDim) * int64(s.elem)
}

// kvChunk is the granularity of the KV cache's capacity in positions: it
// is a multiple of every attention block the exact kernels pad to (≤ 64),
// so the padded probability rows stay inside a cache row.
const kvChunk = 256

// growKV makes room for need ≤ ctxLen positions: the capacity at least
// doubles (rounded up to kvChunk, capped at ctxLen), so a sequence growing
// token by token reallocates O(log n) times, and the cached keys, values
// and RoPE angles are copied into the new buffers unchanged (the arithmetic
// never sees the capacity, only the positions).
func (s *Session) growKV(need int) {
	if need <= s.kvCap {
		return
	}
	newCap := min(s.ctxLen, (max(need, 2*s.kvCap)+kvChunk-1)/kvChunk*kvChunk)
	rowBytes := s.kvDim * s.elem
	oldStride, newStride := s.kvCap*s.elem, newCap*s.elem
	for l := range s.kCache {
		k := make([]byte, newCap*rowBytes)
		copy(k, s.kCache[l])
		s.kCache[l] = k
		v := make([]byte, newCap*rowBytes) // [kvDim, newCap]: each channel's run moves to its new stride
		if old := s.vCache[l]; old != nil {
			for c := 0; c < s.kvDim; c++ {
				copy(v[c*newStride:c*newStride+oldStride], old[c*oldStride:(c+1)*oldStride])
			}
		}
		s.vCache[l] = v
	}
	h := s.m.Hyper
	half := h.RopeDim / 2
	cos, sin := make([]float32, newCap*half), make([]float32, newCap*half)
	copy(cos, s.cos)
	copy(sin, s.sin)
	ropeTables(cos, sin, s.kvCap, newCap, h.RopeDim, h.RopeBase, h.RopeFreqFactors) // exact.go: ggml's float32 angles
	s.cos, s.sin, s.kvCap = cos, sin, newCap
}

// Reset empties the cache so the session can start a new sequence.
func (s *Session) Reset() { s.pos = 0 }

// Truncate drops cached tokens from position n on (n ≤ Pos).
func (s *Session) Truncate(n int) {
	if n >= 0 && n < s.pos {
		s.pos = n
	}
}

// ensureScratch sizes the per-token scratch for batches of n tokens
// (n ≤ maxBatch). It grows only when a longer batch comes, so a session
// that only decodes (or evaluates short prompts) keeps small buffers.
func (s *Session) ensureScratch(n int) {
	if s.scratchRows >= n {
		return
	}
	s.scratchRows = n
	h := s.m.Hyper
	s.x = make([]float32, n*h.DModel)
	s.h = make([]float32, n*h.DModel)
	s.o = make([]float32, n*h.DModel)
	s.q = make([]float32, n*h.NHeads*h.HeadDim)
	s.att = make([]float32, n*h.NHeads*h.HeadDim)
	s.k = make([]float32, n*s.kvDim)
	s.v = make([]float32, n*s.kvDim)
	s.g = make([]float32, n*h.FFNDim)
	s.u = make([]float32, n*h.FFNDim)
	if s.tileBuf != nil {
		return // the per-thread tables are made once
	}
	T := s.m.pool.Threads()
	s.tileBuf, s.scoreBuf, s.qBuf = make([][]float32, T), make([][]float32, T), make([][]float32, T)
	s.halfBuf = make([][]uint16, T)
	s.packScratch = make([]kernels.PackScratch, T)
	s.vGather = make([][]float32, T)
	s.actQ = make([][]byte, T)
}

// Eval appends tokens to the sequence and returns the logits after the last
// one ([vocab], a new slice).
func (s *Session) Eval(tokens []int32) ([]float32, error) {
	var last []float32
	err := s.forward(tokens, nil, func(_ int, logits []float32) { last = append(last[:0], logits...) }, true)
	return last, err
}

// EvalAll appends tokens and returns the logits after every one of them
// ([len(tokens), vocab], row-major) — what perplexity needs.
func (s *Session) EvalAll(tokens []int32) ([]float32, error) {
	vocab := s.m.Hyper.VocabSize
	out := make([]float32, 0, len(tokens)*vocab)
	err := s.forward(tokens, nil, func(_ int, logits []float32) { out = append(out, logits...) }, false)
	return out, err
}

// HiddenStates appends tokens and returns the residual stream at the
// requested layers for every token: layer 0 is the token embeddings, layer L
// (1..NLayers) the output of block L, and NLayers+1 the final normed state fed
// to the LM head (the Hugging Face hidden_states convention, plus the norm).
// Result: one [len(tokens), DModel] slice per requested layer, in order.
func (s *Session) HiddenStates(tokens []int32, layers []int) ([][]float32, error) {
	_, hs, err := s.evalHidden(tokens, layers, false)
	return hs, err
}

// EvalAllHidden is EvalAll and HiddenStates in one forward pass: the logits
// after every token ([len(tokens), vocab]) and the residual stream at the
// requested layers (one [len(tokens), DModel] slice per layer). A local
// teacher needs both for every position.
func (s *Session) EvalAllHidden(tokens []int32, layers []int) ([]float32, [][]float32, error) {
	return s.evalHidden(tokens, layers, true)
}

func (s *Session) evalHidden(tokens []int32, layers []int, withLogits bool) ([]float32, [][]float32, error) {
	h := s.m.Hyper
	for _, l := range layers {
		if l < 0 || l > h.NLayers+1 {
			return nil, nil, fmt.Errorf("hidden state layer %d out of range [0, %d]", l, h.NLayers+1)
		}
	}
	out := make([][]float32, len(layers))
	for i := range out {
		out[i] = make([]float32, 0, len(tokens)*h.DModel)
	}
	hook := func(layer int, x []float32) {
		for i, l := range layers {
			if l == layer {
				out[i] = append(out[i], x...)
			}
		}
	}
	if len(layers) == 0 {
		hook = nil
	}
	if !withLogits {
		err := s.forward(tokens, hook, nil, true)
		return nil, out, err
	}
	logits := make([]float32, 0, len(tokens)*h.VocabSize)
	err := s.forward(tokens, hook, func(_ int, l []float32) { logits = append(logits, l...) }, false)
	return logits, out, err
}

// forward runs tokens through the model in batches of at most maxBatch.
// hook (may be nil) sees the residual stream [n, d] after each layer;
// emit (may be nil) gets the logits of each position (only the last position
// of the whole call when lastOnly).
func (s *Session) forward(tokens []int32, hook func(layer int, x []float32), emit func(i int, logits []float32), lastOnly bool) error {
	h := s.m.Hyper
	if len(tokens) == 0 {
		return fmt.Errorf("eval: no tokens")
	}
	if s.pos+len(tokens) > s.ctxLen {
		return fmt.Errorf("eval: %d tokens at position %d exceed the context length %d", len(tokens), s.pos, s.ctxLen)
	}
	for i, t := range tokens {
		if t < 0 || int(t) >= h.VocabSize {
			return fmt.Errorf("eval: token %d at index %d is outside the vocabulary [0, %d)", t, i, h.VocabSize)
		}
	}
	s.growKV(s.pos + len(tokens))
	s.ensureScratch(min(len(tokens), maxBatch))
	logits := s.logits
	for off := 0; off < len(tokens); off += maxBatch {
		batch := tokens[off:min(off+maxBatch, len(tokens))]
		n := len(batch)
		// With only the last logits wanted (and no hidden states), the last
		// block's FFN runs for the last row only, as llama.cpp does.
		s.step(batch, hook, lastOnly && emit != nil && hook == nil && off+n >= len(tokens))
		if emit == nil {
			continue
		}
		first := 0
		if lastOnly {
			if off+n < len(tokens) {
				continue
			}
			first = n - 1
		}
		rows := n - first
		if cap(logits) < rows*h.VocabSize {
			logits = make([]float32, rows*h.VocabSize)
			s.logits = logits
		}
		logits = logits[:rows*h.VocabSize]
		// final norm of the wanted rows, then the LM head
		hn := s.h[:rows*h.DModel]
		for r := 0; r < rows; r++ {
			rmsNorm(hn[r*h.DModel:(r+1)*h.DModel], s.x[(first+r)*h.DModel:(first+r+1)*h.DModel], s.m.outNorm, h.NormEps)
		}
		s.mul([]*qdot.Matrix{&s.m.output}, [][]float32{logits}, hn, rows)
		for r := 0; r < rows; r++ {
			emit(off+first+r, logits[r*h.VocabSize:(r+1)*h.VocabSize])
		}
	}
	return nil
}

// step runs one batch through every block, leaving the residual stream in
// s.x[:n·d] and advancing pos.
func (s *Session) step(tokens []int32, hook func(layer int, x []float32), lastRowOnly bool) {
	m := s.m
	hp := m.Hyper
	n, d := len(tokens), hp.DModel
	qDim, kvDim := hp.NHeads*hp.HeadDim, s.kvDim
	x := s.x[:n*d]
	for i, t := range tokens {
		_ = m.tokEmbd.Row(x[i*d:(i+1)*d], int(t)) // id range checked by the caller
	}
	if hook != nil {
		hook(0, x)
	}
	hb, q, k, v := s.h[:n*d], s.q[:n*qDim], s.k[:n*kvDim], s.v[:n*kvDim]
	att, o := s.att[:n*qDim], s.o[:n*d]
	g, u := s.g[:n*hp.FFNDim], s.u[:n*hp.FFNDim]
	for l := range m.blocks {
		b := &m.blocks[l]
		s.forRows(n, func(_, lo, hi int) {
			for i := lo; i < hi; i++ {
				rmsNorm(hb[i*d:(i+1)*d], x[i*d:(i+1)*d], b.attnNorm, hp.NormEps)
			}
		})
		s.mul([]*qdot.Matrix{&b.wq, &b.wk, &b.wv}, [][]float32{q, k, v}, hb, n)
		s.forRows(n, func(slot, lo, hi int) {
			for i := lo; i < hi; i++ {
				p := s.pos + i
				if b.bq != nil { // qwen2: ggml_add after the product
					addTo(q[i*qDim:(i+1)*qDim], b.bq)
					addTo(k[i*kvDim:(i+1)*kvDim], b.bk)
					addTo(v[i*kvDim:(i+1)*kvDim], b.bv)
				}
				if b.qNorm != nil { // qwen3: RMSNorm of every head before RoPE
					headNorm(q[i*qDim:(i+1)*qDim], b.qNorm, hp.NHeads, hp.HeadDim, hp.NormEps)
					headNorm(k[i*kvDim:(i+1)*kvDim], b.kNorm, hp.NKVHeads, hp.HeadDim, hp.NormEps)
				}
				s.rope(q[i*qDim:(i+1)*qDim], hp.NHeads, p)
				s.rope(k[i*kvDim:(i+1)*kvDim], hp.NKVHeads, p)
			}
			s.storeKVRows(l, s.pos+lo, k[lo*kvDim:hi*kvDim], v[lo*kvDim:hi*kvDim], slot)
		})
		if n >= promptAttnMinBatch && !m.exact {
			s.promptAttention(l, q, att, n)
		} else {
			s.attention(l, q, att, n)
		}
		s.mul([]*qdot.Matrix{&b.wo}, [][]float32{o}, att, n)
		xf, nf := x, n // the rows the FFN runs on
		if lastRowOnly && l == len(m.blocks)-1 {
			xf, nf = x[(n-1)*d:], 1
		}
		s.forRows(n, func(_, lo, hi int) {
			for i := lo * d; i < hi*d; i++ {
				x[i] += o[i]
			}
		})
		s.forRows(nf, func(_, lo, hi int) {
			for i := lo; i < hi; i++ {
				rmsNorm(hb[i*d:(i+1)*d], xf[i*d:(i+1)*d], b.ffnNorm, hp.NormEps)
			}
		})
		F := hp.FFNDim
		s.mul([]*qdot.Matrix{&b.wGate, &b.wUp}, [][]float32{g[:nf*F], u[:nf*F]}, hb[:nf*d], nf)
		s.forRows(nf, func(_, lo, hi int) {
			for i := lo; i < hi; i++ {
				swiGLU(g[i*F:(i+1)*F], u[i*F:(i+1)*F]) // exact.go: ggml's vectorised SiLU
			}
		})
		s.mul([]*qdot.Matrix{&b.wDown}, [][]float32{o[:nf*d]}, g[:nf*F], nf)
		s.forRows(nf, func(_, lo, hi int) {
			for i := lo * d; i < hi*d; i++ {
				xf[i] += o[i]
			}
		})
		if hook != nil {
			hook(l+1, x)
		}
	}
	if hook != nil {
		hn := make([]float32, n*d)
		for i := 0; i < n; i++ {
			rmsNorm(hn[i*d:(i+1)*d], x[i*d:(i+1)*d], m.outNorm, hp.NormEps)
		}
		hook(hp.NLayers+1, hn)
	}
	s.pos += n
}

// parallelRowsMin is the batch size from which per-token work (norms, RoPE,
// the cache store, SiLU, residual adds) is split over the pool by rows;
// below it (decode) handing work out costs more than it saves. Each row is
// computed the same way whichever thread runs it, so the split changes no
// bit of the result.
const parallelRowsMin = 16

// forRows runs fn over the rows [0, n) of a batch: on the calling goroutine
// for short batches, else in one contiguous range per pool thread; slot
// indexes the thread's scratch (see forSlots).
func (s *Session) forRows(n int, fn func(slot, lo, hi int)) {
	if n < parallelRowsMin {
		fn(0, 0, n)
		return
	}
	s.forSlots(n, fn)
}

// gemmMinBatch is the batch size from which F32 weights go through the
// packed-activation GEMM of mulDequant instead of row dot products;
// dequantGemmMinBatch the one from which quantized weights do (dequantized
// tile by tile). Options.ExactPrompt keeps every batch on the row dot
// products.
const (
	gemmMinBatch        = 8
	dequantGemmMinBatch = 32
	dequantTile         = 32 // weight rows dequantized at a time
)

// mul computes dsts[i] = mats[i]·x for a batch of n rows of x: F32 weights
// with a large enough batch, and quantized weights with a long batch
// (dequantized tile by tile into F32), go through mulDequant's GEMM with
// the micro-kernels of num/kernels; everything else goes through the
// quantized dot products of qdot (llama.cpp's arithmetic).
// x: [n, cols], dsts[i]: [n, mats[i].Rows].
func (s *Session) mul(mats []*qdot.Matrix, dsts [][]float32, x []float32, n int) {
	if s.observe != nil {
		s.observeMul(mats, x, n) // observe.go
	}
	if n >= gemmMinBatch {
		var rest, deq []*qdot.Matrix
		var restDst, deqDst [][]float32
		for i, w := range mats {
			switch {
			case (w.Type == qdot.F32 || n >= dequantGemmMinBatch) && !s.m.exact: // ExactPrompt: llama.cpp's orders (exact_mul.go)
				deq, deqDst = append(deq, w), append(deqDst, dsts[i])
			default:
				rest, restDst = append(rest, w), append(restDst, dsts[i])
			}
		}
		if len(deq) > 0 {
			s.mulDequant(deq, deqDst, x, n)
		}
		mats, dsts = rest, restDst
	}
	if len(mats) > 0 {
		s.mulRowDots(mats, dsts, x, n) // exact_mul.go: llama.cpp's order per weight type
	}
}

// actClass is the activation format the weights of type t are multiplied
// with in llama.cpp: Q8_0 or Q8_K for quantized types (their VecDotType),
// F16 for F16 weights, F32 for F32 weights.
func actClass(t qdot.Type) qdot.Type {
	if t == qdot.F16 {
		return qdot.F16
	}
	return qdot.VecDotType(t)
}

// mulDequant is dsts[i][n, rows] = x[n, cols]·W_iᵀ for matrices W_i that
// share x (Q, K, V; gate, up). The activations are first rounded as
// llama.cpp's dot products consume them (qdot.RoundActivations: quantized
// to Q8_0/Q8_K and back, or rounded to F16), once per activation format in
// the set, so the products are the quantized dot products' own and only
// the order of the additions differs; then mulPacked multiplies.
func (s *Session) mulDequant(mats []*qdot.Matrix, dsts [][]float32, x []float32, n int) {
	cols := mats[0].Cols
	for len(mats) > 0 {
		// The leading run of matrices with the first one's activation format
		// (a set is almost always one run).
		cls := actClass(mats[0].Type)
		run := 1
		for run < len(mats) && actClass(mats[run].Type) == cls {
			run++
		}
		xa := x[:n*cols]
		if cls != qdot.F32 {
			if len(s.actBuf) < n*cols {
				s.actBuf = make([]float32, n*cols)
			}
			xa = s.actBuf[:n*cols]
			t := mats[0].Type
			s.forRows(n, func(slot, lo, hi int) {
				s.actQ[slot] = qdot.RoundActivations(t, xa[lo*cols:hi*cols], x[lo*cols:hi*cols], s.actQ[slot])
			})
		}
		s.mulPacked(mats[:run], dsts[:run], xa, n)
		mats, dsts = mats[run:], dsts[run:]
	}
}

// mulPacked is dsts[i][n, rows] = x[n, cols]·W_iᵀ for matrices that share
// x: x is packed once for the micro-kernel, then the pool's threads claim
// tiles of dequantTile weight rows from all the matrices in turn,
// dequantize each quantized tile into F32 (it stays in cache; F32 tiles are
// read in place) and multiply it by the packed x into its column block of
// dsts[i]. Claiming tiles one by one across the whole set keeps the threads
// busy to the end even when a matrix has few tiles (K and V).
func (s *Session) mulPacked(mats []*qdot.Matrix, dsts [][]float32, x []float32, n int) {
	cols := mats[0].Cols
	eng := s.m.tileEng
	eng.PackA(&s.packedX, n, cols, x, cols)
	total := 0
	for _, w := range mats {
		total += (w.Rows + dequantTile - 1) / dequantTile
	}
	var next atomic.Int64
	s.forSlots(min(s.m.pool.Threads(), total), func(slot, _, _ int) {
		buf := slotScratch(s.tileBuf, slot, dequantTile*cols)
		sc := &s.packScratch[slot]
		for {
			t := int(next.Add(1) - 1)
			if t >= total {
				return
			}
			i := 0 // the matrix tile t belongs to
			for tiles := (mats[0].Rows + dequantTile - 1) / dequantTile; t >= tiles; tiles = (mats[i].Rows + dequantTile - 1) / dequantTile {
				t -= tiles
				i++
			}
			w := mats[i]
			r0 := t * dequantTile
			r1 := min(r0+dequantTile, w.Rows)
			tile := buf
			if w.Type == qdot.F32 {
				tile = bytesF32(w.Data)[r0*cols : r1*cols]
			} else {
				for r := r0; r < r1; r++ {
					_ = w.Row(buf[(r-r0)*cols:(r-r0+1)*cols], r)
				}
			}
			// dsts[i][:, r0:r1] = x · tileᵀ (ldc = rows)
			eng.MulPackedNT(&s.packedX, r1-r0, tile, cols, dsts[i][r0:], w.Rows, sc)
		}
	})
}

// forSlots splits [0, n) into one contiguous range per pool thread and runs
// fn(slot, lo, hi) on them in parallel; slot (< Threads) indexes per-thread
// scratch, so workers reuse buffers instead of allocating per call.
func (s *Session) forSlots(n int, fn func(slot, lo, hi int)) {
	T := min(s.m.pool.Threads(), n)
	if T <= 1 {
		fn(0, 0, n)
		return
	}
	s.m.pool.For(T, 1, func(a, b int) {
		for slot := a; slot < b; slot++ {
			fn(slot, slot*n/T, (slot+1)*n/T)
		}
	})
}

// slotScratch returns bufs[slot] with at least size elements, growing it on
// first use. bufs has one entry per pool thread (made by ensureScratch,
// before any parallel region); each slot is touched by one goroutine at a
// time (forSlots).
func slotScratch[T any](bufs [][]T, slot, size int) []T {
	if len(bufs[slot]) < size {
		bufs[slot] = make([]T, size)
	}
	return bufs[slot][:size]
}

// rmsNorm: dst = x / sqrt(mean(x²) + eps) · w (sum of squares in float64, as ggml).
func rmsNorm(dst, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		sq := v * v // rounded to float32 before the float64 sum, as ggml
		ss += float64(sq)
	}
	mean := float32(ss / float64(len(x)))
	scale := 1 / float32(math.Sqrt(float64(mean+eps)))
	for i, v := range x {
		dst[i] = v * scale * w[i]
	}
}

// addTo adds b to x element by element (ggml_add of a bias row).
func addTo(x, b []float32) {
	for i := range x {
		x[i] += b[i]
	}
}

// headNorm RMS-normalises each of nh heads of hd values of vec in place and
// scales it by w [hd] (ggml_rms_norm over a head, then ggml_mul).
func headNorm(vec, w []float32, nh, hd int, eps float32) {
	for h := 0; h < nh; h++ {
		rmsNorm(vec[h*hd:(h+1)*hd], vec[h*hd:(h+1)*hd], w, eps)
	}
}

// rope rotates the first RopeDim elements of each of nh heads of vec by
// angle p·base^(−2i/RopeDim) (divided by the rope_freqs factor of pair i):
// adjacent pairs (2i, 2i+1), or (i, i+RopeDim/2) for NEOX architectures.
func (s *Session) rope(vec []float32, nh, p int) {
	hp := s.m.Hyper
	half := hp.RopeDim / 2
	cs, sn := s.cos[p*half:(p+1)*half], s.sin[p*half:(p+1)*half]
	for hh := 0; hh < nh; hh++ {
		hv := vec[hh*hp.HeadDim : hh*hp.HeadDim+hp.RopeDim]
		if hp.Neox {
			for i := 0; i < half; i++ {
				hv[i], hv[i+half] = ropePair(hv[i], hv[i+half], cs[i], sn[i]) // exact.go
			}
			continue
		}
		for i := 0; i < half; i++ {
			hv[2*i], hv[2*i+1] = ropePair(hv[2*i], hv[2*i+1], cs[i], sn[i]) // exact.go
		}
	}
}

// storeKV writes one token's key and value at position p of layer l.
func (s *Session) storeKV(l, p int, k, v []float32) { s.storeKVRows(l, p, k, v, 0) }

// storeKVRows writes the keys and values of len(k)/kvDim consecutive tokens
// starting at position p0 into layer l's cache (K rows as they are, V
// transposed: one run of positions per channel), converting to F16 a whole
// run at a time (F16C). slot is the calling pool thread's scratch index.
// k, v: [rows, kvDim].
func (s *Session) storeKVRows(l, p0 int, k, v []float32, slot int) {
	kvDim := s.kvDim
	rows := len(k) / kvDim
	if rows == 0 {
		return
	}
	if s.elem == 4 {
		copy(bytesF32(s.kCache[l])[p0*kvDim:], k)
		vc := bytesF32(s.vCache[l])
		for c := 0; c < kvDim; c++ {
			run := vc[c*s.kvCap+p0 : c*s.kvCap+p0+rows]
			for j := range run {
				run[j] = v[j*kvDim+c]
			}
		}
		return
	}
	f16.FromFloat32(bytesU16(s.kCache[l])[p0*kvDim:(p0+rows)*kvDim], k)
	vc := bytesU16(s.vCache[l])
	if rows == 1 {
		for c, x := range v[:kvDim] {
			vc[c*s.kvCap+p0] = f16.Float16(x)
		}
		return
	}
	tmp := slotScratch(s.vGather, slot, rows)
	for c := 0; c < kvDim; c++ {
		for j := range tmp {
			tmp[j] = v[j*kvDim+c]
		}
		f16.FromFloat32(vc[c*s.kvCap+p0:c*s.kvCap+p0+rows], tmp)
	}
}
