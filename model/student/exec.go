package student

import (
	"fmt"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/distill-ml/distill/model/ops"
	"github.com/distill-ml/distill/num/parallel"
)

// executor runs a compiled student graph in place of Gorgonia's TapeMachine.
// Gorgonia still builds the graph and differentiates it (gorgonia.Grad); the
// executor only calls each node's Do in the TapeMachine's own order (the
// reverse of gorgonia.Sort), with argument slices built once and every value
// kept in a slot. A step therefore allocates nothing: the TapeMachine builds
// an input slice per instruction, boxes its debug-log arguments even with
// logging off, and starts a goroutine per run (~3-4 heap objects per
// instruction, ~1,200 per tiny step).
//
// The graph holds the fused ops of model/ops (each owns its output buffers),
// weight inputs, and two Gorgonia ops: the constant seeding the gradient and
// "+" (gradient accumulation for values used twice, and CE+MSE). "+" on equal
// float32 tensors or scalars is computed here into a buffer of the executor
// (element by element, the same float32 additions Gorgonia performs); any
// other Gorgonia op falls back to its own Do.
type executor struct {
	steps   []*execStep
	slots   []G.Value // value of each node, indexed like index
	index   map[*G.Node]int
	program []int // steps to run, in order (nil: every step once; see planRecompute)
}

type execStep struct {
	op     G.Op
	node   *G.Node
	name   string
	rebind *tensor.Dense // output tensor the op is pointed at before each run (ops.RebindOutput), or nil
	out    int           // slot of the result
	in     []int         // slots of the inputs, in argument order
	args   []G.Value     // argument slice reused every run

	add    bool          // Gorgonia's "+", computed by the executor
	sum    *tensor.Dense // "+" of tensors: result buffer
	a, b   []float32     // operands of the running tensor "+"
	s      []float32     // sum's data
	scalar G.F32         // "+" of scalars: result
	spanFn func(lo, hi int)
}

// newExecutor orders g's nodes as Gorgonia's compiler does and binds inputs
// and constants.
func newExecutor(g *G.ExprGraph) (*executor, error) {
	sorted, err := G.Sort(g)
	if err != nil {
		return nil, fmt.Errorf("sort graph: %w", err)
	}
	for i, j := 0, len(sorted)-1; i < j; i, j = i+1, j-1 { // inputs first
		sorted[i], sorted[j] = sorted[j], sorted[i]
	}
	e := &executor{slots: make([]G.Value, len(sorted)), index: make(map[*G.Node]int, len(sorted))}
	for i, n := range sorted {
		e.index[n] = i
	}
	for i, n := range sorted {
		op := n.Op()
		if op == nil { // input: the weight tensor bound at build
			if n.Value() == nil {
				return nil, fmt.Errorf("input %s has no value", n.Name())
			}
			e.slots[i] = n.Value()
			continue
		}
		if op.Arity() == 0 { // constant
			v, err := op.Do()
			if err != nil {
				return nil, fmt.Errorf("constant %s: %w", op, err)
			}
			e.slots[i] = v
			continue
		}
		st := &execStep{op: op, node: n, name: op.String(), out: i}
		for it := g.From(n.ID()); it.Next(); {
			c := it.Node().(*G.Node)
			j, ok := e.index[c]
			if !ok || j >= i {
				return nil, fmt.Errorf("node %s: input %s is not computed before it", op, c.Name())
			}
			st.in = append(st.in, j)
		}
		if len(st.in) != op.Arity() {
			return nil, fmt.Errorf("node %s: %d inputs, arity %d", op, len(st.in), op.Arity())
		}
		st.args = make([]G.Value, len(st.in))
		st.add = fmt.Sprintf("%T", op) == "gorgonia.elemBinOp" && strings.HasPrefix(op.String(), "+ ") && len(st.in) == 2
		st.spanFn = st.span
		e.steps = append(e.steps, st)
	}
	return e, nil
}

// run executes every node once, in order (or the program's steps).
func (e *executor) run() error {
	if e.program != nil {
		for _, i := range e.program {
			if err := e.runStep(e.steps[i]); err != nil {
				return err
			}
		}
		return nil
	}
	for _, st := range e.steps {
		if err := e.runStep(st); err != nil {
			return err
		}
	}
	return nil
}

// runStep runs one node into its slot.
func (e *executor) runStep(st *execStep) error {
	for j, s := range st.in {
		st.args[j] = e.slots[s]
	}
	if st.rebind != nil {
		ops.RebindOutput(st.op, st.rebind) // checked by planRecompute
	}
	var v G.Value
	var err error
	if st.add {
		v, err = st.doAdd()
	} else {
		v, err = st.op.Do(st.args...)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", st.name, err)
	}
	e.slots[st.out] = v
	return nil
}

// value is node n's value after the last run (nil if n is not in the graph
// or has not run).
func (e *executor) value(n *G.Node) G.Value {
	i, ok := e.index[n]
	if !ok {
		return nil
	}
	return e.slots[i]
}

// backOutput makes the "+" node n write its sum into data (len = n's size),
// as ops.BackOutput does for the fused ops' gradients; it reports whether it
// could. Only for values nothing reads after writing them into data (the
// gradients of weights).
func (e *executor) backOutput(n *G.Node, data []float32) bool {
	i, ok := e.index[n]
	if !ok {
		return false
	}
	for _, st := range e.steps {
		if st.out == i && st.add && n.Shape().TotalSize() == len(data) && n.Shape().Dims() > 0 {
			st.sum = tensor.New(tensor.WithShape(n.Shape().Clone()...), tensor.WithBacking(data))
			return true
		}
	}
	return false
}

// doAdd computes Gorgonia's "+" of the step's two arguments.
func (st *execStep) doAdd() (G.Value, error) {
	switch a := st.args[0].(type) {
	case *tensor.Dense:
		b, ok := st.args[1].(*tensor.Dense)
		if ok && a.Dtype() == tensor.Float32 && b.Dtype() == tensor.Float32 && a.Shape().Eq(b.Shape()) {
			if st.sum == nil || !st.sum.Shape().Eq(a.Shape()) {
				st.sum = tensor.New(tensor.WithShape(a.Shape().Clone()...), tensor.WithBacking(make([]float32, a.Shape().TotalSize())))
			}
			st.a, st.b, st.s = a.Float32s(), b.Float32s(), st.sum.Float32s()
			parallel.Default().For(len(st.s), 1<<14, st.spanFn)
			st.a, st.b, st.s = nil, nil, nil
			return st.sum, nil
		}
	case *G.F32:
		if b, ok := st.args[1].(*G.F32); ok {
			st.scalar = *a + *b
			return &st.scalar, nil
		}
	}
	return st.op.Do(st.args...) // a shape this executor does not handle
}

// span sums elements [lo, hi) of the running tensor "+".
func (st *execStep) span(lo, hi int) {
	a, b, s := st.a[lo:hi], st.b[lo:hi], st.s[lo:hi]
	for i := range s {
		s[i] = a[i] + b[i]
	}
}
