package student

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/ops"
	"github.com/distill-ml/distill/num/kernels/gonumblas"
	"github.com/distill-ml/distill/num/parallel"
	"github.com/distill-ml/distill/optim"
)

// HiddenProjName is the name of the learned projection of hidden_map pair i
// (only present when the teacher width differs from d_model). It is a
// training-only parameter: export skips names with the "distill." prefix.
func HiddenProjName(i int) string { return fmt.Sprintf("distill.hidden_proj.%d.weight", i) }

// maxGraphs bounds the per-shape graph cache of each mode.
const maxGraphs = 4

// Model is the student with its weights and one compiled Gorgonia graph and
// executor per (mode, B, T), reused across steps.
type Model struct {
	cfg     Config
	lc      loss.Config
	params  []optim.Param  // Data is the live buffer the graphs read; ForwardBackward overwrites Grad
	byName  map[string]int // index into params
	weights []*weight      // graph inputs; each backs one or more Params
	graphs  map[graphKey]*graph
	order   []graphKey // insertion order, for eviction
	// objective replaces lc in the LM-head loss during one
	// ForwardBackwardObjective call (nil otherwise).
	objective *loss.Config

	ropeFreqs []float64 // [headDim/2] RoPE frequency of each pair (Config.RopeInvFreqs)
	recompute bool      // activation recomputation per block (SetRecompute)
}

// weight is one graph input tensor. Q, K and V of a block are one weight
// [(nHeads+2·nKVHeads)·headDim, d] and gate/up one weight [2·ffn, d], so each
// is a single GEMM; their Params' Data and Grad are row ranges of the fused
// buffers. Every other weight backs exactly one Param.
type weight struct {
	name       string
	shape      []int
	data, grad []float32
}

type graphKey struct {
	mode int
	B, T int
}

const (
	modeTrain = iota
	modeEval
	modeLogits
)

// useKernelsBLAS installs num/kernels behind every Gorgonia matmul that
// the fused ops do not already handle (Gorgonia's BLAS is process-wide).
var useKernelsBLAS sync.Once

// New checks the objective (loss.Config.Validate) and the architecture with
// it (Check), then builds the student (Build). Callers that checked them at
// their own edge (distill/train's Prepare) call Build with their Spec.
func New(cfg Config, lc loss.Config, seed int64) (*Model, error) {
	if err := lc.Validate(); err != nil {
		return nil, err
	}
	spec, err := Check(cfg, lc)
	if err != nil {
		return nil, err
	}
	return Build(spec, seed)
}

// Build builds the student of a checked Spec with freshly initialised
// weights: N(0, 0.02) for the embedding and every linear weight,
// N(0, 0.02/√(2·AppliedLayers)) for the residual output projections
// (attn_output, ffn_down), ones for the norms and N(0, 1/√d_model) for
// hidden-state projections. The same seed gives the same weights. It checks
// nothing again; a Spec that Check did not make is refused.
func Build(spec Spec, seed int64) (*Model, error) {
	if !spec.checked {
		return nil, errors.New("student: Build needs a Spec made by student.Check")
	}
	useKernelsBLAS.Do(func() { G.Use(gonumblas.Implementation{}) })
	cfg, lc := spec.cfg, spec.lc
	m := &Model{cfg: cfg, lc: lc, byName: map[string]int{}, graphs: map[graphKey]*graph{}, ropeFreqs: cfg.RopeInvFreqs()}
	rng := rand.New(rand.NewSource(seed))
	d, hd := cfg.DModel, cfg.HeadDim()
	std := 0.02
	resid := 0.02 / math.Sqrt(2*float64(cfg.AppliedLayers()))
	type part struct {
		name  string
		rows  int
		decay bool
		init  float64 // std of N(0, std); < 0 means ones
	}
	// fused allocates one weight of rows × cols values (cols 0: a vector of
	// rows) whose consecutive row ranges become the given Params.
	fused := func(wname string, cols int, parts ...part) {
		per := max(cols, 1)
		rows := 0
		for _, pt := range parts {
			rows += pt.rows
		}
		shapeOf := func(r int) []int {
			if cols == 0 {
				return []int{r}
			}
			return []int{r, cols}
		}
		w := &weight{name: wname, shape: shapeOf(rows), data: make([]float32, rows*per), grad: make([]float32, rows*per)}
		off := 0
		for _, pt := range parts {
			n := pt.rows * per
			p := optim.Param{Name: pt.name, Shape: shapeOf(pt.rows), Data: w.data[off : off+n : off+n], Grad: w.grad[off : off+n : off+n], Decay: pt.decay}
			for i := range p.Data {
				if pt.init < 0 {
					p.Data[i] = 1
				} else {
					p.Data[i] = float32(rng.NormFloat64() * pt.init)
				}
			}
			m.byName[pt.name] = len(m.params)
			m.params = append(m.params, p)
			off += n
		}
		m.weights = append(m.weights, w)
	}
	add := func(name string, decay bool, init float64, shape ...int) {
		if len(shape) == 1 {
			fused(name, 0, part{name, shape[0], decay, init})
			return
		}
		fused(name, shape[1], part{name, shape[0], decay, init})
	}
	const ones = -1
	add("token_embd.weight", false, std, cfg.VocabSize, d)
	for l := 0; l < cfg.NLayers; l++ {
		b := fmt.Sprintf("blk.%d.", l)
		add(b+"attn_norm.weight", false, ones, d)
		fused(b+"attn_qkv.weight", d,
			part{b + "attn_q.weight", cfg.NHeads * hd, true, std},
			part{b + "attn_k.weight", cfg.NKVHeads * hd, true, std},
			part{b + "attn_v.weight", cfg.NKVHeads * hd, true, std})
		if cfg.QKVBias() {
			fused(b+"attn_qkv.bias", 0,
				part{b + "attn_q.bias", cfg.NHeads * hd, false, 0},
				part{b + "attn_k.bias", cfg.NKVHeads * hd, false, 0},
				part{b + "attn_v.bias", cfg.NKVHeads * hd, false, 0})
		}
		if cfg.QKNorm() {
			add(b+"attn_q_norm.weight", false, ones, hd)
			add(b+"attn_k_norm.weight", false, ones, hd)
		}
		add(b+"attn_output.weight", true, resid, d, cfg.NHeads*hd)
		add(b+"ffn_norm.weight", false, ones, d)
		fused(b+"ffn_gate_up.weight", d,
			part{b + "ffn_gate.weight", cfg.FFNDim, true, std},
			part{b + "ffn_up.weight", cfg.FFNDim, true, std})
		add(b+"ffn_down.weight", true, resid, d, cfg.FFNDim)
	}
	add("output_norm.weight", false, ones, d)
	if cfg.UntieEmbed {
		add("output.weight", true, std, cfg.VocabSize, d)
	}
	if lc.TeacherHiddenDim > 0 && lc.TeacherHiddenDim != d {
		for i := range lc.HiddenMap {
			add(HiddenProjName(i), true, 1/math.Sqrt(float64(d)), lc.TeacherHiddenDim, d)
		}
	}
	return m, nil
}

// Config is the student architecture.
func (m *Model) Config() Config { return m.cfg }

// LossConfig is the distillation objective the model was built with.
func (m *Model) LossConfig() loss.Config { return m.lc }

// Params lists every stored parameter in a fixed order (GGUF names). Data and
// Grad are the model's live buffers: the optimizer updates Data in place and
// ForwardBackward overwrites Grad.
func (m *Model) Params() []optim.Param { return m.params }

// Param returns the parameter with the given name, or nil.
func (m *Model) Param(name string) *optim.Param {
	i, ok := m.byName[name]
	if !ok {
		return nil
	}
	return &m.params[i]
}

// graph is one compiled computation for a (mode, B, T).
type graph struct {
	g      *G.ExprGraph
	exec   *executor
	feed   *ops.Feed
	grads  G.Nodes // aligned with Model.weights (nil entries for unused weights)
	cost   *G.Node
	logits *G.Node
	lm     *ops.LMLoss
	mses   []*ops.HiddenMSE

	copySrc, copyDst []float32        // gradient being copied out (ForwardBackward)
	copyFn           func(lo, hi int) // gr.copyGrad, bound once
}

func (m *Model) graphFor(mode, B, T int) (*graph, error) {
	key := graphKey{mode, B, T}
	if gr, ok := m.graphs[key]; ok {
		return gr, nil
	}
	gr, err := m.build(mode, B, T)
	if err != nil {
		return nil, fmt.Errorf("build student graph B=%d T=%d: %w", B, T, err)
	}
	// Evict the oldest graph of this mode beyond the cache bound.
	n := 0
	for _, k := range m.order {
		if k.mode == mode {
			n++
		}
	}
	if n >= maxGraphs {
		for i, k := range m.order {
			if k.mode == mode {
				delete(m.graphs, k)
				m.order = append(m.order[:i], m.order[i+1:]...)
				break
			}
		}
	}
	m.graphs[key] = gr
	m.order = append(m.order, key)
	return gr, nil
}

// build constructs the graph for one mode and batch shape.
func (m *Model) build(mode, B, T int) (*graph, error) {
	c := m.cfg
	N := B * T
	g := G.NewGraph()
	gr := &graph{g: g, feed: &ops.Feed{}}
	gr.copyFn = gr.copyGrad
	nodes := make([]*G.Node, len(m.weights))
	node := map[string]*G.Node{}
	for i, w := range m.weights {
		v := tensor.New(tensor.WithShape(w.shape...), tensor.WithBacking(w.data))
		nodes[i] = G.NewTensor(g, G.Float32, len(w.shape), G.WithShape(w.shape...), G.WithName(w.name), G.WithValue(v))
		node[w.name] = nodes[i]
	}
	// x: [N, d] residual stream; hiddens[s] is x after s applied blocks.
	x, err := ops.Embedding(node["token_embd.weight"], gr.feed, N)
	if err != nil {
		return nil, err
	}
	hiddens := []*G.Node{x}
	var plan *blockPlan // recompute: block internals by applied layer
	var tmpl []*G.Node  // recompute: block 0's nodes, its output last
	if m.recompute {
		plan = &blockPlan{layers: c.AppliedLayers(), internal: map[*G.Node]int{}, forward: map[*G.Node]bool{}}
	}
	for l := 0; l < c.AppliedLayers(); l++ {
		blk := l
		if c.ShareBlocks {
			blk = l / 2
		}
		w := func(s string) *G.Node { return node[fmt.Sprintf("blk.%d.%s", blk, s)] }
		start := len(g.AllNodes())
		var made []*G.Node
		switch {
		case plan == nil:
			x, err = m.block(x, w, gr.feed, B, T)
		case l == 0:
			if x, err = m.block(x, w, gr.feed, B, T); err == nil {
				tmpl = blockNodes(g, start)
				made = tmpl
			}
		default:
			if made, err = cloneBlock(tmpl, hiddens[0], x, w); err == nil {
				x = made[len(made)-1]
			}
		}
		if err != nil {
			return nil, fmt.Errorf("applied layer %d (block %d): %w", l, blk, err)
		}
		if plan != nil {
			if len(made) == 0 || made[len(made)-1] != x {
				return nil, fmt.Errorf("applied layer %d: block output is not its last node", l)
			}
			for _, n := range made[:len(made)-1] {
				plan.internal[n] = l
			}
		}
		hiddens = append(hiddens, x)
	}
	hf, err := ops.RMSNorm(x, node["output_norm.weight"], c.NormEps) // [N, d]
	if err != nil {
		return nil, err
	}
	head := node["token_embd.weight"]
	if c.UntieEmbed {
		head = node["output.weight"]
	}
	if mode == modeLogits {
		gr.logits, err = ops.Linear(hf, head) // [N, V]
		if err != nil {
			return nil, err
		}
		if gr.exec, err = newExecutor(g); err != nil {
			return nil, err
		}
		return gr, nil
	}
	cost, lm, err := ops.NewLMLoss(hf, head, m.lc, gr.feed, mode == modeTrain)
	if err != nil {
		return nil, err
	}
	gr.lm = lm
	// The MSE term exists only with γ > 0, so a kept hidden_map with γ = 0
	// needs no teacher hidden states.
	for i, pair := range m.lc.HiddenMap {
		if m.lc.Gamma == 0 {
			break
		}
		y := hiddens[pair.Student] // [N, d]
		if p := node[HiddenProjName(i)]; p != nil {
			if y, err = ops.Linear(y, p); err != nil { // [N, teacher width]
				return nil, err
			}
		}
		mn, mop, err := ops.NewHiddenMSE(y, gr.feed, pair.Teacher, m.lc.HiddenPairWeight())
		if err != nil {
			return nil, err
		}
		gr.mses = append(gr.mses, mop)
		if cost, err = G.Add(cost, mn); err != nil {
			return nil, err
		}
	}
	gr.cost = cost
	if plan != nil {
		for _, n := range g.AllNodes() {
			plan.forward[n] = true
		}
	}
	if mode == modeTrain {
		// Differentiate w.r.t. every weight the cost depends on.
		var wrt G.Nodes
		var idx []int
		for i, n := range nodes {
			if strings.HasPrefix(m.weights[i].name, "distill.") && m.lc.Gamma == 0 { // projections unused without MSE
				continue
			}
			wrt = append(wrt, n)
			idx = append(idx, i)
		}
		gs, err := G.Grad(cost, wrt...)
		if err != nil {
			return nil, fmt.Errorf("differentiate: %w", err)
		}
		gr.grads = make(G.Nodes, len(nodes))
		for j, i := range idx {
			gr.grads[i] = gs[j]
		}
	}
	if gr.exec, err = newExecutor(g); err != nil {
		return nil, err
	}
	for i, n := range gr.grads {
		// Every weight gets its gradient written straight into its gradient
		// buffer (no buffer of its own, no copy after the run): a weight used
		// once by the op computing it, a shared or tied one by the
		// executor's accumulating "+".
		if n != nil && !ops.BackOutput(n, m.weights[i].grad) {
			gr.exec.backOutput(n, m.weights[i].grad)
		}
	}
	if plan != nil && mode == modeTrain { // evaluation reads each block's buffers within the block: plain order
		targets := map[*G.Node]*tensor.Dense{}
		for i, n := range gr.grads {
			if n != nil {
				w := m.weights[i]
				targets[n] = tensor.New(tensor.WithShape(w.shape...), tensor.WithBacking(w.grad))
			}
		}
		if err := gr.exec.planRecompute(plan, targets); err != nil {
			return nil, err
		}
	}
	return gr, nil
}

// block applies one transformer block to the residual stream x [N, d]:
// x + Attention(RoPE(RMSNorm(x)·Wqkvᵀ))·Woᵀ, then + SwiGLU(RMSNorm(x)·Wgate_upᵀ)·Wdownᵀ.
//
// qwen2 adds the Q/K/V biases after the projection; qwen3 RMS-normalises
// every Q and K head (q_norm, k_norm) before RoPE.
func (m *Model) block(x *G.Node, w func(string) *G.Node, feed *ops.Feed, B, T int) (*G.Node, error) {
	c := m.cfg
	hd := c.HeadDim()
	h, err := ops.RMSNorm(x, w("attn_norm.weight"), c.NormEps) // [N, d]
	if err != nil {
		return nil, err
	}
	qkv, err := ops.Linear(h, w("attn_qkv.weight")) // [N, (H+2·KV)·hd]
	if err != nil {
		return nil, err
	}
	if c.QKVBias() {
		if qkv, err = ops.BiasAdd(qkv, w("attn_qkv.bias")); err != nil {
			return nil, err
		}
	}
	if c.QKNorm() {
		if qkv, err = ops.HeadRMSNorm(qkv, w("attn_q_norm.weight"), 0, c.NHeads, hd, c.NormEps); err != nil {
			return nil, err
		}
		if qkv, err = ops.HeadRMSNorm(qkv, w("attn_k_norm.weight"), c.NHeads, c.NKVHeads, hd, c.NormEps); err != nil {
			return nil, err
		}
	}
	if qkv, err = ops.RoPEFreqs(qkv, T, c.NHeads+c.NKVHeads, hd, m.ropeFreqs); err != nil { // q and k heads
		return nil, err
	}
	a, err := ops.Attention(qkv, feed, B, T, c.NHeads, c.NKVHeads, hd) // [N, H·hd]
	if err != nil {
		return nil, err
	}
	o, err := ops.Linear(a, w("attn_output.weight")) // [N, d]
	if err != nil {
		return nil, err
	}
	if x, err = ops.Add(x, o); err != nil {
		return nil, err
	}
	if h, err = ops.RMSNorm(x, w("ffn_norm.weight"), c.NormEps); err != nil {
		return nil, err
	}
	gu, err := ops.Linear(h, w("ffn_gate_up.weight")) // [N, 2·ffn]
	if err != nil {
		return nil, err
	}
	f, err := ops.SwiGLU(gu) // [N, ffn]
	if err != nil {
		return nil, err
	}
	down, err := ops.Linear(f, w("ffn_down.weight")) // [N, d]
	if err != nil {
		return nil, err
	}
	return ops.Add(x, down)
}

func (m *Model) run(mode int, b *batch.Batch, dense []float32) (*graph, error) {
	if b == nil {
		return nil, errors.New("nil batch")
	}
	if err := b.Validate(m.cfg.VocabSize); err != nil {
		return nil, err
	}
	if m.lc.Gamma > 0 && mode != modeLogits {
		for i, pair := range m.lc.HiddenMap {
			found := false
			for _, l := range b.HiddenLayers {
				found = found || l == pair.Teacher
			}
			if !found {
				return nil, fmt.Errorf("batch: loss hidden_map[%d] needs teacher layer %d, batch has hidden states for %v", i, pair.Teacher, b.HiddenLayers)
			}
		}
		if b.HiddenDim != m.lc.TeacherHiddenDim {
			return nil, fmt.Errorf("batch: teacher hidden width %d, loss teacher_hidden_dim %d", b.HiddenDim, m.lc.TeacherHiddenDim)
		}
	}
	if dense != nil {
		if n := b.B * b.T * m.cfg.VocabSize; len(dense) != n {
			return nil, fmt.Errorf("dense teacher logits: %d values, want B*T*V = %d", len(dense), n)
		}
		if len(b.TeacherValid) != b.B*b.T {
			return nil, fmt.Errorf("dense teacher logits need TeacherValid [%d]", b.B*b.T)
		}
	}
	if b.T > m.cfg.ContextLength {
		return nil, fmt.Errorf("batch: sequence length %d exceeds context length %d", b.T, m.cfg.ContextLength)
	}
	gr, err := m.graphFor(mode, b.B, b.T)
	if err != nil {
		return nil, err
	}
	gr.feed.Batch, gr.feed.DenseTeacher, gr.feed.Objective = b, dense, m.objective
	defer func() { gr.feed.Batch, gr.feed.DenseTeacher, gr.feed.Objective = nil, nil, nil }()
	if err := gr.exec.run(); err != nil {
		return nil, fmt.Errorf("student step B=%d T=%d: %w", b.B, b.T, err)
	}
	return gr, nil
}

func (m *Model) terms(gr *graph) loss.Terms {
	t := gr.lm.Terms()
	if len(gr.mses) > 0 {
		var s float64
		for _, op := range gr.mses {
			s += op.MSE()
		}
		t.MSE = s / float64(len(gr.mses))
	}
	t.Total = m.lc.Total(t)
	return t
}

// ForwardBackward runs one training step's forward and backward pass on b and
// overwrites every Param.Grad with ∂Total/∂param. A NaN or Inf loss is
// reported through the returned terms, not as an error.
func (m *Model) ForwardBackward(b *batch.Batch) (loss.Terms, error) {
	return m.ForwardBackwardDense(b, nil)
}

// ForwardBackwardDense is ForwardBackward with dense teacher logits
// teacherLogits [B*T*V] (temperature 1) replacing the sparse top-k in the KL
// term on rows with TeacherValid ≠ 0. nil means the sparse teacher.
func (m *Model) ForwardBackwardDense(b *batch.Batch, teacherLogits []float32) (loss.Terms, error) {
	gr, err := m.run(modeTrain, b, teacherLogits)
	if err != nil {
		return loss.Terms{}, err
	}
	for i, w := range m.weights {
		n := gr.grads[i]
		if n == nil {
			clear(w.grad)
			continue
		}
		v, ok := gr.exec.value(n).(*tensor.Dense)
		if !ok || v == nil || v.Dtype() != tensor.Float32 {
			return loss.Terms{}, fmt.Errorf("gradient of %s was not computed as a float32 tensor (got %T)", w.name, gr.exec.value(n))
		}
		d := v.Float32s() // a view; Data() would box a slice header per call
		if len(d) != len(w.grad) {
			return loss.Terms{}, fmt.Errorf("gradient of %s has %d values, want %d", w.name, len(d), len(w.grad))
		}
		if &d[0] != &w.grad[0] {
			gr.copySrc, gr.copyDst = d, w.grad
			parallel.Default().For(len(d), 1<<16, gr.copyFn)
			gr.copySrc, gr.copyDst = nil, nil
		}
	}
	return m.terms(gr), nil
}

// copyGrad copies elements [lo, hi) of copySrc to copyDst.
func (gr *graph) copyGrad(lo, hi int) { copy(gr.copyDst[lo:hi], gr.copySrc[lo:hi]) }

// Evaluate computes the loss terms and metrics on b without gradients.
func (m *Model) Evaluate(b *batch.Batch) (loss.Terms, loss.Metrics, error) {
	gr, err := m.run(modeEval, b, nil)
	if err != nil {
		return loss.Terms{}, loss.Metrics{}, err
	}
	t := m.terms(gr)
	mt := gr.lm.Metrics()
	mt.Perplexity = math.Exp(t.CE)
	return t, mt, nil
}

// Logits returns the student's logits [B*T*V] for token rows tokens [B*T],
// each of the B rows one document (plain causal attention).
func (m *Model) Logits(tokens []int32, B, T int) ([]float32, error) {
	if B <= 0 || T <= 0 || len(tokens) != B*T {
		return nil, fmt.Errorf("logits: %d tokens for B=%d T=%d", len(tokens), B, T)
	}
	return m.batchLogits(&batch.Batch{B: B, T: T, Tokens: tokens, Targets: make([]int32, B*T), LossMask: make([]float32, B*T)})
}

// batchLogits returns the student's logits [B*T*V] for b's tokens under its
// document mask (b.RowStart).
func (m *Model) batchLogits(b *batch.Batch) ([]float32, error) {
	gr, err := m.run(modeLogits, b, nil)
	if err != nil {
		return nil, err
	}
	d, ok := gr.exec.value(gr.logits).Data().([]float32)
	if !ok {
		return nil, errors.New("logits: not float32")
	}
	return append([]float32(nil), d...), nil
}
