package ops

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/distill-ml/distill/num/fastmath"
	"github.com/distill-ml/distill/num/parallel"
)

// attnBlock is the query-row block of the causal GEMMs: a block of rows
// [r0, r1) only touches key columns [c0, r1), c0 the smallest row start of
// its queries, which skips most of the masked upper triangle and the masked
// part left of the block's documents.
const attnBlock = 32

// Attention is causal grouped-query self-attention over projected, rotated
// heads, read in place from the fused token-major QKV projection (no
// transposes, no repeated K/V: query head h reads key/value head
// h/(heads/kvHeads)), with a block-diagonal document mask: query position t
// of window b attends to keys [RowStart[b·T+t], t] of its window only
// (feed.Batch.RowStart, see data/batch; a nil feed, batch or RowStart is one
// document per window, plain causal attention). Rows packed into one window
// thus never see each other. Positions are not reset at a document start:
// RoPE (applied before) makes the scores depend on t−s only, so a document
// at window offset t0 gets the scores it would get at offset 0.
//
//	qkv: [B·T, W], W = (heads + 2·kvHeads)·hd, row = [q heads | k heads | v heads]
//	out: [B·T, heads·hd]
//	P[b,h] = softmax_masked(Q[b,h]·K[b,g]ᵀ/√hd)   (kept for the backward when
//	small, else recomputed there from the row log-sum-exp)
//	out[b,h] = P[b,h]·V[b,g]
//
// Backward, per (b, g) so GQA accumulation into dK, dV never races, into one
// dqkv [B·T, W]:
//
//	dV += Pᵀ·dO    dP = dO·Vᵀ    dS = P⊙(dP − rowsum(P⊙dP))/√hd
//	dQ = dS·K      dK += dSᵀ·Q
func Attention(qkv *G.Node, feed *Feed, B, T, heads, kvHeads, headDim int) (*G.Node, error) {
	N := B * T
	if qkv.Shape().Dims() != 2 || qkv.Shape()[0] != N || qkv.Shape()[1] != (heads+2*kvHeads)*headDim ||
		kvHeads <= 0 || heads%kvHeads != 0 {
		return nil, fmt.Errorf("attention: qkv %v for B %d T %d heads %d/%d hd %d", qkv.Shape(), B, T, heads, kvHeads, headDim)
	}
	op := &attentionOp{B: B, T: T, H: heads, KV: kvHeads, hd: headDim, feed: feed, storeLimit: attnStoreBytes}
	op.base = base{name: "Attention", self: op}
	return G.ApplyOp(op, qkv)
}

type attentionOp struct {
	base
	B, T, H, KV, hd int
	feed            *Feed     // Batch.RowStart: the document mask (nil feed, batch or RowStart: causal over the window)
	rowStart        []int32   // [B*T] the last forward's row starts (a copy, read by the backward)
	storeLimit      int       // bytes of probabilities kept at most (attnStoreBytes)
	store           bool      // probs kept for the backward (small enough)
	probs           []float32 // [B, H, T, T] causal softmax of the last forward, when stored
	lse             []float32 // [B, H, T] row log-sum-exp of the scaled scores
	work            [][]float32
	out             buf
	grad            *attentionGradOp // made by the first SymDiff

	// Operands of the running forward, read by heads (bound once to
	// headsFn so that handing it to the pool allocates nothing).
	x, o    []float32
	scale   float32
	grain   int
	headsFn func(lo, hi int)
}

// attnStoreBytes bounds the attention probabilities one op keeps between
// forward and backward; above it the backward recomputes them block by block
// from Q, K and the stored row log-sum-exp (FlashAttention's trick), so memory
// is O(B·H·T) instead of O(B·H·T²).
const attnStoreBytes = 16 << 20

// perWorker splits n items into one contiguous chunk per pool thread and
// returns the grain and a scratch slot count: chunk lo/grain indexes the
// scratch of the goroutine running it.
func perWorker(n int) (grain, slots int) {
	t := parallel.Default().Threads()
	grain = max((n+t-1)/t, 1)
	return grain, (n+grain-1)/grain + 1
}

func scratchSlots(s [][]float32, slots, size int) [][]float32 {
	if len(s) < slots {
		s = make([][]float32, slots)
	}
	for i := range s {
		if len(s[i]) < size {
			s[i] = make([]float32, size)
		}
	}
	return s
}

func (op *attentionOp) Arity() int    { return 1 }
func (op *attentionOp) Type() hm.Type { return fnType(2, 2) }
func (op *attentionOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{s[0], op.H * op.hd}, nil
}

func (op *attentionOp) Do(in ...G.Value) (G.Value, error) {
	B, T, H, KV, hd := op.B, op.T, op.H, op.KV, op.hd
	W, Wq := (H+2*KV)*hd, H*hd
	if err := checkShape("attention", "qkv", in[0], B*T, W); err != nil {
		return nil, err
	}
	x, err := f32(in[0])
	if err != nil {
		return nil, err
	}
	if err := op.loadRowStart(); err != nil {
		return nil, err
	}
	op.store = B*H*T*T*4 <= op.storeLimit
	if op.store && len(op.probs) != B*H*T*T {
		op.probs = make([]float32, B*H*T*T)
	}
	op.lse = resize(op.lse, B*H*T)
	t, o := op.out.get(B*T, Wq)
	scale := float32(1 / math.Sqrt(float64(hd)))
	grain, slots := perWorker(B * H)
	if !op.store {
		op.work = scratchSlots(op.work, slots, T*T)
	}
	op.x, op.o, op.scale, op.grain = x, o, scale, grain
	forChunks(&op.headsFn, op, (*attentionOp).heads, B*H, grain)
	op.x, op.o = nil, nil
	return t, nil
}

// loadRowStart copies this step's document starts into rowStart [B*T]
// (zeros without a document mask), checking each lies in [0, t].
func (op *attentionOp) loadRowStart() error {
	B, T := op.B, op.T
	op.rowStart = resize(op.rowStart, B*T)
	var src []int32
	if op.feed != nil && op.feed.Batch != nil {
		src = op.feed.Batch.RowStart
	}
	if src == nil {
		clear(op.rowStart)
		return nil
	}
	if len(src) != B*T {
		return fmt.Errorf("attention: batch row starts of %d positions, want B*T = %d", len(src), B*T)
	}
	for p, s := range src {
		if s < 0 || int(s) > p%T {
			return fmt.Errorf("attention: batch row start %d at position %d outside [0, %d]", s, p, p%T)
		}
	}
	copy(op.rowStart, src)
	return nil
}

// blockLeft is the first key column a query block [r0, r1) of window b
// reads: the smallest row start of its queries.
func (op *attentionOp) blockLeft(b, r0, r1 int) int {
	rs := op.rowStart[b*op.T : (b+1)*op.T]
	c0 := int(rs[r0])
	for _, s := range rs[r0+1 : r1] {
		c0 = min(c0, int(s))
	}
	return c0
}

// heads runs the forward for (batch, head) pairs [lo, hi).
func (op *attentionOp) heads(lo, hi int) {
	T, H, KV, hd := op.T, op.H, op.KV, op.hd
	W, Wq := (H+2*KV)*hd, H*hd
	x, o, scale, grain := op.x, op.o, op.scale, op.grain
	rep := H / KV
	for bh := lo; bh < hi; bh++ {
		b, h := bh/H, bh%H
		g := h / rep
		qo := b*T*W + h*hd        // Q[b,h] is [T, hd] with row stride W
		ko := b*T*W + (H+g)*hd    // K[b,g]
		vo := b*T*W + (H+KV+g)*hd // V[b,g]
		oo := b*T*Wq + h*hd       // O[b,h] with row stride Wq
		var P []float32
		if op.store {
			P = op.probs[bh*T*T : (bh+1)*T*T]
		} else {
			P = op.work[lo/grain][:T*T]
		}
		lse := op.lse[bh*T : (bh+1)*T]
		rs := op.rowStart[b*T : (b+1)*T]
		for r0 := 0; r0 < T; r0 += attnBlock {
			r1 := min(r0+attnBlock, T)
			c0 := op.blockLeft(b, r0, r1)
			// S[r0:r1, c0:r1] = scale·Q[r0:r1]·K[c0:r1]ᵀ
			sgemm(false, true, r1-r0, r1-c0, hd, scale, x[qo+r0*W:], W, x[ko+c0*W:], W, 0, P[r0*T+c0:], T)
			for r := r0; r < r1; r++ {
				row := P[r*T : (r+1)*T]
				s0 := int(rs[r]) // keys [s0, r]
				m := row[s0]
				for _, v := range row[s0+1 : r+1] {
					if v > m {
						m = v
					}
				}
				sum := fastmath.ExpSum(row[s0:r+1], row[s0:r+1], m, 1)
				lse[r] = m + float32(math.Log(sum))
				inv := float32(1 / sum)
				for s := s0; s <= r; s++ {
					row[s] *= inv
				}
				clear(row[:s0])
				clear(row[r+1:])
			}
			// O[r0:r1] = P[r0:r1, c0:r1]·V[c0:r1]
			sgemm(false, false, r1-r0, hd, r1-c0, 1, P[r0*T+c0:], T, x[vo+c0*W:], W, 0, o[oo+r0*Wq:], Wq)
		}
	}
}

func (op *attentionOp) DiffWRT(int) []bool { return []bool{true} }

func (op *attentionOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.grad == nil { // one gradient op however many nodes apply op (see package doc)
		op.grad = &attentionGradOp{fwd: op}
		op.grad.base = base{name: "AttentionGrad", self: op.grad}
	}
	dqkv, err := G.ApplyOp(op.grad, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dqkv}, nil
}

// attentionGradOp: (qkv [N, W], dO [N, heads·hd]) → dqkv [N, W].
type attentionGradOp struct {
	base
	fwd  *attentionOp
	work [][]float32 // per worker: dS block [attnBlock, T] and, when recomputing, P block
	out  buf

	// Operands of the running backward, read by groups (bound once).
	x, dO, dx []float32
	grain     int
	groupsFn  func(lo, hi int)
}

func (op *attentionGradOp) Arity() int    { return 2 }
func (op *attentionGradOp) Type() hm.Type { return fnType(2, 2, 2) }
func (op *attentionGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOfFirst(in)
}

func (op *attentionGradOp) Do(in ...G.Value) (G.Value, error) {
	f := op.fwd
	B, T, H, KV, hd := f.B, f.T, f.H, f.KV, f.hd
	W, Wq := (H+2*KV)*hd, H*hd
	if err := checkShape("attention grad", "qkv", in[0], B*T, W); err != nil {
		return nil, err
	}
	if err := checkShape("attention grad", "dO", in[1], B*T, Wq); err != nil {
		return nil, err
	}
	var x, dO []float32
	if err := f32s(in, &x, &dO); err != nil {
		return nil, err
	}
	if len(f.lse) != B*H*T || len(f.rowStart) != B*T || (f.store && len(f.probs) != B*H*T*T) {
		return nil, fmt.Errorf("attention grad: forward has not run")
	}
	t, dx := op.out.get(B*T, W)
	blk := min(attnBlock, T)
	grain, slots := perWorker(B * KV)
	op.work = scratchSlots(op.work, slots, 2*blk*T)
	op.x, op.dO, op.dx, op.grain = x, dO, dx, grain
	forChunks(&op.groupsFn, op, (*attentionGradOp).groups, B*KV, grain)
	op.x, op.dO, op.dx = nil, nil, nil
	return t, nil
}

// groups runs the backward for (batch, kv group) pairs [lo, hi).
func (op *attentionGradOp) groups(lo, hi int) {
	f := op.fwd
	T, H, KV, hd := f.T, f.H, f.KV, f.hd
	W, Wq := (H+2*KV)*hd, H*hd
	x, dO, dx, grain := op.x, op.dO, op.dx, op.grain
	scale := float32(1 / math.Sqrt(float64(hd)))
	rep := H / KV
	blk := min(attnBlock, T)
	work := op.work[lo/grain]
	dS, Pbuf := work[:blk*T], work[blk*T:2*blk*T]
	for bg := lo; bg < hi; bg++ {
		b, g := bg/KV, bg%KV
		ko := b*T*W + (H+g)*hd
		vo := b*T*W + (H+KV+g)*hd
		for r := 0; r < T; r++ {
			clear(dx[ko+r*W : ko+r*W+hd])
			clear(dx[vo+r*W : vo+r*W+hd])
		}
		for h := g * rep; h < (g+1)*rep; h++ {
			bh := b*H + h
			qo := b*T*W + h*hd
			oo := b*T*Wq + h*hd
			lse := f.lse[bh*T : (bh+1)*T]
			rs := f.rowStart[b*T : (b+1)*T]
			for r0 := 0; r0 < T; r0 += attnBlock {
				r1 := min(r0+attnBlock, T)
				c0 := f.blockLeft(b, r0, r1)
				// P[r0:r1, c0:r1] (leading dimension T, column c0 at
				// offset c0): stored, or recomputed as
				// exp(scale·Q·Kᵀ − lse) on each query's keys [s0, r].
				var P []float32
				if f.store {
					P = f.probs[bh*T*T+r0*T:]
				} else {
					P = Pbuf
					sgemm(false, true, r1-r0, r1-c0, hd, scale, x[qo+r0*W:], W, x[ko+c0*W:], W, 0, P[c0:], T)
					for r := r0; r < r1; r++ {
						s0 := int(rs[r])
						row := P[(r-r0)*T : (r-r0)*T+r1]
						fastmath.ExpSum(row[s0:r+1], row[s0:r+1], lse[r], 1)
						clear(row[c0:s0])
						clear(row[r+1:])
					}
				}
				// dV[c0:r1] += P[r0:r1, c0:r1]ᵀ·dO[r0:r1]
				sgemm(true, false, r1-c0, hd, r1-r0, 1, P[c0:], T, dO[oo+r0*Wq:], Wq, 1, dx[vo+c0*W:], W)
				// dP[r0:r1, c0:r1] = dO[r0:r1]·V[c0:r1]ᵀ
				sgemm(false, true, r1-r0, r1-c0, hd, 1, dO[oo+r0*Wq:], Wq, x[vo+c0*W:], W, 0, dS[c0:], T)
				for r := r0; r < r1; r++ {
					i := (r - r0) * T
					s0 := int(rs[r])
					pr, dr := P[i+s0:i+r+1], dS[i+s0:i+r+1]
					var dot float32
					for s := range pr {
						dot += pr[s] * dr[s]
					}
					for s := range pr {
						dr[s] = pr[s] * (dr[s] - dot) * scale
					}
					clear(dS[i+c0 : i+s0])
					clear(dS[i+r+1 : i+r1])
				}
				// dQ[r0:r1] = dS[r0:r1, c0:r1]·K[c0:r1]
				sgemm(false, false, r1-r0, hd, r1-c0, 1, dS[c0:], T, x[ko+c0*W:], W, 0, dx[qo+r0*W:], W)
				// dK[c0:r1] += dS[r0:r1, c0:r1]ᵀ·Q[r0:r1]
				sgemm(true, false, r1-c0, hd, r1-r0, 1, dS[c0:], T, x[qo+r0*W:], W, 1, dx[ko+c0*W:], W)
			}
		}
	}
}
