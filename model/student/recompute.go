package student

import (
	"fmt"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/distill-ml/distill/model/ops"
)

// Activation recomputation per block (gradient checkpointing).
//
// Without it every applied block has op instances of its own, so the graph
// holds every block's internal activations and their gradients at once
// (about 2·(4d + 2q + 4kv + 3ffn) floats per token and block). With it:
//
//   - Blocks 1… apply block 0's op instances to their own inputs (cloneBlock),
//     so all blocks share one set of internal buffers; only each block's
//     output (its own residual Add) stays alive, as the next block's input.
//     SymDiff of a shared op hands every node one shared gradient op
//     (model/ops' package doc), so the gradients' buffers are shared too.
//   - The executor runs the same nodes in another order (planRecompute): the
//     whole forward, the head and loss's backward, then for each block from
//     the last: its forward again (from its kept input), then its backward.
//     Every node computes the same floats from the same inputs, so gradients
//     are bit-identical to the plain order's (TestRecomputeGradientsIdentical).
//   - Weight-gradient nodes of shared ops are pointed at their parameter's
//     gradient before each run (ops.RebindOutput), so nothing allocates.
//   - The executor's gradient sums ("+") share buffers by liveness
//     (shareSums), so the gradient flowing between blocks takes two buffers,
//     not two per block.
//
// Memory held: one block's internals and gradients, plus per block its
// output [N, d] (TrainingMemory models it); time: one more forward of every
// block per step (about 1.2× the CPU time of a SmolLM2-135M step at batch
// 8 × 128, docs/BENCHMARKS.md), which is why it is off by default.

// SetRecompute turns activation recomputation per block on or off for
// training and evaluation graphs built from now on (compiled graphs are
// dropped). It changes memory and time, never a value.
func (m *Model) SetRecompute(on bool) {
	if m.recompute == on {
		return
	}
	m.recompute = on
	clear(m.graphs)
	m.order = m.order[:0]
}

// Recompute reports whether activation recomputation per block is on.
func (m *Model) Recompute() bool { return m.recompute }

// blockPlan records which forward nodes are block internals, for the
// executor's recompute order.
type blockPlan struct {
	layers   int
	internal map[*G.Node]int // node of applied layer l (all but its output) → l
	forward  map[*G.Node]bool
}

// blockNodes returns the nodes added to g since the first start nodes.
func blockNodes(g *G.ExprGraph, start int) []*G.Node {
	return append([]*G.Node(nil), g.AllNodes()[start:]...)
}

// cloneBlock applies the ops of block 0's nodes (tmpl, in creation order,
// its output last; in its input) to x and the weights of another block
// (weight maps a block-0 weight's name suffix, e.g. "attn_norm.weight", to
// this block's node). The output gets an Add of its own: it is kept for the
// next block and for the recomputation. It returns the new nodes, output
// last.
func cloneBlock(tmpl []*G.Node, in, x *G.Node, weight func(string) *G.Node) ([]*G.Node, error) {
	mapped := make(map[*G.Node]*G.Node, len(tmpl)+1)
	mapped[in] = x
	out := make([]*G.Node, 0, len(tmpl))
	for i, n := range tmpl {
		var args G.Nodes
		for it := n.Graph().From(n.ID()); it.Next(); {
			c := it.Node().(*G.Node)
			if v, ok := mapped[c]; ok {
				args = append(args, v)
				continue
			}
			suffix, ok := strings.CutPrefix(c.Name(), "blk.0.")
			if c.Op() != nil || !ok || weight(suffix) == nil {
				return nil, fmt.Errorf("clone block: %s reads %s, neither block 0's input, one of its nodes nor one of its weights", n.Name(), c.Name())
			}
			args = append(args, weight(suffix))
		}
		var y *G.Node
		var err error
		if i == len(tmpl)-1 {
			if len(args) != 2 {
				return nil, fmt.Errorf("clone block: output %s has %d inputs, want the residual Add's 2", n.Name(), len(args))
			}
			y, err = ops.Add(args[0], args[1])
		} else {
			y, err = G.ApplyOp(n.Op(), args...)
		}
		if err != nil {
			return nil, fmt.Errorf("clone block: %s: %w", n.Op(), err)
		}
		mapped[n] = y
		out = append(out, y)
	}
	return out, nil
}

// planRecompute replaces the executor's order by the recompute order (see
// above): the forward steps; then for each segment from the head's (level
// = layers) down to block 0's, the block's internal forward steps again
// (not for the head) and the backward steps of that level. A backward
// step's level is the smallest among its inputs' (a block-internal value:
// its layer; a backward value: its level; anything else: none), the head's
// when none; but a shared op's node computing the gradient of a block's
// internal value (Node.DerivOf) is that block's, so ffn_down's input
// gradient, computed from the next block's output gradient alone, runs with
// its own block. grads maps weight-gradient nodes to their parameter's gradient
// tensor. It checks the order: every value a step reads from a buffer
// several nodes share must be the last one written there.
func (e *executor) planRecompute(p *blockPlan, grads map[*G.Node]*tensor.Dense) error {
	const none = int(^uint(0) >> 1)
	producer := make([]int, len(e.slots)) // slot → step, -1 for inputs and constants
	for i := range producer {
		producer[i] = -1
	}
	users := map[G.Op]int{}
	for i, st := range e.steps {
		producer[st.out] = i
		users[st.op]++
	}
	shared := func(st *execStep) bool { return !st.add && users[st.op] > 1 }
	level := make([]int, len(e.steps))
	segment := make([][]int, p.layers+1) // backward steps by level
	var fwd []int
	recompute := make([][]int, p.layers)
	for i, st := range e.steps {
		if p.forward[st.node] {
			fwd = append(fwd, i)
			level[i] = none
			if l, ok := p.internal[st.node]; ok {
				level[i] = l
				recompute[l] = append(recompute[l], i)
			}
			continue
		}
		lv := none
		for _, s := range st.in {
			if j := producer[s]; j >= 0 {
				lv = min(lv, level[j])
			}
		}
		if shared(st) { // the gradient of a block's internal value is that block's
			for _, d := range st.node.DerivOf() {
				if l, ok := p.internal[d]; ok {
					lv = l
				}
			}
		}
		if lv == none {
			lv = p.layers
		}
		level[i] = lv
		segment[lv] = append(segment[lv], i)
	}
	prog := append([]int(nil), fwd...)
	for l := p.layers; l >= 0; l-- {
		if l < p.layers {
			prog = append(prog, recompute[l]...)
		}
		prog = append(prog, segment[l]...)
	}
	// Where each step runs last decides who may read its shared buffer.
	segOf := func(i int) int { // the segment a backward step runs in; forward: -1
		if p.forward[e.steps[i].node] {
			return -1
		}
		return level[i]
	}
	// Weight gradients and shared values read in another segment get a
	// buffer of their own; then every node of that op must be rebound.
	rebound := map[G.Op]bool{}
	for i, st := range e.steps {
		if !shared(st) {
			continue
		}
		if t, ok := grads[st.node]; ok {
			st.rebind = t
			rebound[st.op] = true
			continue
		}
		if p.forward[st.node] {
			continue
		}
		for j, u := range e.steps {
			read := false
			for _, s := range u.in {
				read = read || producer[s] == i
			}
			if read && segOf(j) != segOf(i) {
				st.rebind = newDense(st.node.Shape())
				rebound[st.op] = true
				break
			}
		}
	}
	scratch := map[G.Op]*tensor.Dense{}
	for _, st := range e.steps {
		if !rebound[st.op] {
			continue
		}
		if st.rebind == nil {
			if scratch[st.op] == nil {
				scratch[st.op] = newDense(st.node.Shape())
			}
			st.rebind = scratch[st.op]
		}
		if !ops.RebindOutput(st.op, st.rebind) {
			return fmt.Errorf("recompute: %s serves several blocks and its value is needed outside its block, but its output cannot be rebound", st.name)
		}
	}
	// Check: a step reading a shared, not rebound buffer reads the last
	// value written there.
	last := map[G.Op]int{}
	for _, i := range prog {
		st := e.steps[i]
		for _, s := range st.in {
			j := producer[s]
			if j < 0 || !shared(e.steps[j]) || e.steps[j].rebind != nil {
				continue
			}
			if last[e.steps[j].op] != j {
				return fmt.Errorf("recompute: %s (level %d) reads %s (level %d) after its buffer was overwritten", st.name, level[i], e.steps[j].name, level[j])
			}
		}
		if shared(st) {
			last[st.op] = i
		}
	}
	e.program = prog
	e.shareSums(producer, grads)
	return nil
}

// shareSums gives the executor's gradient sums ("+" of tensors) buffers by
// liveness in the program: a sum's buffer is reused by a later sum of the
// same shape once every reader of the first has run (weight gradients,
// read after the run, keep theirs). So the two sums each block adds (its
// input's and its middle residual's gradients) take a few buffers in all,
// not two per block.
func (e *executor) shareSums(producer []int, grads map[*G.Node]*tensor.Dense) {
	lastUse := make(map[int]int) // step → last program position reading it
	for k, i := range e.program {
		for _, s := range e.steps[i].in {
			if j := producer[s]; j >= 0 {
				lastUse[j] = k
			}
		}
	}
	type held struct {
		t    *tensor.Dense
		free int // program position after which it may be reused
	}
	pool := map[string][]*held{}
	for k, i := range e.program {
		st := e.steps[i]
		if _, ok := grads[st.node]; ok || !st.add || st.sum != nil || st.node.Shape().Dims() == 0 {
			continue
		}
		key := fmt.Sprint(st.node.Shape())
		end, read := lastUse[i]
		if !read {
			end = len(e.program) // read by nobody in the run: by the caller after it
		}
		var h *held
		for _, c := range pool[key] {
			if c.free < k {
				h = c
				break
			}
		}
		if h == nil {
			h = &held{t: newDense(st.node.Shape())}
			pool[key] = append(pool[key], h)
		}
		h.free = end
		st.sum = h.t
	}
}

func newDense(s tensor.Shape) *tensor.Dense {
	return tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(make([]float32, s.TotalSize())))
}
