package ops

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BiasAdd returns x + b with b added to every row (Qwen2's Q/K/V biases).
//
//	x: [N, C]   b: [C]   y: [N, C]
//
// The gradient passes to x unchanged; b's is the column sum of dy.
func BiasAdd(x, b *G.Node) (*G.Node, error) {
	if x.Shape().Dims() != 2 || b.Shape().Dims() != 1 || x.Shape()[1] != b.Shape()[0] {
		return nil, fmt.Errorf("bias add: x %v, b %v", x.Shape(), b.Shape())
	}
	op := &biasAddOp{}
	op.base = base{name: "BiasAdd", self: op}
	return G.ApplyOp(op, x, b)
}

type biasAddOp struct {
	base
	out  buf
	grad *colSumOp // the bias gradient, made by the first SymDiff

	x, b, y []float32 // operands of the running call, read by rows
	c       int
	rowsFn  func(lo, hi int)
}

func (op *biasAddOp) Arity() int    { return 2 }
func (op *biasAddOp) Type() hm.Type { return fnType(2, 2, 1) }
func (op *biasAddOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOfFirst(in)
}

func (op *biasAddOp) Do(in ...G.Value) (G.Value, error) {
	var x, b []float32
	if err := f32s(in, &x, &b); err != nil {
		return nil, err
	}
	N, C := in[0].Shape()[0], in[0].Shape()[1]
	if len(b) != C {
		return nil, fmt.Errorf("bias add: b has %d values, want %d", len(b), C)
	}
	t, y := op.out.get(N, C)
	op.x, op.b, op.y, op.c = x, b, y, C
	forChunks(&op.rowsFn, op, (*biasAddOp).rows, N, 16)
	op.x, op.b, op.y = nil, nil, nil
	return t, nil
}

func (op *biasAddOp) rows(lo, hi int) {
	C := op.c
	for n := lo; n < hi; n++ {
		xr, yr := op.x[n*C:(n+1)*C], op.y[n*C:(n+1)*C]
		for i, v := range xr {
			yr[i] = v + op.b[i]
		}
	}
}

func (op *biasAddOp) DiffWRT(int) []bool { return []bool{true, true} }
func (op *biasAddOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.grad == nil { // one gradient op however many nodes apply op (see package doc)
		op.grad = &colSumOp{}
		op.grad.base = base{name: "BiasAddGrad", self: op.grad}
	}
	db, err := G.ApplyOp(op.grad, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{grad, db}, nil
}

// colSumOp: dy [N, C] → Σ_rows dy [C], columns split across workers.
type colSumOp struct {
	base
	out buf

	dy, s  []float32
	n, c   int
	colsFn func(lo, hi int)
}

func (op *colSumOp) Arity() int    { return 1 }
func (op *colSumOp) Type() hm.Type { return fnType(1, 2) }
func (op *colSumOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{s[1]}, nil
}

func (op *colSumOp) Do(in ...G.Value) (G.Value, error) {
	dy, err := f32(in[0])
	if err != nil {
		return nil, err
	}
	N, C := in[0].Shape()[0], in[0].Shape()[1]
	t, s := op.out.get(C)
	op.dy, op.s, op.n, op.c = dy, s, N, C
	forChunks(&op.colsFn, op, (*colSumOp).cols, C, 32)
	op.dy, op.s = nil, nil
	return t, nil
}

func (op *colSumOp) cols(lo, hi int) {
	acc := op.s[lo:hi]
	clear(acc)
	for n := 0; n < op.n; n++ {
		r := op.dy[n*op.c+lo : n*op.c+hi]
		for i := range acc {
			acc[i] += r[i]
		}
	}
}

func (op *colSumOp) backTensor(t *tensor.Dense) bool {
	return t.Shape().Dims() == 1 && op.out.backTensor(t, t.Shape())
}

func (op *colSumOp) backOutput(data []float32) bool {
	return op.out.back(data, tensor.Shape{len(data)})
}
