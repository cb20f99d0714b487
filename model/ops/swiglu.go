package ops

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/distill-ml/distill/model/kernels/parallel"
	"github.com/distill-ml/distill/model/ops/fastmath"
)

// SwiGLU returns y = silu(g) ⊙ u, silu(g) = g·σ(g).
//
//	g, u, y: [N, ffn]
//
// The forward keeps σ(g); the backward (one pass, both gradients) is
// du = dy⊙g⊙σ(g), dg = dy⊙u⊙σ(g)·(1 + g·(1−σ(g))).
func SwiGLU(g, u *G.Node) (*G.Node, error) {
	if !g.Shape().Eq(u.Shape()) || g.Shape().Dims() != 2 {
		return nil, fmt.Errorf("swiglu: gate %v and up %v", g.Shape(), u.Shape())
	}
	op := &swigluOp{}
	op.base = base{name: "SwiGLU", self: op}
	return G.ApplyOp(op, g, u)
}

type swigluOp struct {
	base
	sig []float32 // [N·ffn] σ(g) of the last forward, for the backward
	out buf
}

func (op *swigluOp) Arity() int    { return 2 }
func (op *swigluOp) Type() hm.Type { return fnType(2, 2, 2) }
func (op *swigluOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(in[0])
	return s.Clone(), err
}

func (op *swigluOp) Do(in ...G.Value) (G.Value, error) {
	g, err := f32(in[0])
	if err != nil {
		return nil, err
	}
	u, err := f32(in[1])
	if err != nil {
		return nil, err
	}
	t, y := op.out.get(in[0].Shape()...)
	op.sig = resize(op.sig, len(y))
	sig := op.sig
	parallel.Default().For(len(y), 1<<13, func(lo, hi int) {
		fastmath.SigmoidSlice(sig[lo:hi], g[lo:hi])
		for i := lo; i < hi; i++ {
			y[i] = g[i] * sig[i] * u[i]
		}
	})
	return t, nil
}

func (op *swigluOp) DiffWRT(int) []bool { return []bool{true, true} }
func (op *swigluOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	b := &swigluGradOp{fwd: op, bun: &bundle{outs: make([]buf, 1)}}
	b.base = base{name: "SwiGLUGrad", self: b}
	dg, err := G.ApplyOp(b, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	du, err := fetch("SwiGLUGradUp", b.bun, 0, inputs[1].Shape(), dg)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dg, du}, nil
}

// swigluGradOp: (g, u, dy) → dg; du in its bundle.
type swigluGradOp struct {
	base
	fwd *swigluOp
	bun *bundle
	out buf
}

func (op *swigluGradOp) Arity() int    { return 3 }
func (op *swigluGradOp) Type() hm.Type { return fnType(2, 2, 2, 2) }
func (op *swigluGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(in[0])
	return s.Clone(), err
}

func (op *swigluGradOp) Do(in ...G.Value) (G.Value, error) {
	g, err := f32(in[0])
	if err != nil {
		return nil, err
	}
	u, err := f32(in[1])
	if err != nil {
		return nil, err
	}
	dy, err := f32(in[2])
	if err != nil {
		return nil, err
	}
	t, dg := op.out.get(in[0].Shape()...)
	_, du := op.bun.outs[0].get(in[0].Shape()...)
	sig := op.fwd.sig
	if len(sig) != len(dg) {
		return nil, fmt.Errorf("swiglu grad: forward has not run")
	}
	parallel.Default().For(len(dg), 1<<13, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			s := sig[i]
			du[i] = dy[i] * g[i] * s
			dg[i] = dy[i] * u[i] * s * (1 + g[i]*(1-s))
		}
	})
	return t, nil
}
