package ops

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// HiddenMSE is the masked mean squared error between a (projected) student
// hidden state and one stored teacher layer, scaled by weight.
//
//	y: [N, Dt]   target: feed.Batch.Hidden[i] for HiddenLayers[i] == teacherLayer
//	MSE = Σ_p m_p·Σ_j (y_pj − t_pj)² / (Σ_p m_p · Dt)      value = weight·MSE
//	dy  = g·weight·2·m_p·(y − t)/(Σ m · Dt)
type HiddenMSE struct {
	base
	feed         *Feed
	teacherLayer int
	weight       float32
	mse          float64

	val     G.F32     // the value handed to Gorgonia, reused every run
	partial []float64 // [N] per-position masked squared error
	y, tgt  []float32 // operands of the running forward, read by rows
	mask    []float32
	d       int
	rowsFn  func(lo, hi int) // op.rows, bound once (no closure per call)
}

// NewHiddenMSE applies the MSE op to y.
func NewHiddenMSE(y *G.Node, feed *Feed, teacherLayer int, weight float64) (*G.Node, *HiddenMSE, error) {
	if y.Shape().Dims() != 2 {
		return nil, nil, fmt.Errorf("hidden mse: y %v is not a matrix", y.Shape())
	}
	op := &HiddenMSE{feed: feed, teacherLayer: teacherLayer, weight: float32(weight)}
	op.base = base{name: "HiddenMSE", self: op}
	n, err := G.ApplyOp(op, y)
	return n, op, err
}

// MSE is the unweighted value of the last forward.
func (op *HiddenMSE) MSE() float64 { return op.mse }

func (op *HiddenMSE) Arity() int    { return 1 }
func (op *HiddenMSE) Type() hm.Type { return fnType(0, 2) }
func (op *HiddenMSE) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}

func (op *HiddenMSE) target(N, D int) ([]float32, error) {
	b := op.feed.Batch
	if b == nil || len(b.LossMask) != N {
		return nil, fmt.Errorf("hidden mse: feed has no batch of %d positions", N)
	}
	for i, l := range b.HiddenLayers {
		if l == op.teacherLayer {
			if b.HiddenDim != D || len(b.Hidden[i]) != N*D {
				return nil, fmt.Errorf("hidden mse: teacher layer %d has width %d (%d values), want %d", l, b.HiddenDim, len(b.Hidden[i]), D)
			}
			return b.Hidden[i], nil
		}
	}
	return nil, fmt.Errorf("hidden mse: batch has no hidden states for teacher layer %d (has %v)", op.teacherLayer, b.HiddenLayers)
}

func (op *HiddenMSE) Do(in ...G.Value) (G.Value, error) {
	y, err := f32(in[0])
	if err != nil {
		return nil, err
	}
	N, D := in[0].Shape()[0], in[0].Shape()[1]
	tgt, err := op.target(N, D)
	if err != nil {
		return nil, err
	}
	mask := op.feed.Batch.LossMask
	if cap(op.partial) < N {
		op.partial = make([]float64, N)
	}
	partial := op.partial[:N]
	op.partial, op.y, op.tgt, op.mask, op.d = partial, y, tgt, mask, D
	forChunks(&op.rowsFn, op, (*HiddenMSE).rows, N, 16)
	op.y, op.tgt, op.mask = nil, nil, nil
	var sum, den float64
	for p, s := range partial {
		sum += s
		den += float64(mask[p])
	}
	op.mse = 0
	if den > 0 {
		op.mse = sum / (den * float64(D))
	}
	op.val = G.F32(op.weight * float32(op.mse))
	return &op.val, nil
}

// rows computes the masked squared error of positions [lo, hi).
func (op *HiddenMSE) rows(lo, hi int) {
	y, tgt, mask, partial, D := op.y, op.tgt, op.mask, op.partial, op.d
	for p := lo; p < hi; p++ {
		if mask[p] == 0 {
			partial[p] = 0
			continue
		}
		var s float64
		yr, tr := y[p*D:(p+1)*D], tgt[p*D:(p+1)*D]
		for j := range yr {
			e := float64(yr[j] - tr[j])
			s += e * e
		}
		partial[p] = float64(mask[p]) * s
	}
}

func (op *HiddenMSE) DiffWRT(int) []bool { return []bool{true} }
func (op *HiddenMSE) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	g := &hiddenMSEGradOp{fwd: op}
	g.base = base{name: "HiddenMSEGrad", self: g}
	dy, err := G.ApplyOp(g, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dy}, nil
}

// hiddenMSEGradOp: (y [N,Dt], g scalar) → dy [N,Dt].
type hiddenMSEGradOp struct {
	base
	fwd *HiddenMSE
	out buf

	y, tgt, dy, mask []float32 // operands of the running call, read by rows
	d                int
	c                float32
	rowsFn           func(lo, hi int) // op.rows, bound once
}

func (op *hiddenMSEGradOp) Arity() int    { return 2 }
func (op *hiddenMSEGradOp) Type() hm.Type { return fnType(2, 2, 0) }
func (op *hiddenMSEGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOfFirst(in)
}

func (op *hiddenMSEGradOp) Do(in ...G.Value) (G.Value, error) {
	y, err := f32(in[0])
	if err != nil {
		return nil, err
	}
	g, err := scalar(in[1])
	if err != nil {
		return nil, err
	}
	N, D := in[0].Shape()[0], in[0].Shape()[1]
	tgt, err := op.fwd.target(N, D)
	if err != nil {
		return nil, err
	}
	mask := op.fwd.feed.Batch.LossMask
	var den float64
	for _, m := range mask {
		den += float64(m)
	}
	t, dy := op.out.get(N, D)
	if den == 0 {
		clear(dy)
		return t, nil
	}
	c := float32(float64(g) * float64(op.fwd.weight) * 2 / (den * float64(D)))
	op.y, op.tgt, op.dy, op.mask, op.d, op.c = y, tgt, dy, mask, D, c
	forChunks(&op.rowsFn, op, (*hiddenMSEGradOp).rows, N, 16)
	op.y, op.tgt, op.dy, op.mask = nil, nil, nil, nil
	return t, nil
}

// rows computes dy for positions [lo, hi).
func (op *hiddenMSEGradOp) rows(lo, hi int) {
	y, tgt, dy, mask, D, c := op.y, op.tgt, op.dy, op.mask, op.d, op.c
	for p := lo; p < hi; p++ {
		yr, tr, dr := y[p*D:(p+1)*D], tgt[p*D:(p+1)*D], dy[p*D:(p+1)*D]
		if mask[p] == 0 {
			clear(dr)
			continue
		}
		k := c * mask[p]
		for j := range yr {
			dr[j] = k * (yr[j] - tr[j])
		}
	}
}
