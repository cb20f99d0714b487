package ops

import (
	"fmt"
	"hash"
	"hash/fnv"
	"unsafe"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/distill-ml/distill/num/parallel"
)

// base carries the methods every op implements identically. Ops are stateful
// (they own buffers), so each instance hashes uniquely by its address: two
// distinct op instances must never be merged by Gorgonia's node deduplication.
type base struct {
	name string
	self any // the op itself, for a unique hash
}

func (b *base) ReturnsPtr() bool     { return false }
func (b *base) CallsExtern() bool    { return false }
func (b *base) OverwritesInput() int { return -1 }
func (b *base) String() string       { return b.name }
func (b *base) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "distill.%s@%p", b.name, b.self)
}
func (b *base) Hashcode() uint32 {
	h := fnv.New32a()
	b.WriteHash(h)
	return h.Sum32()
}

// forChunks runs method(recv, lo, hi) over [0, n) in chunks of grain on the
// shared pool. *bound holds the call bound to recv from the first use on, so
// a step allocates nothing (a method value would be a new closure per call).
func forChunks[T any](bound *func(lo, hi int), recv T, method func(T, int, int), n, grain int) {
	if *bound == nil {
		*bound = func(lo, hi int) { method(recv, lo, hi) }
	}
	parallel.Default().For(n, grain, *bound)
}

// tt is the Gorgonia type of a float32 tensor of the given rank (0 = scalar).
func tt(dims int) hm.Type {
	if dims == 0 {
		return G.Float32
	}
	return G.TensorType{Dims: dims, Of: G.Float32}
}

// fnType builds the op type from input ranks and the output rank.
func fnType(out int, in ...int) hm.Type {
	ts := make([]hm.Type, 0, len(in)+1)
	for _, d := range in {
		ts = append(ts, tt(d))
	}
	ts = append(ts, tt(out))
	return hm.NewFnType(ts...)
}

// f32 returns the backing slice of a float32 tensor value.
func f32(v G.Value) ([]float32, error) {
	switch x := v.(type) {
	case *tensor.Dense:
		// Float32s views the backing array; Data() would box a new slice
		// header into an interface (one heap object per call).
		if x.Dtype() != tensor.Float32 {
			return nil, fmt.Errorf("want float32 tensor, got %v", x.Dtype())
		}
		return x.Float32s(), nil
	case *G.F32:
		return (*[1]float32)(unsafe.Pointer(x))[:], nil
	}
	return nil, fmt.Errorf("want float32 tensor, got %T", v)
}

// f32s sets *dst[i] to the backing slice of the float32 tensor value in[i].
func f32s(in []G.Value, dst ...*[]float32) error {
	for i, d := range dst {
		v, err := f32(in[i])
		if err != nil {
			return err
		}
		*d = v
	}
	return nil
}

// scalar reads a float32 scalar value (the upstream gradient of a loss).
func scalar(v G.Value) (float32, error) {
	switch x := v.(type) {
	case *G.F32:
		return float32(*x), nil
	case *tensor.Dense:
		if x.Size() == 1 && x.Dtype() == tensor.Float32 {
			return x.Float32s()[0], nil
		}
	}
	return 0, fmt.Errorf("want float32 scalar, got %T %v", v, v.Shape())
}

// buf is an op-owned output tensor reused across runs.
type buf struct{ t *tensor.Dense }

// get returns the tensor of the given shape, allocating it on first use
// (shape does not escape, so a steady-state call allocates nothing).
func (b *buf) get(shape ...int) (*tensor.Dense, []float32) {
	if b.t == nil || !shapeIs(b.t.Shape(), shape) {
		n := 1
		for _, s := range shape {
			n *= s
		}
		b.t = tensor.New(tensor.WithShape(append([]int(nil), shape...)...), tensor.WithBacking(make([]float32, n)))
	}
	return b.t, b.t.Float32s()
}

// shapeIs reports whether s has exactly the given dimensions.
func shapeIs(s tensor.Shape, dims []int) bool {
	if len(s) != len(dims) {
		return false
	}
	for i, d := range dims {
		if s[i] != d {
			return false
		}
	}
	return true
}

// checkShape verifies an input shape at run time.
func checkShape(op, what string, v G.Value, shape ...int) error {
	if !shapeIs(v.Shape(), shape) {
		return fmt.Errorf("%s: %s has shape %v, want %v", op, what, v.Shape(), append([]int(nil), shape...))
	}
	return nil
}

func shapeOf(ds G.DimSizer) (tensor.Shape, error) {
	s, ok := ds.(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("input shape is %T, not a tensor.Shape", ds)
	}
	return s, nil
}

// shapeOfFirst is the InferShape of an op whose output has its first
// input's shape.
func shapeOfFirst(in []G.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(in[0])
	return s.Clone(), err
}

// fetchOp exposes gradient number idx of a bundle op. Its single input is the
// bundle's node, so it runs after the bundle has computed all gradients.
type fetchOp struct {
	base
	src   *bundle
	idx   int
	shape tensor.Shape
}

// bundle holds the extra gradients a multi-gradient backward op computes.
type bundle struct{ outs []buf }

func newFetch(name string, src *bundle, idx int, shape tensor.Shape) *fetchOp {
	op := &fetchOp{src: src, idx: idx, shape: shape.Clone()}
	op.base = base{name: name, self: op}
	return op
}

func (op *fetchOp) Arity() int { return 1 }
func (op *fetchOp) Type() hm.Type {
	return hm.NewFnType(hm.TypeVariable('a'), tt(len(op.shape)))
}
func (op *fetchOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape.Clone(), nil }
func (op *fetchOp) Do(...G.Value) (G.Value, error) {
	t := op.src.outs[op.idx].t
	if t == nil {
		return nil, fmt.Errorf("%s: bundle has not run", op.name)
	}
	return t, nil
}

func (op *fetchOp) backOutput(data []float32) bool {
	return op.src.outs[op.idx].back(data, op.shape)
}

// fetch applies a fetch op to the bundle node.
func fetch(name string, src *bundle, idx int, shape tensor.Shape, bundleNode *G.Node) (*G.Node, error) {
	return G.ApplyOp(newFetch(name, src, idx, shape), bundleNode)
}

// backer is implemented by ops whose value may live in a caller's slice.
type backer interface {
	backOutput(data []float32) bool
}

// tensorBacker is implemented by the weight-gradient ops whose value may be
// pointed at a caller's tensor before each run (RebindOutput).
type tensorBacker interface {
	backTensor(t *tensor.Dense) bool
}

// back points b at data (when the sizes agree) so the op writes its value
// there instead of in a buffer of its own.
func (b *buf) back(data []float32, shape tensor.Shape) bool {
	if shape.TotalSize() != len(data) {
		return false
	}
	b.t = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
	return true
}

// backTensor points b at t when t is a float32 tensor of exactly shape.
func (b *buf) backTensor(t *tensor.Dense, shape tensor.Shape) bool {
	if t == nil || t.Dtype() != tensor.Float32 || !shapeIs(t.Shape(), shape) {
		return false
	}
	b.t = t
	return true
}

// RebindOutput makes op (a weight-gradient op: LinearGradW, RMSNormGradW,
// BiasAddGrad) write its next value into t, a float32 tensor of the op's
// output shape, and reports whether it could. Unlike BackOutput it
// allocates nothing, so a caller whose op serves several nodes (one per
// block; see the package doc) rebinds it before running each node.
func RebindOutput(op G.Op, t *tensor.Dense) bool {
	b, ok := op.(tensorBacker)
	return ok && b.backTensor(t)
}

// BackOutput makes node n's op write its value into data (len = n's size)
// and reports whether it could: gradient ops of weights that overwrite their
// whole output each run (LinearGradW, RMSNormGradW, EmbeddingGrad, the LM
// head's dW) support it, so a weight used once gets its gradient straight in
// the caller's buffer with no copy. Only safe for values Gorgonia keeps live
// to the end of the program, which it does for the gradients gorgonia.Grad
// returns for input nodes.
func BackOutput(n *G.Node, data []float32) bool {
	b, ok := n.Op().(backer)
	if !ok || n.Shape().TotalSize() != len(data) {
		return false
	}
	return b.backOutput(data)
}
