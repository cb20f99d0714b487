package ops

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Embedding gathers rows of W by the batch's token ids.
//
//	W: [V, d]   ids: feed.Batch.Tokens [N]   y: [N, d]
//
// Backward scatter-adds dy rows into dW [V, d]; workers split the d columns,
// so repeated ids never race.
func Embedding(w *G.Node, feed *Feed, n int) (*G.Node, error) {
	if w.Shape().Dims() != 2 {
		return nil, fmt.Errorf("embedding: W %v is not a matrix", w.Shape())
	}
	op := &embeddingOp{feed: feed, n: n}
	op.base = base{name: "Embedding", self: op}
	return G.ApplyOp(op, w)
}

type embeddingOp struct {
	base
	feed *Feed
	n    int
	out  buf

	w, y   []float32 // operands of the running call, read by rows
	tokens []int32
	d      int
	rowsFn func(lo, hi int) // op.rows, bound once (no closure per call)
}

func (op *embeddingOp) Arity() int    { return 1 }
func (op *embeddingOp) Type() hm.Type { return fnType(2, 2) }
func (op *embeddingOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{op.n, s[1]}, nil
}

func (op *embeddingOp) ids() ([]int32, error) {
	if op.feed.Batch == nil || len(op.feed.Batch.Tokens) != op.n {
		return nil, fmt.Errorf("embedding: feed has no batch of %d tokens", op.n)
	}
	return op.feed.Batch.Tokens, nil
}

func (op *embeddingOp) Do(in ...G.Value) (G.Value, error) {
	w, err := f32(in[0])
	if err != nil {
		return nil, err
	}
	ids, err := op.ids()
	if err != nil {
		return nil, err
	}
	V, d := in[0].Shape()[0], in[0].Shape()[1]
	for p, id := range ids {
		if id < 0 || int(id) >= V {
			return nil, fmt.Errorf("embedding: token id %d at position %d outside vocab %d", id, p, V)
		}
	}
	t, y := op.out.get(op.n, d)
	op.w, op.y, op.tokens, op.d = w, y, ids, d
	forChunks(&op.rowsFn, op, (*embeddingOp).rows, op.n, 64)
	op.w, op.y, op.tokens = nil, nil, nil
	return t, nil
}

// rows gathers positions [lo, hi).
func (op *embeddingOp) rows(lo, hi int) {
	w, y, ids, d := op.w, op.y, op.tokens, op.d
	for p := lo; p < hi; p++ {
		id := int(ids[p])
		copy(y[p*d:(p+1)*d], w[id*d:(id+1)*d])
	}
}

func (op *embeddingOp) DiffWRT(int) []bool { return []bool{true} }
func (op *embeddingOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	g := &embeddingGradOp{fwd: op, shape: inputs[0].Shape().Clone()}
	g.base = base{name: "EmbeddingGrad", self: g}
	dw, err := G.ApplyOp(g, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dw}, nil
}

// embeddingGradOp: dy [N, d] → dW [V, d].
type embeddingGradOp struct {
	base
	fwd   *embeddingOp
	shape tensor.Shape
	out   buf

	dy, dw          []float32 // operands of the running call
	ids             []int32
	clearFn, colsFn func(lo, hi int) // op.clear, op.cols, bound once
}

func (op *embeddingGradOp) Arity() int    { return 1 }
func (op *embeddingGradOp) Type() hm.Type { return fnType(2, 2) }
func (op *embeddingGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.shape.Clone(), nil
}

func (op *embeddingGradOp) Do(in ...G.Value) (G.Value, error) {
	dy, err := f32(in[0])
	if err != nil {
		return nil, err
	}
	ids, err := op.fwd.ids()
	if err != nil {
		return nil, err
	}
	d := op.shape[1]
	t, dw := op.out.get(op.shape...)
	op.dy, op.dw, op.ids = dy, dw, ids
	forChunks(&op.clearFn, op, (*embeddingGradOp).clear, len(dw), 1<<15)
	forChunks(&op.colsFn, op, (*embeddingGradOp).cols, d, 16)
	op.dy, op.dw, op.ids = nil, nil, nil
	return t, nil
}

// clear zeroes dw[lo:hi].
func (op *embeddingGradOp) clear(lo, hi int) { clear(op.dw[lo:hi]) }

// cols scatter-adds columns [lo, hi) of every dy row into dW.
func (op *embeddingGradOp) cols(lo, hi int) {
	dy, dw, d := op.dy, op.dw, op.shape[1]
	for p, id := range op.ids {
		dst := dw[int(id)*d+lo : int(id)*d+hi]
		src := dy[p*d+lo : p*d+hi]
		for i := range dst {
			dst[i] += src[i]
		}
	}
}

func (op *embeddingGradOp) backOutput(data []float32) bool {
	return op.out.back(data, op.shape)
}
