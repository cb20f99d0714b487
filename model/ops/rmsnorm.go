package ops

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
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
	op := &rmsNormOp{what: "rmsnorm", count: 1, hd: w.Shape()[0], wholeRow: true, eps: float32(eps)}
	op.base = base{name: "RMSNorm", self: op}
	return G.ApplyOp(op, x, w)
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
	op := &rmsNormOp{what: "head rmsnorm", first: first, count: count, hd: headDim, eps: float32(eps)}
	op.base = base{name: "HeadRMSNorm", self: op}
	return G.ApplyOp(op, x, w)
}

// rmsNormOp normalises heads [first, first+count) of every row, each over its
// hd values; RMSNorm is the whole row as one head (first 0, count 1, hd = d).
type rmsNormOp struct {
	base
	what             string // "rmsnorm" or "head rmsnorm", as errors name the op
	first, count, hd int
	wholeRow         bool // RMSNorm: a row is exactly the one head
	eps              float32
	rstd             []float32 // [N·count] 1/rms of each normalised head of the last forward
	out              buf
	gradX            *rmsNormGradXOp // the gradient ops, made by the first SymDiff
	gradW            *rmsNormGradWOp

	x, w, y []float32 // operands of the running forward, read by rows
	width   int
	rowsFn  func(lo, hi int) // op.rows, bound once (no closure per call)
}

func (op *rmsNormOp) Arity() int    { return 2 }
func (op *rmsNormOp) Type() hm.Type { return fnType(2, 2, 1) }
func (op *rmsNormOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOfFirst(in)
}

func (op *rmsNormOp) Do(in ...G.Value) (G.Value, error) {
	var x, w []float32
	if err := f32s(in, &x, &w); err != nil {
		return nil, err
	}
	N, W := in[0].Shape()[0], in[0].Shape()[1]
	if len(w) != op.hd || W < (op.first+op.count)*op.hd || (op.wholeRow && W != op.hd) {
		return nil, fmt.Errorf("%s: x [%d %d], w %d values", op.what, N, W, len(w))
	}
	if len(op.rstd) != N*op.count {
		op.rstd = make([]float32, N*op.count)
	}
	t, y := op.out.get(N, W)
	op.x, op.w, op.y, op.width = x, w, y, W
	forChunks(&op.rowsFn, op, (*rmsNormOp).rows, N, 16)
	op.x, op.w, op.y = nil, nil, nil
	return t, nil
}

// rows normalises rows [lo, hi) of the running forward; the columns outside
// the heads pass through.
func (op *rmsNormOp) rows(lo, hi int) {
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

// rmsRow sets y = x·r⊙w for one row (or one head) and returns
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
	if op.gradX == nil { // one pair of gradient ops however many nodes apply op (see package doc)
		op.gradX = &rmsNormGradXOp{fwd: op}
		op.gradX.base = base{name: op.name + "GradX", self: op.gradX}
		op.gradW = &rmsNormGradWOp{fwd: op}
		op.gradW.base = base{name: op.name + "GradW", self: op.gradW}
	}
	dx, err := G.ApplyOp(op.gradX, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	dw, err := G.ApplyOp(op.gradW, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw}, nil
}

// rmsNormGradXOp: (x [N,W], w [hd], dy [N,W]) → dx [N,W]; outside the heads
// dx = dy.
type rmsNormGradXOp struct {
	base
	fwd *rmsNormOp
	out buf

	x, w, dy, dx []float32 // operands of the running backward, read by rows
	width        int
	rowsFn       func(lo, hi int) // op.rows, bound once
}

func (op *rmsNormGradXOp) Arity() int    { return 3 }
func (op *rmsNormGradXOp) Type() hm.Type { return fnType(2, 2, 1, 2) }
func (op *rmsNormGradXOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOfFirst(in)
}

func (op *rmsNormGradXOp) Do(in ...G.Value) (G.Value, error) {
	var x, w, dy []float32
	if err := f32s(in, &x, &w, &dy); err != nil {
		return nil, err
	}
	N, W := in[0].Shape()[0], in[0].Shape()[1]
	if len(op.fwd.rstd) != N*op.fwd.count || len(dy) != N*W {
		return nil, fmt.Errorf("%s grad: forward has not run for %d rows", op.fwd.what, N)
	}
	t, dx := op.out.get(N, W)
	op.x, op.w, op.dy, op.dx, op.width = x, w, dy, dx, W
	forChunks(&op.rowsFn, op, (*rmsNormGradXOp).rows, N, 16)
	op.x, op.w, op.dy, op.dx = nil, nil, nil, nil
	return t, nil
}

// rows computes dx for rows [lo, hi) of the running backward.
func (op *rmsNormGradXOp) rows(lo, hi int) {
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

// rmsNormGradWOp: (x [N,W], dy [N,W]) → dw [hd], columns split across workers.
type rmsNormGradWOp struct {
	base
	fwd *rmsNormOp
	out buf

	x, dy, dw []float32 // operands of the running backward, read by cols
	n, width  int
	colsFn    func(lo, hi int) // op.cols, bound once
}

func (op *rmsNormGradWOp) Arity() int    { return 2 }
func (op *rmsNormGradWOp) Type() hm.Type { return fnType(1, 2, 2) }
func (op *rmsNormGradWOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.fwd.hd}, nil
}

func (op *rmsNormGradWOp) Do(in ...G.Value) (G.Value, error) {
	var x, dy []float32
	if err := f32s(in, &x, &dy); err != nil {
		return nil, err
	}
	N, W := in[0].Shape()[0], in[0].Shape()[1]
	if len(op.fwd.rstd) != N*op.fwd.count {
		return nil, fmt.Errorf("%s grad w: forward has not run for %d rows", op.fwd.what, N)
	}
	t, dw := op.out.get(op.fwd.hd)
	op.x, op.dy, op.dw, op.n, op.width = x, dy, dw, N, W
	forChunks(&op.colsFn, op, (*rmsNormGradWOp).cols, op.fwd.hd, 32)
	op.x, op.dy, op.dw = nil, nil, nil
	return t, nil
}

// cols accumulates dw for columns [lo, hi) of a head over all rows and heads.
func (op *rmsNormGradWOp) cols(lo, hi int) {
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

func (op *rmsNormGradWOp) backTensor(t *tensor.Dense) bool {
	return op.out.backTensor(t, tensor.Shape{op.fwd.hd})
}

func (op *rmsNormGradWOp) backOutput(data []float32) bool {
	return op.out.back(data, tensor.Shape{len(data)})
}
