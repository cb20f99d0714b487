package ops

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/distill-ml/distill/num/parallel"
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
	out buf

	x, b, y []float32 // operands of the running call, read by rows
	c       int
	rowsFn  func(lo, hi int)
}

func (op *biasAddOp) Arity() int    { return 2 }
func (op *biasAddOp) Type() hm.Type { return fnType(2, 2, 1) }
func (op *biasAddOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(in[0])
	return s.Clone(), err
}

func (op *biasAddOp) Do(in ...G.Value) (G.Value, error) {
	x, err := f32(in[0])
	if err != nil {
		return nil, err
	}
	b, err := f32(in[1])
	if err != nil {
		return nil, err
	}
	N, C := in[0].Shape()[0], in[0].Shape()[1]
	if len(b) != C {
		return nil, fmt.Errorf("bias add: b has %d values, want %d", len(b), C)
	}
	t, y := op.out.get(N, C)
	op.x, op.b, op.y, op.c = x, b, y, C
	if op.rowsFn == nil {
		op.rowsFn = op.rows
	}
	parallel.Default().For(N, 16, op.rowsFn)
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
	gb := &colSumOp{}
	gb.base = base{name: "BiasAddGrad", self: gb}
	db, err := G.ApplyOp(gb, grad)
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
	if op.colsFn == nil {
		op.colsFn = op.cols
	}
	parallel.Default().For(C, 32, op.colsFn)
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

func (op *colSumOp) backOutput(data []float32) bool {
	return op.out.back(data, tensor.Shape{len(data)})
}

// HeadRMSNorm RMS-normalises heads [first, first+count) of every row of x,
// each over its headDim values, and scales them by w (Qwen3's q_norm and
// k_norm); the other columns pass through.
//
//	x: [N, W]   w: [headDim]   y: [N, W]
//
// Per normalised head with r = 1/rms: dx = r·(w⊙dy) − x·r³/hd·Σ w·dy·x and
// dw = Σ over rows and heads of dy⊙x·r, as RMSNorm's.
func HeadRMSNorm(x, w *G.Node, first, count, headDim int, eps float64) (*G.Node, error) {
	if x.Shape().Dims() != 2 || w.Shape().Dims() != 1 || w.Shape()[0] != headDim || first < 0 || count <= 0 || x.Shape()[1] < (first+count)*headDim {
		return nil, fmt.Errorf("head rmsnorm: x %v, w %v, heads [%d, %d) of %d", x.Shape(), w.Shape(), first, first+count, headDim)
	}
	op := &headNormOp{first: first, count: count, hd: headDim, eps: float32(eps)}
	op.base = base{name: "HeadRMSNorm", self: op}
	return G.ApplyOp(op, x, w)
}

type headNormOp struct {
	base
	first, count, hd int
	eps              float32
	rstd             []float32 // [N·count] 1/rms of each normalised head of the last forward
	out              buf

	x, w, y []float32
	width   int
	rowsFn  func(lo, hi int)
}

func (op *headNormOp) Arity() int    { return 2 }
func (op *headNormOp) Type() hm.Type { return fnType(2, 2, 1) }
func (op *headNormOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(in[0])
	return s.Clone(), err
}

func (op *headNormOp) Do(in ...G.Value) (G.Value, error) {
	x, err := f32(in[0])
	if err != nil {
		return nil, err
	}
	w, err := f32(in[1])
	if err != nil {
		return nil, err
	}
	N, W := in[0].Shape()[0], in[0].Shape()[1]
	if len(w) != op.hd || W < (op.first+op.count)*op.hd {
		return nil, fmt.Errorf("head rmsnorm: x [%d %d], w %d values", N, W, len(w))
	}
	if len(op.rstd) != N*op.count {
		op.rstd = make([]float32, N*op.count)
	}
	t, y := op.out.get(N, W)
	op.x, op.w, op.y, op.width = x, w, y, W
	if op.rowsFn == nil {
		op.rowsFn = op.rows
	}
	parallel.Default().For(N, 16, op.rowsFn)
	op.x, op.w, op.y = nil, nil, nil
	return t, nil
}

func (op *headNormOp) rows(lo, hi int) {
	W, hd := op.width, op.hd
	a, b := op.first*hd, (op.first+op.count)*hd
	for n := lo; n < hi; n++ {
		xr, yr := op.x[n*W:(n+1)*W], op.y[n*W:(n+1)*W]
		copy(yr[:a], xr[:a])
		copy(yr[b:], xr[b:])
		for h := 0; h < op.count; h++ {
			op.rstd[n*op.count+h] = rmsRow(yr[a+h*hd:a+(h+1)*hd], xr[a+h*hd:a+(h+1)*hd], op.w, op.eps)
		}
	}
}

func (op *headNormOp) DiffWRT(int) []bool { return []bool{true, true} }
func (op *headNormOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	gx := &headNormGradXOp{fwd: op}
	gx.base = base{name: "HeadRMSNormGradX", self: gx}
	dx, err := G.ApplyOp(gx, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	gw := &headNormGradWOp{fwd: op}
	gw.base = base{name: "HeadRMSNormGradW", self: gw}
	dw, err := G.ApplyOp(gw, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw}, nil
}

// headNormGradXOp: (x [N,W], w [hd], dy [N,W]) → dx [N,W].
type headNormGradXOp struct {
	base
	fwd *headNormOp
	out buf

	x, w, dy, dx []float32
	width        int
	rowsFn       func(lo, hi int)
}

func (op *headNormGradXOp) Arity() int    { return 3 }
func (op *headNormGradXOp) Type() hm.Type { return fnType(2, 2, 1, 2) }
func (op *headNormGradXOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(in[0])
	return s.Clone(), err
}

func (op *headNormGradXOp) Do(in ...G.Value) (G.Value, error) {
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
	N, W := in[0].Shape()[0], in[0].Shape()[1]
	if len(op.fwd.rstd) != N*op.fwd.count || len(dy) != N*W {
		return nil, fmt.Errorf("head rmsnorm grad: forward has not run for %d rows", N)
	}
	t, dx := op.out.get(N, W)
	op.x, op.w, op.dy, op.dx, op.width = x, w, dy, dx, W
	if op.rowsFn == nil {
		op.rowsFn = op.rows
	}
	parallel.Default().For(N, 16, op.rowsFn)
	op.x, op.w, op.dy, op.dx = nil, nil, nil, nil
	return t, nil
}

func (op *headNormGradXOp) rows(lo, hi int) {
	f := op.fwd
	W, hd := op.width, f.hd
	a, b := f.first*hd, (f.first+f.count)*hd
	for n := lo; n < hi; n++ {
		xr, gr, dr := op.x[n*W:(n+1)*W], op.dy[n*W:(n+1)*W], op.dx[n*W:(n+1)*W]
		copy(dr[:a], gr[:a])
		copy(dr[b:], gr[b:])
		for h := 0; h < f.count; h++ {
			s0, s1 := a+h*hd, a+(h+1)*hd
			rmsGradRow(dr[s0:s1], xr[s0:s1], op.w, gr[s0:s1], f.rstd[n*f.count+h])
		}
	}
}

// headNormGradWOp: (x [N,W], dy [N,W]) → dw [hd].
type headNormGradWOp struct {
	base
	fwd *headNormOp
	out buf

	x, dy, dw []float32
	n, width  int
	colsFn    func(lo, hi int)
}

func (op *headNormGradWOp) Arity() int    { return 2 }
func (op *headNormGradWOp) Type() hm.Type { return fnType(1, 2, 2) }
func (op *headNormGradWOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.fwd.hd}, nil
}

func (op *headNormGradWOp) Do(in ...G.Value) (G.Value, error) {
	x, err := f32(in[0])
	if err != nil {
		return nil, err
	}
	dy, err := f32(in[1])
	if err != nil {
		return nil, err
	}
	N, W := in[0].Shape()[0], in[0].Shape()[1]
	if len(op.fwd.rstd) != N*op.fwd.count {
		return nil, fmt.Errorf("head rmsnorm grad w: forward has not run for %d rows", N)
	}
	t, dw := op.out.get(op.fwd.hd)
	op.x, op.dy, op.dw, op.n, op.width = x, dy, dw, N, W
	if op.colsFn == nil {
		op.colsFn = op.cols
	}
	parallel.Default().For(op.fwd.hd, 32, op.colsFn)
	op.x, op.dy, op.dw = nil, nil, nil
	return t, nil
}

func (op *headNormGradWOp) cols(lo, hi int) {
	f := op.fwd
	acc := op.dw[lo:hi]
	clear(acc)
	for n := 0; n < op.n; n++ {
		for h := 0; h < f.count; h++ {
			off := n*op.width + (f.first+h)*f.hd
			r := f.rstd[n*f.count+h]
			xs, gs := op.x[off+lo:off+hi], op.dy[off+lo:off+hi]
			for i := range acc {
				acc[i] += gs[i] * xs[i] * r
			}
		}
	}
}

func (op *headNormGradWOp) backOutput(data []float32) bool {
	return op.out.back(data, tensor.Shape{len(data)})
}
