package ops

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Add returns a + b for two tensors of one shape (the residual connection),
// in parallel, into a reused buffer. The gradient passes to both inputs.
func Add(a, b *G.Node) (*G.Node, error) {
	if !a.Shape().Eq(b.Shape()) {
		return nil, fmt.Errorf("add: shapes %v and %v differ", a.Shape(), b.Shape())
	}
	op := &addOp{dims: a.Shape().Dims()}
	op.base = base{name: "Add", self: op}
	return G.ApplyOp(op, a, b)
}

type addOp struct {
	base
	dims int
	out  buf

	a, b, y []float32        // operands of the running call, read by span
	spanFn  func(lo, hi int) // op.span, bound once (no closure per call)
}

func (op *addOp) Arity() int    { return 2 }
func (op *addOp) Type() hm.Type { return fnType(op.dims, op.dims, op.dims) }
func (op *addOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOfFirst(in)
}

func (op *addOp) Do(in ...G.Value) (G.Value, error) {
	var a, b []float32
	if err := f32s(in, &a, &b); err != nil {
		return nil, err
	}
	if len(a) != len(b) {
		return nil, fmt.Errorf("add: sizes %d and %d", len(a), len(b))
	}
	t, y := op.out.get(in[0].Shape()...)
	op.a, op.b, op.y = a, b, y
	forChunks(&op.spanFn, op, (*addOp).span, len(y), 1<<14)
	op.a, op.b, op.y = nil, nil, nil
	return t, nil
}

// span adds elements [lo, hi).
func (op *addOp) span(lo, hi int) {
	aa, bb, yy := op.a[lo:hi], op.b[lo:hi], op.y[lo:hi]
	for i := range yy {
		yy[i] = aa[i] + bb[i]
	}
}

func (op *addOp) DiffWRT(int) []bool { return []bool{true, true} }
func (op *addOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	return G.Nodes{grad, grad}, nil
}
