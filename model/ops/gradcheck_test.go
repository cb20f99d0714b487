package ops

import (
	"math"
	"math/rand"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/data/batch/batchtest"
	"github.com/distill-ml/distill/loss"
)

// input is a graph input with its live backing data.
type input struct {
	node *G.Node
	data []float32
}

func newInput(g *G.ExprGraph, rng *rand.Rand, name string, scale float64, shape ...int) input {
	n := 1
	for _, s := range shape {
		n *= s
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(rng.NormFloat64() * scale)
	}
	v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
	return input{node: G.NewTensor(g, G.Float32, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(v)), data: data}
}

// gradCheck compares Gorgonia's symbolic gradients of cost = Σ y⊙R (or y
// itself when y is a scalar) with central finite differences, the cost being
// accumulated in float64 from the op's float32 output.
func gradCheck(t *testing.T, g *G.ExprGraph, rng *rand.Rand, y *G.Node, ins ...input) {
	t.Helper()
	cost := y
	var r []float32
	if y.Shape().Dims() > 0 {
		r = make([]float32, y.Shape().TotalSize())
		for i := range r {
			r[i] = float32(rng.NormFloat64())
		}
		rn := G.NewTensor(g, G.Float32, y.Shape().Dims(), G.WithShape(y.Shape()...), G.WithName("R"),
			G.WithValue(tensor.New(tensor.WithShape(y.Shape()...), tensor.WithBacking(r))))
		cost = G.Must(G.Sum(G.Must(G.HadamardProd(y, rn))))
	}
	wrt := make(G.Nodes, len(ins))
	for i, in := range ins {
		wrt[i] = in.node
	}
	grads, err := G.Grad(cost, wrt...)
	if err != nil {
		t.Fatalf("grad: %v", err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	run := func() float64 {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatalf("run: %v", err)
		}
		out, err := f32(y.Value())
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			return float64(out[0])
		}
		var s float64
		for i, v := range out {
			s += float64(v) * float64(r[i])
		}
		return s
	}
	run()
	analytic := make([][]float32, len(ins))
	for i := range ins {
		d, err := f32(grads[i].Value())
		if err != nil {
			t.Fatalf("grad %d: %v", i, err)
		}
		analytic[i] = append([]float32(nil), d...)
	}
	for i, in := range ins {
		idx := rng.Perm(len(in.data))
		if len(idx) > 40 {
			idx = idx[:40]
		}
		for _, j := range idx {
			old := in.data[j]
			h := float32(1e-2) * float32(math.Max(1, math.Abs(float64(old))))
			in.data[j] = old + h
			fp := run()
			in.data[j] = old - h
			fm := run()
			in.data[j] = old
			hh := float64((old + h) - (old - h))
			fd := (fp - fm) / hh
			a := float64(analytic[i][j])
			if math.Abs(a-fd) > 2e-3+2e-2*math.Max(math.Abs(a), math.Abs(fd)) {
				t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g", in.node.Name(), j, a, fd)
			}
		}
	}
	run() // leave the unperturbed values in the graph
}

// gradCheckBinary gradient-checks op(a, b) on random inputs a and b of the
// given shapes, drawn from seed.
func gradCheckBinary(t *testing.T, seed int64, op func(a, b *G.Node) (*G.Node, error), aName string, aShape []int, bName string, bShape []int) {
	t.Helper()
	g, rng := G.NewGraph(), rand.New(rand.NewSource(seed))
	a := newInput(g, rng, aName, 1, aShape...)
	b := newInput(g, rng, bName, 1, bShape...)
	y, err := op(a.node, b.node)
	if err != nil {
		t.Fatal(err)
	}
	gradCheck(t, g, rng, y, a, b)
}

func TestLinearGrad(t *testing.T) {
	gradCheckBinary(t, 1, Linear, "x", []int{5, 7}, "W", []int{4, 7})
}

func TestAddGrad(t *testing.T) {
	gradCheckBinary(t, 2, Add, "a", []int{3, 4}, "b", []int{3, 4})
}

func TestRMSNormGrad(t *testing.T) {
	rmsNorm := func(x, w *G.Node) (*G.Node, error) { return RMSNorm(x, w, 1e-5) }
	gradCheckBinary(t, 3, rmsNorm, "x", []int{6, 8}, "w", []int{8})
}

func TestRoPEGradAndPairing(t *testing.T) {
	g, rng := G.NewGraph(), rand.New(rand.NewSource(4))
	const T, heads, hd = 3, 2, 4
	x := newInput(g, rng, "x", 1, 2*T, heads*hd+6) // 6 pass-through columns (a V part)
	y, err := RoPE(x.node, T, heads, hd, 10000)
	if err != nil {
		t.Fatal(err)
	}
	gradCheck(t, g, rng, y, x)
	// Pairing: row 5 is position 2 of batch row 1; head 1, pair i=1 is
	// elements (2, 3) of that head, angle 2·10000^(−2/4) = 0.02.
	out, _ := f32(y.Value())
	W := heads*hd + 6
	for n := 0; n < 2*T; n++ {
		for j := heads * hd; j < W; j++ {
			if out[n*W+j] != x.data[n*W+j] {
				t.Fatalf("pass-through column %d of row %d changed", j, n)
			}
		}
	}
	x0, x1 := float64(x.data[5*W+hd+2]), float64(x.data[5*W+hd+3])
	th := 2 * math.Pow(10000, -0.5)
	want0, want1 := x0*math.Cos(th)-x1*math.Sin(th), x0*math.Sin(th)+x1*math.Cos(th)
	if math.Abs(float64(out[5*W+hd+2])-want0) > 1e-5 || math.Abs(float64(out[5*W+hd+3])-want1) > 1e-5 {
		t.Fatalf("rope pair: got (%g, %g), want (%g, %g)", out[5*W+hd+2], out[5*W+hd+3], want0, want1)
	}
}

func TestSwiGLUGrad(t *testing.T) {
	g, rng := G.NewGraph(), rand.New(rand.NewSource(5))
	gu := newInput(g, rng, "gate_up", 1.5, 4, 2*6)
	y, err := SwiGLU(gu.node)
	if err != nil {
		t.Fatal(err)
	}
	gradCheck(t, g, rng, y, gu)
	out, _ := f32(y.Value())
	for n := 0; n < 4; n++ {
		for i := 0; i < 6; i++ {
			a, b := float64(gu.data[n*12+i]), float64(gu.data[n*12+6+i])
			want := a / (1 + math.Exp(-a)) * b
			if math.Abs(float64(out[n*6+i])-want) > 1e-5 {
				t.Fatalf("swiglu[%d,%d] = %g, want %g", n, i, out[n*6+i], want)
			}
		}
	}
}

func TestEmbeddingGrad(t *testing.T) {
	g, rng := G.NewGraph(), rand.New(rand.NewSource(6))
	w := newInput(g, rng, "W", 1, 7, 3)
	feed := &Feed{Batch: &batch.Batch{B: 1, T: 6, Tokens: []int32{3, 1, 3, 6, 0, 3}}}
	y, err := Embedding(w.node, feed, 6)
	if err != nil {
		t.Fatal(err)
	}
	gradCheck(t, g, rng, y, w)
}

func TestEmbeddingRejectsBadID(t *testing.T) {
	g, rng := G.NewGraph(), rand.New(rand.NewSource(6))
	w := newInput(g, rng, "W", 1, 7, 3)
	feed := &Feed{Batch: &batch.Batch{B: 1, T: 2, Tokens: []int32{3, 7}}}
	if _, err := Embedding(w.node, feed, 2); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err == nil {
		t.Fatal("token id 7 in vocab 7 accepted")
	}
}

func TestAttentionGrad(t *testing.T) {
	for _, c := range []struct {
		B, T, H, KV, hd int
		recompute       bool
		starts          [][]int // documents of each window (nil: one per window)
		pad             []int   // first padding position of each window
	}{{2, 5, 4, 2, 4, false, nil, nil}, {1, 37, 2, 1, 4, false, nil, nil}, {1, 3, 3, 3, 2, false, nil, nil}, {2, 37, 4, 2, 4, true, nil, nil},
		// Two rows packed in one window (the second across the query block
		// boundary at 32), padding after them; the other window holds one
		// row, then a second starting in the second query block (left part
		// of that block skipped).
		{2, 37, 4, 2, 4, false, [][]int{{0, 20}, {0, 33}}, []int{35, 37}},
		{2, 37, 4, 2, 4, true, [][]int{{0, 20}, {0, 33}}, []int{35, 37}},
		{1, 70, 2, 1, 4, false, [][]int{{0, 9, 40, 41}}, []int{66}},
		{1, 70, 2, 1, 4, true, [][]int{{0, 9, 40, 41}}, []int{66}},
	} {
		g, rng := G.NewGraph(), rand.New(rand.NewSource(7))
		N := c.B * c.T
		W := (c.H + 2*c.KV) * c.hd
		qkv := newInput(g, rng, "qkv", 1, N, W)
		var feed *Feed
		rowStart := make([]int32, N) // one document per window
		if c.starts != nil {
			rowStart = batchtest.RowStarts(c.T, c.starts, c.pad)
			feed = &Feed{Batch: &batch.Batch{B: c.B, T: c.T, RowStart: rowStart}}
		}
		y, err := Attention(qkv.node, feed, c.B, c.T, c.H, c.KV, c.hd)
		if err != nil {
			t.Fatal(err)
		}
		if c.recompute {
			y.Op().(*attentionOp).storeLimit = 0 // backward recomputes P from lse
		}
		gradCheck(t, g, rng, y, qkv)
		// Against a naive causal GQA reference in float64.
		out, _ := f32(y.Value())
		Wq := c.H * c.hd
		at := func(n, col int) float64 { return float64(qkv.data[n*W+col]) }
		for b := 0; b < c.B; b++ {
			for h := 0; h < c.H; h++ {
				gk := h / (c.H / c.KV)
				kc, vc := (c.H+gk)*c.hd, (c.H+c.KV+gk)*c.hd
				for ti := 0; ti < c.T; ti++ {
					// Keys [s0, ti]: the query's document up to itself.
					s0 := int(rowStart[b*c.T+ti])
					sc := make([]float64, ti+1-s0)
					mx := math.Inf(-1)
					for s := s0; s <= ti; s++ {
						var dot float64
						for i := 0; i < c.hd; i++ {
							dot += at(b*c.T+ti, h*c.hd+i) * at(b*c.T+s, kc+i)
						}
						sc[s-s0] = dot / math.Sqrt(float64(c.hd))
						mx = math.Max(mx, sc[s-s0])
					}
					var sum float64
					for s := range sc {
						sc[s] = math.Exp(sc[s] - mx)
						sum += sc[s]
					}
					for i := 0; i < c.hd; i++ {
						var o float64
						for s := range sc {
							o += sc[s] / sum * at(b*c.T+s0+s, vc+i)
						}
						if got := float64(out[(b*c.T+ti)*Wq+h*c.hd+i]); math.Abs(got-o) > 1e-5 {
							t.Fatalf("%+v: out[b%d h%d t%d i%d] = %g, naive %g", c, b, h, ti, i, got, o)
						}
					}
				}
			}
		}
	}
}

// lossBatch builds a batch with a loss mask, sparse teacher (one row without
// a teacher) and hidden states.
func lossBatch(rng *rand.Rand, B, T, V, K, Dt int) *batch.Batch {
	N := B * T
	b := &batch.Batch{B: B, T: T, K: K, Tokens: make([]int32, N), Targets: make([]int32, N), LossMask: make([]float32, N),
		TopKIDs: make([]int32, N*K), TopKLogprobs: make([]float32, N*K), TailMass: make([]float32, N), TeacherValid: make([]float32, N)}
	for p := 0; p < N; p++ {
		b.Tokens[p] = int32(rng.Intn(V))
		b.Targets[p] = int32(rng.Intn(V))
		if p%T != 0 {
			b.LossMask[p] = 1
		}
		if p%5 != 3 {
			b.TeacherValid[p] = 1
		}
		batchtest.RandomTopK(rng, b, p, V, 0.3, 0.4)
	}
	if Dt > 0 {
		b.HiddenLayers = []int{4}
		b.HiddenDim = Dt
		h := make([]float32, N*Dt)
		for i := range h {
			h[i] = float32(rng.NormFloat64())
		}
		b.Hidden = [][]float32{h}
	}
	return b
}

func TestLMLossGrad(t *testing.T) {
	for _, c := range []struct {
		kind   string
		T      float64
		alpha  float64
		budget int
	}{{"forward", 1, 0.5, DefaultLogitBudget}, {"forward", 2, 0.7, 4 * 11 * 3}, {"reverse", 1.5, 0.6, DefaultLogitBudget}, {"jsd", 2, 0.4, 4 * 11 * 2}, {"forward", 1, 0, DefaultLogitBudget}} {
		g, rng := G.NewGraph(), rand.New(rand.NewSource(8))
		const B, T, V, K, d = 2, 4, 11, 3, 5
		h := newInput(g, rng, "h", 1, B*T, d)
		w := newInput(g, rng, "W", 1, V, d)
		feed := &Feed{Batch: lossBatch(rng, B, T, V, K, 0)}
		batchtest.TemperTail(feed.Batch, V, c.T)
		cfg := loss.Config{Alpha: c.alpha, Temperature: c.T, KL: c.kind, JSDBeta: 0.3}
		y, op, err := NewLMLoss(h.node, w.node, cfg, feed, true)
		if err != nil {
			t.Fatal(err)
		}
		op.SetLogitBudget(c.budget)
		gradCheck(t, g, rng, y, h, w)
		tm := op.Terms()
		if tm.Tokens != 6 || tm.CE <= 0 || (c.alpha > 0 && tm.KL <= 0) {
			t.Fatalf("%+v: terms %+v", c, tm)
		}
	}
}

// TestLMLossNeedsTemperedTailAtTNot1: with α > 0 and T ≠ 1 a sparse-teacher
// batch without its tail tempered at T is an error, not a biased KL; with
// α = 0 the KL is not measured (no KL tokens) and CE is unaffected.
func TestLMLossNeedsTemperedTailAtTNot1(t *testing.T) {
	const B, T, V, K, d = 2, 4, 11, 3, 5
	for _, c := range []struct {
		alpha, temp float64
		tempered    float64 // temperature of the batch's tempered tail, 0 = none
		wantErr     string
	}{
		{0.5, 2, 0, "needs the teacher's tail tempered at 2"},
		{0.5, 2, 4, "tempered at 4"},
		{0, 2, 0, ""},
		{0.5, 1, 0, ""},
		{0.5, 2, 2, ""},
	} {
		g, rng := G.NewGraph(), rand.New(rand.NewSource(8))
		h := newInput(g, rng, "h", 1, B*T, d)
		w := newInput(g, rng, "W", 1, V, d)
		feed := &Feed{Batch: lossBatch(rng, B, T, V, K, 0)}
		if c.tempered > 0 {
			batchtest.TemperTail(feed.Batch, V, c.tempered)
		}
		_, op, err := NewLMLoss(h.node, w.node, loss.Config{Alpha: c.alpha, Temperature: c.temp, KL: "forward"}, feed, false)
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		err = vm.RunAll()
		vm.Close()
		switch {
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Fatalf("%+v: error %v, want %q", c, err, c.wantErr)
		case c.wantErr == "" && err != nil:
			t.Fatalf("%+v: %v", c, err)
		case c.wantErr == "":
			tm := op.Terms()
			wantKL := c.temp == 1 || c.tempered == c.temp
			if math.IsNaN(tm.Total) || math.IsNaN(tm.KL) || (tm.KLTokens > 0) != wantKL || tm.CE <= 0 {
				t.Fatalf("%+v: terms %+v", c, tm)
			}
		}
	}
}

func TestHiddenMSEGrad(t *testing.T) {
	g, rng := G.NewGraph(), rand.New(rand.NewSource(9))
	const B, T, Dt = 2, 3, 4
	y := newInput(g, rng, "y", 1, B*T, Dt)
	feed := &Feed{Batch: lossBatch(rng, B, T, 5, 2, Dt)}
	out, op, err := NewHiddenMSE(y.node, feed, 4, 0.7)
	if err != nil {
		t.Fatal(err)
	}
	gradCheck(t, g, rng, out, y)
	// Independent value: masked rows are p%T != 0.
	var s float64
	var n int
	for p := 0; p < B*T; p++ {
		if p%T == 0 {
			continue
		}
		n++
		for j := 0; j < Dt; j++ {
			e := float64(y.data[p*Dt+j]) - float64(feed.Batch.Hidden[0][p*Dt+j])
			s += e * e
		}
	}
	if want := s / float64(n*Dt); math.Abs(op.MSE()-want) > 1e-6*want {
		t.Fatalf("mse %g, want %g", op.MSE(), want)
	}
}
