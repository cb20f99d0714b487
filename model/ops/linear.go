package ops

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Linear returns y = x·Wᵀ.
//
//	x: [N, in]   W: [out, in]   y: [N, out]
//
// Backward: dx = dy·W (one GEMM), dW = dyᵀ·x (one GEMM); no transposes are
// materialised.
func Linear(x, w *G.Node) (*G.Node, error) {
	if x.Shape().Dims() != 2 || w.Shape().Dims() != 2 || x.Shape()[1] != w.Shape()[1] {
		return nil, fmt.Errorf("linear: x %v and W %v do not fit y = x·Wᵀ", x.Shape(), w.Shape())
	}
	op := &linearOp{mode: linFwd}
	op.base = base{name: "Linear", self: op}
	return G.ApplyOp(op, x, w)
}

const (
	linFwd   = iota // (x, W) → x·Wᵀ
	linGradX        // (dy, W) → dy·W
	linGradW        // (dy, x) → dyᵀ·x
)

type linearOp struct {
	base
	mode   int
	wShape tensor.Shape // [out, in] of the weight, for LinearGradW
	out    buf

	gradX, gradW *linearOp // the forward's gradient ops, made by the first SymDiff
}

func (op *linearOp) Arity() int    { return 2 }
func (op *linearOp) Type() hm.Type { return fnType(2, 2, 2) }

func (op *linearOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	a, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	b, err := shapeOf(in[1])
	if err != nil {
		return nil, err
	}
	switch op.mode {
	case linFwd: // [N,in]·[out,in]ᵀ
		return tensor.Shape{a[0], b[0]}, nil
	case linGradX: // [N,out]·[out,in]
		return tensor.Shape{a[0], b[1]}, nil
	default: // [N,out]ᵀ·[N,in]
		return tensor.Shape{a[1], b[1]}, nil
	}
}

func (op *linearOp) Do(in ...G.Value) (G.Value, error) {
	var a, b []float32
	if err := f32s(in, &a, &b); err != nil {
		return nil, err
	}
	as, bs := in[0].Shape(), in[1].Shape()
	// Each mode is one product c[m,n] = op(a)·op(b) over depth k, whose
	// operands must agree on k.
	var (
		m, n, k    int
		ta, tb     bool
		agree      bool
		what, x, w string
	)
	switch op.mode {
	case linFwd: // y[N,out] = x[N,in]·W[out,in]ᵀ
		m, n, k, tb = as[0], bs[0], as[1], true
		agree, what, x, w = bs[1] == k, "linear", "x", "W"
	case linGradX: // dx[N,in] = dy[N,out]·W[out,in]
		m, n, k = as[0], bs[1], as[1]
		agree, what, x, w = bs[0] == k, "linear grad x", "dy", "W"
	default: // dW[out,in] = dy[N,out]ᵀ·x[N,in]
		m, n, k, ta = as[1], bs[1], as[0], true
		agree, what, x, w = bs[0] == k, "linear grad W", "dy", "x"
	}
	if !agree {
		return nil, fmt.Errorf("%s: %s %v, %s %v", what, x, as, w, bs)
	}
	lda, ldb := k, n
	if ta {
		lda = m
	}
	if tb {
		ldb = k
	}
	t, c := op.out.get(m, n)
	sgemm(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, c, n)
	return t, nil
}

func (op *linearOp) DiffWRT(int) []bool { return []bool{true, true} }

func (op *linearOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.mode != linFwd {
		return nil, fmt.Errorf("linear: second derivatives are not supported")
	}
	if op.gradX == nil { // one pair of gradient ops however many nodes apply op (see package doc)
		op.gradX = &linearOp{mode: linGradX}
		op.gradX.base = base{name: "LinearGradX", self: op.gradX}
		op.gradW = &linearOp{mode: linGradW, wShape: inputs[1].Shape().Clone()}
		op.gradW.base = base{name: "LinearGradW", self: op.gradW}
	}
	dx, err := G.ApplyOp(op.gradX, grad, inputs[1])
	if err != nil {
		return nil, err
	}
	dw, err := G.ApplyOp(op.gradW, grad, inputs[0])
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw}, nil
}

func (op *linearOp) backOutput(data []float32) bool {
	if op.mode != linGradW || op.wShape == nil {
		return false
	}
	return op.out.back(data, op.wShape)
}

func (op *linearOp) backTensor(t *tensor.Dense) bool {
	return op.mode == linGradW && op.wShape != nil && op.out.backTensor(t, op.wShape)
}
