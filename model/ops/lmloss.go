package ops

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/num/parallel"
)

// DefaultLogitBudget bounds the bytes of logits the LM-head loss keeps between
// forward and backward. Batches whose M·V·4 bytes (M loss positions) fit keep
// the logit gradients from the forward; larger ones recompute them chunk by
// chunk in the backward, so memory stays bounded for big vocabularies.
const DefaultLogitBudget = 256 << 20

// LMLoss is the fused LM head + cross-entropy + KL-to-teacher loss.
//
//	h: [N, d] final normed hidden states   W: [V, d] head (tied embedding)
//	value: scalar α·KL + (1−α)·CE   (loss.Config.Total without the MSE term)
//
// Package loss owns the objective: the per-row values and gradients
// (loss.Config.Row, with the T² scale) and the weights of every row
// (loss.Config.RowWeights); this op gathers, projects and reduces.
//
// Only the M positions with LossMask ≠ 0 are gathered ([M, d]) and projected
// ([M, V] logits, chunked), so no N×V one-hot or full logit matrix exists. The
// forward writes the gradient of the loss w.r.t. each logit row in place of
// the logits (the llm.c fused-classifier trick); the backward is two GEMMs
// scaled by the upstream gradient: dh = g·D·W, dW = g·Dᵀ·h.
type LMLoss struct {
	base
	cfg    loss.Config // as built
	cur    loss.Config // this pass's: cfg, or Feed.Objective
	feed   *Feed
	train  bool
	budget int

	active  []int     // [M] loss positions
	hc      []float32 // [M, d] gathered hidden rows
	logits  []float32 // [M, V] (stored) or [chunk, V]
	stored  bool      // logits holds the gradient rows for all M positions
	sparse  bool      // the sparse teacher (top-k) enters the KL this pass
	ceW     []float32 // [M] CE weight of each row (loss.Config.RowWeights)
	klW     []float32 // [M] KL weight, 0 where no teacher
	rows    []loss.RowResult
	scratch []loss.Scratch

	terms   loss.Terms
	metrics loss.Metrics

	val G.F32 // the value handed to Gorgonia, reused every run

	// Operands of the running pass, read by the pool workers through
	// functions bound once (no closure per call).
	h                []float32 // [N, d] input hidden states (gather)
	d                int
	L                []float32 // logit rows of the current rowsPass chunk
	c0, v            int       // first loss row and vocabulary of the chunk
	per              int       // rows per worker chunk
	grad             bool
	gatherFn, rowsFn func(lo, hi int)
}

// NewLMLoss applies the fused loss to (h, W). With train unset the op only
// evaluates (it records metrics and is not differentiable).
func NewLMLoss(h, w *G.Node, cfg loss.Config, feed *Feed, train bool) (*G.Node, *LMLoss, error) {
	if h.Shape().Dims() != 2 || w.Shape().Dims() != 2 || h.Shape()[1] != w.Shape()[1] {
		return nil, nil, fmt.Errorf("lm loss: h %v, W %v", h.Shape(), w.Shape())
	}
	op := &LMLoss{cfg: cfg, feed: feed, train: train, budget: DefaultLogitBudget}
	op.base = base{name: "LMLoss", self: op}
	n, err := G.ApplyOp(op, h, w)
	return n, op, err
}

// SetLogitBudget changes the stored-logit budget in bytes (tests use a tiny
// one to exercise the chunked recompute path).
func (op *LMLoss) SetLogitBudget(bytes int) { op.budget = bytes }

// Terms returns CE, KL (unweighted) and token counts of the last forward.
// Total holds loss.Config.Total of these terms with MSE 0; the caller fills
// MSE and recomputes Total.
func (op *LMLoss) Terms() loss.Terms { return op.terms }

// Metrics returns the evaluation metrics of the last forward.
func (op *LMLoss) Metrics() loss.Metrics { return op.metrics }

func (op *LMLoss) Arity() int    { return 2 }
func (op *LMLoss) Type() hm.Type { return fnType(0, 2, 2) }
func (op *LMLoss) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}

func (op *LMLoss) chunkRows(V int) int {
	c := op.budget / (4 * V)
	return max(c, 1)
}

// rowsPass projects rows [c0,c1) of hc into op.logits (at offset off rows)
// and evaluates the loss rows, with gradients in place when grad is set.
func (op *LMLoss) rowsPass(w []float32, V, d, c0, c1, off int, grad bool) {
	L := op.logits[off*V : (off+c1-c0)*V]
	sgemm(false, true, c1-c0, V, d, 1, op.hc[c0*d:], d, w, d, 0, L, V)
	pool := parallel.Default()
	if len(op.scratch) < pool.Threads()+1 {
		op.scratch = make([]loss.Scratch, pool.Threads()+1)
	}
	nChunks := pool.Threads()
	per := (c1 - c0 + nChunks - 1) / nChunks
	op.L, op.c0, op.v, op.per, op.grad = L, c0, V, max(per, 1), grad
	forChunks(&op.rowsFn, op, (*LMLoss).lossRows, c1-c0, max(per, 1))
	op.L = nil
}

// lossRows evaluates rows [lo, hi) of the current rowsPass chunk.
func (op *LMLoss) lossRows(lo, hi int) {
	b := op.feed.Batch
	L, c0, V, grad := op.L, op.c0, op.v, op.grad
	sc := &op.scratch[lo/op.per]
	var tr loss.RowTeacher
	for i := lo; i < hi; i++ {
		m := c0 + i
		p := op.active[m]
		var teacher *loss.RowTeacher
		if op.feed.DenseTeacher != nil && b.TeacherValid != nil && b.TeacherValid[p] != 0 {
			tr = loss.RowTeacher{Dense: op.feed.DenseTeacher[p*V : (p+1)*V]}
			teacher = &tr
		} else if op.sparse && b.TeacherValid[p] != 0 {
			tr = loss.RowTeacher{IDs: b.TopKIDs[p*b.K : (p+1)*b.K], Logprobs: b.TopKLogprobs[p*b.K : (p+1)*b.K], Tail: b.TailMass[p]}
			if b.TailTempered != nil {
				tr.TailT, tr.HasTailT = b.TailTempered[p], true
			}
			teacher = &tr
		}
		op.rows[m] = op.cur.Row(L[i*V:(i+1)*V], b.Targets[p], teacher, op.ceW[m], op.klW[m], grad, sc)
	}
}

// gather copies the hidden rows of loss rows [lo, hi) into hc.
func (op *LMLoss) gather(lo, hi int) {
	h, d := op.h, op.d
	for i := lo; i < hi; i++ {
		p := op.active[i]
		copy(op.hc[i*d:(i+1)*d], h[p*d:(p+1)*d])
	}
}

func (op *LMLoss) Do(in ...G.Value) (G.Value, error) {
	var h, w []float32
	if err := f32s(in, &h, &w); err != nil {
		return nil, err
	}
	b := op.feed.Batch
	N, d, V := in[0].Shape()[0], in[0].Shape()[1], in[1].Shape()[0]
	if b == nil || len(b.Targets) != N || len(b.LossMask) != N {
		return nil, fmt.Errorf("lm loss: feed has no batch of %d positions", N)
	}
	op.cur = op.cfg
	if op.feed.Objective != nil {
		op.cur = *op.feed.Objective
	}
	if op.feed.DenseTeacher != nil && len(op.feed.DenseTeacher) != N*V {
		return nil, fmt.Errorf("lm loss: dense teacher has %d values, want %d", len(op.feed.DenseTeacher), N*V)
	}
	if err := op.checkTemperedTail(N); err != nil {
		return nil, err
	}
	// Without a tail tempered at T (T ≠ 1) the sparse teacher's KL cannot be
	// evaluated: with α = 0 it is then not measured (KLTokens 0).
	op.sparse = b.K > 0 && (op.cur.Temperature == 1 || (b.TailTempered != nil && b.TailTemperature == op.cur.Temperature))
	hasTeacher := func(p int) bool {
		return (op.sparse || op.feed.DenseTeacher != nil) && len(b.TeacherValid) == N && b.TeacherValid[p] != 0
	}
	// Active positions and row weights.
	op.active = op.active[:0]
	var ceDen, klDen float64
	kl := 0
	for p, m := range b.LossMask {
		if m == 0 {
			continue
		}
		if t := b.Targets[p]; t < 0 || int(t) >= V {
			return nil, fmt.Errorf("lm loss: target id %d at position %d outside vocab %d", t, p, V)
		}
		op.active = append(op.active, p)
		ceDen += float64(m)
		if hasTeacher(p) {
			klDen += float64(m)
			kl++
		}
	}
	M := len(op.active)
	op.ceW = resize(op.ceW, M)
	op.klW = resize(op.klW, M)
	if cap(op.rows) < M {
		op.rows = make([]loss.RowResult, M)
	}
	op.rows = op.rows[:M]
	for i, p := range op.active {
		op.ceW[i], op.klW[i] = op.cur.RowWeights(b.LossMask[p], ceDen, klDen, hasTeacher(p))
	}
	// Gather the active hidden rows: hc [M, d].
	op.hc = resize(op.hc, M*d)
	op.h, op.d = h, d
	forChunks(&op.gatherFn, op, (*LMLoss).gather, M, 64)
	op.h = nil
	// Project and evaluate: all rows at once when they fit, else in chunks.
	op.stored = op.train && M*V*4 <= op.budget
	chunk := op.chunkRows(V)
	if op.stored {
		chunk = max(M, 1)
	}
	op.logits = resize(op.logits, min(chunk, max(M, 1))*V)
	for c0 := 0; c0 < M; c0 += chunk {
		c1 := min(c0+chunk, M)
		op.rowsPass(w, V, d, c0, c1, 0, op.stored)
	}
	// Reduce in a fixed order (deterministic).
	var ce, klSum float64
	correct, agree := 0, 0
	for i, r := range op.rows {
		p := op.active[i]
		m := float64(b.LossMask[p])
		ce += m * r.CE
		if r.Argmax == int(b.Targets[p]) {
			correct++
		}
		if hasTeacher(p) {
			klSum += m * r.KL
			if b.K > 0 && r.Argmax == int(b.TopKIDs[p*b.K]) {
				agree++
			}
		}
	}
	t := loss.Terms{Tokens: M, KLTokens: kl}
	if ceDen > 0 {
		t.CE = ce / ceDen
	}
	if klDen > 0 {
		t.KL = klSum / klDen
	}
	t.Total = op.cur.Total(t) // without the MSE term, which other ops compute
	op.terms = t
	op.metrics = loss.Metrics{Tokens: M, TeacherTokens: kl}
	if M > 0 {
		op.metrics.Accuracy = float64(correct) / float64(M)
	}
	if kl > 0 {
		op.metrics.TeacherAgreement = float64(agree) / float64(kl)
	}
	op.val = G.F32(float32(t.Total))
	return &op.val, nil
}

// checkTemperedTail refuses a sparse-teacher batch the KL cannot represent:
// at temperature T ≠ 1 every sparse teacher row needs its tail tempered at T
// (see package loss).
func (op *LMLoss) checkTemperedTail(N int) error {
	b, T := op.feed.Batch, op.cur.Temperature
	if b.TailTempered != nil && len(b.TailTempered) != N {
		return fmt.Errorf("lm loss: tempered tail has %d values, want %d", len(b.TailTempered), N)
	}
	if op.cur.Alpha == 0 || T == 1 || b.K == 0 || op.feed.DenseTeacher != nil {
		return nil
	}
	if b.TailTempered == nil {
		return fmt.Errorf("lm loss: KL at temperature %g needs the teacher's tail tempered at %g; the batch has none", T, T)
	}
	if b.TailTemperature != T {
		return fmt.Errorf("lm loss: KL at temperature %g, but the batch's tail is tempered at %g", T, b.TailTemperature)
	}
	return nil
}

// resize returns b with length n, reallocated only when its capacity is short.
func resize[E any](b []E, n int) []E {
	if cap(b) < n {
		return make([]E, n)
	}
	return b[:n]
}

func (op *LMLoss) DiffWRT(int) []bool { return []bool{true, true} }

func (op *LMLoss) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if !op.train {
		return nil, fmt.Errorf("lm loss: built for evaluation, not differentiable")
	}
	g := &lmLossGradOp{fwd: op, bun: &bundle{outs: make([]buf, 1)}}
	g.base = base{name: "LMLossGrad", self: g}
	dh, err := G.ApplyOp(g, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	dw, err := fetch("LMLossGradW", g.bun, 0, inputs[1].Shape(), dh)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dh, dw}, nil
}

// lmLossGradOp: (h [N,d], W [V,d], g scalar) → dh [N,d]; dW [V,d] in its bundle.
type lmLossGradOp struct {
	base
	fwd *LMLoss
	bun *bundle
	dhc []float32 // [M, d]
	out buf
}

func (op *lmLossGradOp) Arity() int    { return 3 }
func (op *lmLossGradOp) Type() hm.Type { return fnType(2, 2, 2, 0) }
func (op *lmLossGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOfFirst(in)
}

func (op *lmLossGradOp) Do(in ...G.Value) (G.Value, error) {
	f := op.fwd
	w, err := f32(in[1])
	if err != nil {
		return nil, err
	}
	g, err := scalar(in[2])
	if err != nil {
		return nil, err
	}
	N, d, V := in[0].Shape()[0], in[0].Shape()[1], in[1].Shape()[0]
	M := len(f.active)
	t, dh := op.out.get(N, d)
	_, dw := op.bun.outs[0].get(V, d)
	clear(dh)
	if M == 0 {
		clear(dw)
		return t, nil
	}
	op.dhc = resize(op.dhc, M*d)
	if f.stored {
		// dhc = g·D·W, dW = g·Dᵀ·hc
		sgemm(false, false, M, d, V, g, f.logits, V, w, d, 0, op.dhc, d)
		sgemm(true, false, V, d, M, g, f.logits, V, f.hc, d, 0, dw, d)
	} else {
		chunk := f.chunkRows(V)
		for c0 := 0; c0 < M; c0 += chunk {
			c1 := min(c0+chunk, M)
			f.rowsPass(w, V, d, c0, c1, 0, true)
			beta := float32(1)
			if c0 == 0 {
				beta = 0
			}
			sgemm(false, false, c1-c0, d, V, g, f.logits, V, w, d, 0, op.dhc[c0*d:], d)
			sgemm(true, false, V, d, c1-c0, g, f.logits, V, f.hc[c0*d:], d, beta, dw, d)
		}
	}
	for i, p := range f.active {
		copy(dh[p*d:(p+1)*d], op.dhc[i*d:(i+1)*d])
	}
	return t, nil
}
