package ops

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/distill-ml/distill/num/fastmath"
)

// SwiGLU returns y = silu(g) ⊙ u from the fused gate/up projection gu = [g | u].
//
//	gu: [N, 2·ffn]   y: [N, ffn]
//
// The forward keeps σ(g); the backward (one pass) writes both halves of
// dgu = [dg | du]: du = dy⊙g⊙σ(g), dg = dy⊙u⊙σ(g)·(1 + g·(1−σ(g))).
func SwiGLU(gu *G.Node) (*G.Node, error) {
	if gu.Shape().Dims() != 2 || gu.Shape()[1]%2 != 0 {
		return nil, fmt.Errorf("swiglu: gate/up %v is not [N, 2·ffn]", gu.Shape())
	}
	op := &swigluOp{}
	op.base = base{name: "SwiGLU", self: op}
	return G.ApplyOp(op, gu)
}

type swigluOp struct {
	base
	sig  []float32 // [N·ffn] σ(g) of the last forward, for the backward
	out  buf
	grad *swigluGradOp // made by the first SymDiff

	gu, y  []float32 // operands of the running forward, read by rows
	f      int
	rowsFn func(lo, hi int) // op.rows, bound once (no closure per call)
}

func (op *swigluOp) Arity() int    { return 1 }
func (op *swigluOp) Type() hm.Type { return fnType(2, 2) }
func (op *swigluOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{s[0], s[1] / 2}, nil
}

func (op *swigluOp) Do(in ...G.Value) (G.Value, error) {
	gu, err := f32(in[0])
	if err != nil {
		return nil, err
	}
	N, F := in[0].Shape()[0], in[0].Shape()[1]/2
	t, y := op.out.get(N, F)
	op.sig = resize(op.sig, N*F)
	op.gu, op.y, op.f = gu, y, F
	forChunks(&op.rowsFn, op, (*swigluOp).rows, N, 8)
	op.gu, op.y = nil, nil
	return t, nil
}

// rows computes rows [lo, hi) of the running forward.
func (op *swigluOp) rows(lo, hi int) {
	gu, y, sig, F := op.gu, op.y, op.sig, op.f
	for n := lo; n < hi; n++ {
		g, u := gu[n*2*F:n*2*F+F], gu[n*2*F+F:(n+1)*2*F]
		s, yr := sig[n*F:(n+1)*F], y[n*F:(n+1)*F]
		fastmath.SigmoidSlice(s, g)
		for i := range yr {
			yr[i] = g[i] * s[i] * u[i]
		}
	}
}

func (op *swigluOp) DiffWRT(int) []bool { return []bool{true} }
func (op *swigluOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.grad == nil { // one gradient op however many nodes apply op (see package doc)
		op.grad = &swigluGradOp{fwd: op}
		op.grad.base = base{name: "SwiGLUGrad", self: op.grad}
	}
	dgu, err := G.ApplyOp(op.grad, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dgu}, nil
}

// swigluGradOp: (gu [N, 2·ffn], dy [N, ffn]) → dgu [N, 2·ffn].
type swigluGradOp struct {
	base
	fwd *swigluOp
	out buf

	gu, dy, dgu []float32 // operands of the running backward, read by rows
	f           int
	rowsFn      func(lo, hi int) // op.rows, bound once
}

func (op *swigluGradOp) Arity() int    { return 2 }
func (op *swigluGradOp) Type() hm.Type { return fnType(2, 2, 2) }
func (op *swigluGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOfFirst(in)
}

func (op *swigluGradOp) Do(in ...G.Value) (G.Value, error) {
	var gu, dy []float32
	if err := f32s(in, &gu, &dy); err != nil {
		return nil, err
	}
	N, F := in[0].Shape()[0], in[0].Shape()[1]/2
	sig := op.fwd.sig
	if len(sig) != N*F || len(dy) != N*F {
		return nil, fmt.Errorf("swiglu grad: forward has not run for %d×%d", N, F)
	}
	t, dgu := op.out.get(N, 2*F)
	op.gu, op.dy, op.dgu, op.f = gu, dy, dgu, F
	forChunks(&op.rowsFn, op, (*swigluGradOp).rows, N, 8)
	op.gu, op.dy, op.dgu = nil, nil, nil
	return t, nil
}

// rows computes rows [lo, hi) of the running backward.
func (op *swigluGradOp) rows(lo, hi int) {
	gu, dy, dgu, sig, F := op.gu, op.dy, op.dgu, op.fwd.sig, op.f
	for n := lo; n < hi; n++ {
		g, u := gu[n*2*F:n*2*F+F], gu[n*2*F+F:(n+1)*2*F]
		dg, du := dgu[n*2*F:n*2*F+F], dgu[n*2*F+F:(n+1)*2*F]
		s, d := sig[n*F:(n+1)*F], dy[n*F:(n+1)*F]
		for i := range d {
			du[i] = d[i] * g[i] * s[i]
			dg[i] = d[i] * u[i] * s[i] * (1 + g[i]*(1-s[i]))
		}
	}
}
