package ops

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/data/batch/batchtest"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/num/parallel"
)

// opStep is one op's Do with its argument values, fixed after a first run
// (every op reuses its output buffers, so the values stay the same objects).
type opStep struct {
	name string
	op   G.Op
	args []G.Value
}

// opSteps builds y's forward and backward (through the op's own SymDiff, not
// Gorgonia's Grad or a machine) and returns them as Do calls in execution
// order, after running them once.
func opSteps(t *testing.T, g *G.ExprGraph, rng *rand.Rand, y *G.Node, ins ...*G.Node) []opStep {
	t.Helper()
	var dy *G.Node
	if y.Shape().Dims() == 0 {
		dy = G.NewScalar(g, G.Float32, G.WithName("dy"), G.WithValue(G.NewF32(0.75)))
	} else {
		v := make([]float32, y.Shape().TotalSize())
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		dy = G.NewTensor(g, G.Float32, y.Shape().Dims(), G.WithShape(y.Shape()...), G.WithName("dy"),
			G.WithValue(tensor.New(tensor.WithShape(y.Shape()...), tensor.WithBacking(v))))
	}
	grads, err := y.Op().(G.SDOp).SymDiff(ins, y, dy)
	if err != nil {
		t.Fatalf("symdiff %s: %v", y.Op(), err)
	}
	vals := map[*G.Node]G.Value{dy: dy.Value()}
	for _, n := range ins {
		vals[n] = n.Value()
	}
	var steps []opStep
	var eval func(n *G.Node)
	eval = func(n *G.Node) {
		if _, ok := vals[n]; ok {
			return
		}
		children := g.From(n.ID()) // the op's inputs, in order
		args := make([]G.Value, 0, children.Len())
		for children.Next() {
			c := children.Node().(*G.Node)
			eval(c)
			args = append(args, vals[c])
		}
		v, err := n.Op().Do(args...)
		if err != nil {
			t.Fatalf("%s: %v", n.Op(), err)
		}
		vals[n] = v
		steps = append(steps, opStep{name: n.Op().String(), op: n.Op(), args: args})
	}
	eval(y)
	for _, n := range grads {
		eval(n)
	}
	return steps
}

// poolAllocates reports whether a fanned-out parallel.For on the default
// pool allocates (the pool's own cost, outside this package).
func poolAllocates() bool {
	p := parallel.Default()
	if p.Threads() < 2 {
		return false
	}
	fn := func(lo, hi int) {}
	return testing.AllocsPerRun(20, func() { p.For(64, 1, fn) }) > 0
}

// TestOpsAllocFree: once warmed up, every op's forward and backward kernel
// (called directly, outside Gorgonia's machinery) allocates nothing: outputs,
// scratch and the worker functions handed to the pool are owned by the op and
// reused. Allocation counts are deterministic (this is not a timing). When the
// shared pool's For itself allocates, the test re-runs in a child process with
// GOMAXPROCS=1 (a one-thread pool runs chunks inline), where the ops' own
// allocations must still be exactly zero; the parent logs the per-op counts.
func TestOpsAllocFree(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	strict := true
	if os.Getenv("DISTILL_OPS_ALLOC_CHILD") == "" && poolAllocates() {
		strict = false
		cmd := exec.Command(os.Args[0], "-test.run=^TestOpsAllocFree$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "DISTILL_OPS_ALLOC_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("one-thread child: %v\n%s", err, out)
		}
		t.Logf("the shared pool's For allocates; ops checked for 0 allocations in a one-thread child (passed)")
	}
	rng := rand.New(rand.NewSource(11))
	check := func(name string, steps []opStep) {
		t.Helper()
		for _, s := range steps {
			s := s
			got := testing.AllocsPerRun(5, func() {
				if _, err := s.op.Do(s.args...); err != nil {
					t.Fatalf("%s %s: %v", name, s.name, err)
				}
			})
			switch {
			case got != 0 && strict:
				t.Errorf("%s: %s allocates %.1f objects per call in steady state", name, s.name, got)
			case got != 0:
				t.Logf("%s: %s: %.1f allocations per call on the %d-thread pool (the pool's own)", name, s.name, got, parallel.Default().Threads())
			}
		}
	}
	const N, d = 128, 64
	{
		g := G.NewGraph()
		x, w := newInput(g, rng, "x", 1, N, d), newInput(g, rng, "W", 1, 96, d)
		y, err := Linear(x.node, w.node)
		if err != nil {
			t.Fatal(err)
		}
		check("linear", opSteps(t, g, rng, y, x.node, w.node))
	}
	{
		g := G.NewGraph()
		a, b := newInput(g, rng, "a", 1, 256, 128), newInput(g, rng, "b", 1, 256, 128)
		y, err := Add(a.node, b.node)
		if err != nil {
			t.Fatal(err)
		}
		check("add", opSteps(t, g, rng, y, a.node, b.node))
	}
	{
		g := G.NewGraph()
		x, w := newInput(g, rng, "x", 1, N, d), newInput(g, rng, "w", 1, d)
		y, err := RMSNorm(x.node, w.node, 1e-5)
		if err != nil {
			t.Fatal(err)
		}
		check("rmsnorm", opSteps(t, g, rng, y, x.node, w.node))
	}
	{
		g := G.NewGraph()
		x := newInput(g, rng, "qkv", 1, N, 6*16)
		y, err := RoPE(x.node, 32, 4, 16, 10000)
		if err != nil {
			t.Fatal(err)
		}
		check("rope", opSteps(t, g, rng, y, x.node))
	}
	{
		g := G.NewGraph()
		gu := newInput(g, rng, "gate_up", 1, N, 2*40)
		y, err := SwiGLU(gu.node)
		if err != nil {
			t.Fatal(err)
		}
		check("swiglu", opSteps(t, g, rng, y, gu.node))
	}
	{
		g := G.NewGraph()
		w := newInput(g, rng, "W", 1, 50, d)
		feed := &Feed{Batch: lossBatch(rng, 4, 32, 50, 2, 0)}
		y, err := Embedding(w.node, feed, N)
		if err != nil {
			t.Fatal(err)
		}
		check("embedding", opSteps(t, g, rng, y, w.node))
	}
	for _, c := range []struct{ recompute, packed bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		g := G.NewGraph()
		const B, T, H, KV, hd = 2, 40, 4, 2, 8
		qkv := newInput(g, rng, "qkv", 1, B*T, (H+2*KV)*hd)
		var feed *Feed
		if c.packed { // document masks: two rows then padding; three rows
			feed = &Feed{Batch: &batch.Batch{B: B, T: T, RowStart: batchtest.RowStarts(T, [][]int{{0, 17}, {0, 5, 33}}, []int{36, T})}}
		}
		y, err := Attention(qkv.node, feed, B, T, H, KV, hd)
		if err != nil {
			t.Fatal(err)
		}
		if c.recompute {
			y.Op().(*attentionOp).storeLimit = 0
		}
		check(fmt.Sprintf("attention recompute=%v packed=%v", c.recompute, c.packed), opSteps(t, g, rng, y, qkv.node))
	}
	for _, c := range []struct {
		name   string
		cfg    loss.Config
		K      int
		budget int
		dense  bool
	}{
		{"lmloss ce", loss.Config{Temperature: 1}, 0, DefaultLogitBudget, false},
		{"lmloss kd", loss.Config{Alpha: 0.5, Temperature: 2, KL: "forward"}, 4, DefaultLogitBudget, false},
		{"lmloss kd chunked", loss.Config{Alpha: 0.5, Temperature: 2, KL: "jsd", JSDBeta: 0.3}, 4, 4 * 97 * 10, false},
		{"lmloss dense teacher", loss.Config{Alpha: 0.5, Temperature: 1, KL: "reverse"}, 4, DefaultLogitBudget, true},
	} {
		g := G.NewGraph()
		const B, T, V = 4, 32, 97
		h, w := newInput(g, rng, "h", 1, B*T, d), newInput(g, rng, "W", 1, V, d)
		feed := &Feed{Batch: lossBatch(rng, B, T, V, max(c.K, 1), 0)}
		batchtest.TemperTail(feed.Batch, V, c.cfg.Temperature)
		if c.K == 0 {
			feed.Batch.K = 0
		}
		if c.dense {
			feed.DenseTeacher = make([]float32, B*T*V)
			for i := range feed.DenseTeacher {
				feed.DenseTeacher[i] = float32(rng.NormFloat64())
			}
		}
		y, op, err := NewLMLoss(h.node, w.node, c.cfg, feed, true)
		if err != nil {
			t.Fatal(err)
		}
		op.SetLogitBudget(c.budget)
		check(c.name, opSteps(t, g, rng, y, h.node, w.node))
	}
	{
		g := G.NewGraph()
		const Dt = 24
		y := newInput(g, rng, "y", 1, N, Dt)
		feed := &Feed{Batch: lossBatch(rng, 4, 32, 5, 2, Dt)}
		out, _, err := NewHiddenMSE(y.node, feed, 4, 0.7)
		if err != nil {
			t.Fatal(err)
		}
		check("hidden mse", opSteps(t, g, rng, out, y.node))
	}
}
