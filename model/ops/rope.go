package ops

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// RoPE rotates the first heads heads of each row of x by its position,
// llama.cpp "normal" pairing: within a head, elements (2i, 2i+1) rotate
// together by angle t·base^(−2i/headDim), t = n mod T the position inside the
// row of the batch. Columns after heads·headDim (the V part of a fused QKV
// projection) pass through unchanged.
//
//	x: [N, W], W ≥ heads·headDim   y: same
//
// The map is orthogonal, so the backward is the rotation by −angle.
func RoPE(x *G.Node, T, heads, headDim int, base float64) (*G.Node, error) {
	if headDim%2 != 0 {
		return nil, fmt.Errorf("rope: odd head dim %d", headDim)
	}
	freqs := make([]float64, headDim/2)
	for i := range freqs {
		freqs[i] = math.Pow(base, -2*float64(i)/float64(headDim))
	}
	return RoPEFreqs(x, T, heads, headDim, freqs)
}

// RoPEFreqs is RoPE with the angle of pair i given as t·freqs[i] (freqs:
// [headDim/2]), for scaled frequencies such as Llama 3's.
func RoPEFreqs(x *G.Node, T, heads, headDim int, freqs []float64) (*G.Node, error) {
	if x.Shape().Dims() != 2 || x.Shape()[1] < heads*headDim || headDim%2 != 0 || x.Shape()[0]%T != 0 || len(freqs) != headDim/2 {
		return nil, fmt.Errorf("rope: x %v, T %d, heads %d, head dim %d, %d frequencies", x.Shape(), T, heads, headDim, len(freqs))
	}
	half := headDim / 2
	cos := make([]float32, T*half) // [T, headDim/2]
	sin := make([]float32, T*half)
	for t := 0; t < T; t++ {
		for i := 0; i < half; i++ {
			theta := float64(t) * freqs[i]
			cos[t*half+i] = float32(math.Cos(theta))
			sin[t*half+i] = float32(math.Sin(theta))
		}
	}
	op := &ropeOp{T: T, heads: heads, hd: headDim, cos: cos, sin: sin}
	op.base.name, op.base.self = "RoPE", op
	return G.ApplyOp(op, x)
}

type ropeOp struct {
	base
	T, heads, hd int
	cos, sin     []float32
	inverse      bool
	out          buf
	grad         *ropeOp // the inverse rotation, made by the first SymDiff

	x, y   []float32 // operands of the running call, read by rows
	w      int
	rowsFn func(lo, hi int) // op.rows, bound once (no closure per call)
}

func (op *ropeOp) Arity() int    { return 1 }
func (op *ropeOp) Type() hm.Type { return fnType(2, 2) }
func (op *ropeOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOfFirst(in)
}

func (op *ropeOp) Do(in ...G.Value) (G.Value, error) {
	x, err := f32(in[0])
	if err != nil {
		return nil, err
	}
	s := in[0].Shape()
	N, W := s[0], s[1]
	if W < op.heads*op.hd || N%op.T != 0 {
		return nil, fmt.Errorf("rope: input %v", s)
	}
	t, y := op.out.get(N, W)
	op.x, op.y, op.w = x, y, W
	forChunks(&op.rowsFn, op, (*ropeOp).rows, N, 16)
	op.x, op.y = nil, nil
	return t, nil
}

// rows rotates rows [lo, hi) of the running call.
func (op *ropeOp) rows(lo, hi int) {
	x, y, W := op.x, op.y, op.w
	half := op.hd / 2
	sign := float32(1)
	if op.inverse {
		sign = -1
	}
	for n := lo; n < hi; n++ {
		pos := n % op.T
		c, sn := op.cos[pos*half:(pos+1)*half], op.sin[pos*half:(pos+1)*half]
		for h := 0; h < op.heads; h++ {
			xr := x[n*W+h*op.hd : n*W+(h+1)*op.hd]
			yr := y[n*W+h*op.hd : n*W+(h+1)*op.hd]
			for i := 0; i < half; i++ {
				x0, x1 := xr[2*i], xr[2*i+1]
				ci, si := c[i], sign*sn[i]
				yr[2*i] = x0*ci - x1*si
				yr[2*i+1] = x0*si + x1*ci
			}
		}
		copy(y[n*W+op.heads*op.hd:(n+1)*W], x[n*W+op.heads*op.hd:(n+1)*W])
	}
}

func (op *ropeOp) DiffWRT(int) []bool { return []bool{true} }
func (op *ropeOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.grad == nil { // one gradient op however many nodes apply op (see package doc)
		op.grad = &ropeOp{T: op.T, heads: op.heads, hd: op.hd, cos: op.cos, sin: op.sin, inverse: !op.inverse}
		op.grad.base.name, op.grad.base.self = "RoPEGrad", op.grad
	}
	dx, err := G.ApplyOp(op.grad, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}
