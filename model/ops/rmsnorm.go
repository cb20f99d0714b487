package ops

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/distill-ml/distill/num/parallel"
)

// RMSNorm returns y = x / sqrt(mean(x²) + eps) ⊙ w, row by row.
//
//	x: [N, d]   w: [d]   y: [N, d]
//
// The forward keeps r = 1/rms per row for the backward:
//
//	dx = r·(w⊙dy) − x·r³/d·Σ_k w_k·dy_k·x_k      dw = Σ_rows dy⊙x·r
func RMSNorm(x, w *G.Node, eps float64) (*G.Node, error) {
	if x.Shape().Dims() != 2 || w.Shape().Dims() != 1 || x.Shape()[1] != w.Shape()[0] {
		return nil, fmt.Errorf("rmsnorm: x %v, w %v", x.Shape(), w.Shape())
	}
	op := &rmsNormOp{eps: float32(eps)}
	op.base = base{name: "RMSNorm", self: op}
	return G.ApplyOp(op, x, w)
}

type rmsNormOp struct {
	base
	eps  float32
	rstd []float32 // [N] 1/rms of the last forward
	out  buf

	x, w, y []float32 // operands of the running forward, read by rows
	d       int
	rowsFn  func(lo, hi int) // op.rows, bound once (no closure per call)
}

func (op *rmsNormOp) Arity() int    { return 2 }
func (op *rmsNormOp) Type() hm.Type { return fnType(2, 2, 1) }
func (op *rmsNormOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(in[0])
	return s.Clone(), err
}

func (op *rmsNormOp) Do(in ...G.Value) (G.Value, error) {
	x, err := f32(in[0])
	if err != nil {
		return nil, err
	}
	w, err := f32(in[1])
	if err != nil {
		return nil, err
	}
	N, d := in[0].Shape()[0], in[0].Shape()[1]
	if len(w) != d {
		return nil, fmt.Errorf("rmsnorm: w has %d values, want %d", len(w), d)
	}
	if len(op.rstd) != N {
		op.rstd = make([]float32, N)
	}
	t, y := op.out.get(N, d)
	op.x, op.w, op.y, op.d = x, w, y, d
	if op.rowsFn == nil {
		op.rowsFn = op.rows
	}
	parallel.Default().For(N, 16, op.rowsFn)
	op.x, op.w, op.y = nil, nil, nil
	return t, nil
}

// rows normalises rows [lo, hi) of the running forward.
func (op *rmsNormOp) rows(lo, hi int) {
	x, w, y, d := op.x, op.w, op.y, op.d
	for n := lo; n < hi; n++ {
		op.rstd[n] = rmsRow(y[n*d:(n+1)*d], x[n*d:(n+1)*d], w, op.eps)
	}
}

// rmsRow sets y = x·r⊙w for one row (also a head, HeadRMSNorm) and returns
// r = 1/sqrt(mean(x²) + eps).
func rmsRow(y, x, w []float32, eps float32) float32 {
	var ss float32
	for _, v := range x {
		ss += v * v
	}
	r := float32(1 / math.Sqrt(float64(ss/float32(len(x))+eps)))
	for i, v := range x {
		y[i] = v * r * w[i]
	}
	return r
}

// rmsGradRow sets dx = r·(w⊙dy) − x·r³/d·Σ w·dy·x for one row.
func rmsGradRow(dx, x, w, dy []float32, r float32) {
	var dot float32
	for i, v := range x {
		dot += w[i] * dy[i] * v
	}
	invD := 1 / float32(len(x))
	c := r * r * r * dot * invD
	for i, v := range x {
		dx[i] = r*w[i]*dy[i] - v*c
	}
}

func (op *rmsNormOp) DiffWRT(int) []bool { return []bool{true, true} }

func (op *rmsNormOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	gx := &rmsNormGradXOp{fwd: op}
	gx.base = base{name: "RMSNormGradX", self: gx}
	dx, err := G.ApplyOp(gx, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	gw := &rmsNormGradWOp{fwd: op}
	gw.base = base{name: "RMSNormGradW", self: gw}
	dw, err := G.ApplyOp(gw, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw}, nil
}

// rmsNormGradXOp: (x [N,d], w [d], dy [N,d]) → dx [N,d].
type rmsNormGradXOp struct {
	base
	fwd *rmsNormOp
	out buf

	x, w, dy, dx []float32 // operands of the running backward, read by rows
	d            int
	rowsFn       func(lo, hi int) // op.rows, bound once
}

func (op *rmsNormGradXOp) Arity() int    { return 3 }
func (op *rmsNormGradXOp) Type() hm.Type { return fnType(2, 2, 1, 2) }
func (op *rmsNormGradXOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(in[0])
	return s.Clone(), err
}

func (op *rmsNormGradXOp) Do(in ...G.Value) (G.Value, error) {
	x, err := f32(in[0])
	if err != nil {
		return nil, err
	}
	w, err := f32(in[1])
	if err != nil {
		return nil, err
	}
	dy, err := f32(in[2])
	if err != nil {
		return nil, err
	}
	N, d := in[0].Shape()[0], in[0].Shape()[1]
	if len(op.fwd.rstd) != N || len(dy) != N*d {
		return nil, fmt.Errorf("rmsnorm grad: forward has not run for %d rows", N)
	}
	t, dx := op.out.get(N, d)
	op.x, op.w, op.dy, op.dx, op.d = x, w, dy, dx, d
	if op.rowsFn == nil {
		op.rowsFn = op.rows
	}
	parallel.Default().For(N, 16, op.rowsFn)
	op.x, op.w, op.dy, op.dx = nil, nil, nil, nil
	return t, nil
}

// rows computes dx for rows [lo, hi) of the running backward.
func (op *rmsNormGradXOp) rows(lo, hi int) {
	x, w, dy, dx, d := op.x, op.w, op.dy, op.dx, op.d
	for n := lo; n < hi; n++ {
		rmsGradRow(dx[n*d:(n+1)*d], x[n*d:(n+1)*d], w, dy[n*d:(n+1)*d], op.fwd.rstd[n])
	}
}

// rmsNormGradWOp: (x [N,d], dy [N,d]) → dw [d], columns split across workers.
type rmsNormGradWOp struct {
	base
	fwd *rmsNormOp
	out buf

	x, dy, dw []float32 // operands of the running backward, read by cols
	n, d      int
	colsFn    func(lo, hi int) // op.cols, bound once
}

func (op *rmsNormGradWOp) Arity() int    { return 2 }
func (op *rmsNormGradWOp) Type() hm.Type { return fnType(1, 2, 2) }
func (op *rmsNormGradWOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{s[1]}, nil
}

func (op *rmsNormGradWOp) Do(in ...G.Value) (G.Value, error) {
	x, err := f32(in[0])
	if err != nil {
		return nil, err
	}
	dy, err := f32(in[1])
	if err != nil {
		return nil, err
	}
	N, d := in[0].Shape()[0], in[0].Shape()[1]
	if len(op.fwd.rstd) != N {
		return nil, fmt.Errorf("rmsnorm grad w: forward has not run for %d rows", N)
	}
	t, dw := op.out.get(d)
	op.x, op.dy, op.dw, op.n, op.d = x, dy, dw, N, d
	if op.colsFn == nil {
		op.colsFn = op.cols
	}
	parallel.Default().For(d, 32, op.colsFn)
	op.x, op.dy, op.dw = nil, nil, nil
	return t, nil
}

// cols accumulates dw for columns [lo, hi) over all rows.
func (op *rmsNormGradWOp) cols(lo, hi int) {
	x, dy, N, d := op.x, op.dy, op.n, op.d
	acc := op.dw[lo:hi]
	for i := range acc {
		acc[i] = 0
	}
	for n := 0; n < N; n++ {
		r := op.fwd.rstd[n]
		xr, gr := x[n*d+lo:n*d+hi], dy[n*d+lo:n*d+hi]
		for i := range acc {
			acc[i] += gr[i] * xr[i] * r
		}
	}
}

func (op *rmsNormGradWOp) backOutput(data []float32) bool {
	return op.out.back(data, tensor.Shape{len(data)})
}
