package student

import (
	"encoding/binary"
	"math"
	"math/rand"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/data/batch/batchtest"
	"github.com/distill-ml/distill/loss"
)

func smallConfig() Config {
	return Config{VocabSize: 53, DModel: 16, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 24,
		ContextLength: 16, RopeBase: 10000, NormEps: 1e-5}
}

// randomBatch builds a batch with prompt/padding masked out, a sparse teacher
// on most rows and teacher hidden states for the given layers.
func randomBatch(rng *rand.Rand, B, T, V, K, Dt int, layers []int) *batch.Batch {
	N := B * T
	b := &batch.Batch{B: B, T: T, K: K, Tokens: make([]int32, N), Targets: make([]int32, N), LossMask: make([]float32, N)}
	for p := 0; p < N; p++ {
		b.Tokens[p] = int32(rng.Intn(V))
		b.Targets[p] = int32(rng.Intn(V))
		if t := p % T; t >= 2 && !(p/T == 1 && t == T-1) { // prompt and a padded tail masked
			b.LossMask[p] = 1
		}
	}
	if K > 0 {
		b.TopKIDs, b.TopKLogprobs = make([]int32, N*K), make([]float32, N*K)
		b.TailMass, b.TeacherValid = make([]float32, N), make([]float32, N)
		for p := 0; p < N; p++ {
			if p%7 != 4 {
				b.TeacherValid[p] = 1
			}
			batchtest.RandomTopK(rng, b, p, V, 0.25, 0.5)
		}
	}
	for _, l := range layers {
		h := make([]float32, N*Dt)
		for i := range h {
			h[i] = float32(rng.NormFloat64())
		}
		b.HiddenLayers = append(b.HiddenLayers, l)
		b.Hidden = append(b.Hidden, h)
		b.HiddenDim = Dt
	}
	return b
}

// scramble replaces the small initial weights by larger random ones so that
// attention patterns, RoPE pairing and norms all matter numerically.
func scramble(m *Model, rng *rand.Rand) {
	for _, p := range m.Params() {
		for i := range p.Data {
			if len(p.Shape) == 1 {
				p.Data[i] = float32(1 + 0.2*rng.NormFloat64())
			} else {
				p.Data[i] = float32(0.35 * rng.NormFloat64())
			}
		}
	}
}

func TestNewIsDeterministicAndInitScaled(t *testing.T) {
	cfg := smallConfig()
	cfg.ShareBlocks = true
	a, err := New(cfg, loss.Config{Temperature: 1}, 42)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(cfg, loss.Config{Temperature: 1}, 42)
	c, _ := New(cfg, loss.Config{Temperature: 1}, 43)
	same, differ := true, false
	for i, p := range a.Params() {
		for j := range p.Data {
			same = same && p.Data[j] == b.Params()[i].Data[j]
			differ = differ || p.Data[j] != c.Params()[i].Data[j]
		}
	}
	if !same || !differ {
		t.Fatalf("seeded init: same seed equal %v, other seed differs %v", same, differ)
	}
	var n int64
	for _, p := range a.Params() {
		n += int64(len(p.Data))
	}
	if n != cfg.ParamCount() {
		t.Fatalf("%d parameters, Config.ParamCount says %d", n, cfg.ParamCount())
	}
	std := func(x []float32) float64 {
		var s float64
		for _, v := range x {
			s += float64(v) * float64(v)
		}
		return math.Sqrt(s / float64(len(x)))
	}
	if s := std(a.Param("token_embd.weight").Data); math.Abs(s-0.02) > 0.003 {
		t.Fatalf("embedding std %g, want 0.02", s)
	}
	want := 0.02 / math.Sqrt(2*4) // 4 applied layers with sharing
	if s := std(a.Param("blk.0.ffn_down.weight").Data); math.Abs(s-want) > 0.15*want {
		t.Fatalf("ffn_down std %g, want %g", s, want)
	}
	if a.Param("blk.1.attn_norm.weight").Data[3] != 1 || a.Param("blk.0.attn_norm.weight").Decay || !a.Param("blk.0.attn_q.weight").Decay {
		t.Fatal("norm init/decay flags wrong")
	}
}

// A Model is built only from a Spec that Check made: the zero Spec is an
// error, not a panic on its zero architecture.
func TestBuildRefusesUncheckedSpec(t *testing.T) {
	if _, err := Build(Spec{}, 1); err == nil || !strings.Contains(err.Error(), "Check") {
		t.Fatalf("unchecked spec: %v", err)
	}
	spec, err := Check(smallConfig(), loss.Config{Temperature: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := Build(spec, 1); err != nil || m.Config() != smallConfig() {
		t.Fatalf("checked spec: %v", err)
	}
}

func TestNewRejectsBadConfigs(t *testing.T) {
	cfg := smallConfig()
	if _, err := New(cfg, loss.Config{Temperature: 1, HiddenMap: []loss.LayerPair{{Student: 3, Teacher: 1}}, TeacherHiddenDim: 8}, 1); err == nil {
		t.Fatal("student layer beyond depth accepted")
	}
	cfg.NKVHeads = 3
	if _, err := New(cfg, loss.Config{Temperature: 1}, 1); err == nil {
		t.Fatal("bad GQA config accepted")
	}
	m, _ := New(smallConfig(), loss.Config{Temperature: 1}, 1)
	b := randomBatch(rand.New(rand.NewSource(1)), 1, 4, 53, 0, 0, nil)
	b.Tokens[2] = 53
	if _, err := m.ForwardBackward(b); err == nil {
		t.Fatal("token outside vocab accepted")
	}
}

// TestModelGradientFiniteDifference checks the composed model's gradients
// (sharing, tied head, GQA, KL, MSE with projection) by central differences
// on sampled weights.
func TestModelGradientFiniteDifference(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	cfg := smallConfig()
	cfg.ShareBlocks = true
	lc := loss.Config{Alpha: 0.6, Gamma: 0.5, Temperature: 2, KL: "jsd", JSDBeta: 0.4,
		HiddenMap: []loss.LayerPair{{Student: 3, Teacher: 7}}, TeacherHiddenDim: 10}
	m, err := New(cfg, lc, 3)
	if err != nil {
		t.Fatal(err)
	}
	scramble(m, rng)
	b := randomBatch(rng, 2, 5, cfg.VocabSize, 4, 10, []int{7})
	batchtest.TemperTail(b, cfg.VocabSize, lc.Temperature)
	if _, err := m.ForwardBackward(b); err != nil {
		t.Fatal(err)
	}
	total := func() float64 {
		tm, _, err := m.Evaluate(b)
		if err != nil {
			t.Fatal(err)
		}
		return tm.Total
	}
	for _, p := range m.Params() {
		grad := append([]float32(nil), p.Grad...)
		for _, i := range rng.Perm(len(p.Data))[:3] {
			old := p.Data[i]
			const h = 5e-3
			p.Data[i] = old + h
			fp := total()
			p.Data[i] = old - h
			fm := total()
			p.Data[i] = old
			fd := (fp - fm) / float64((old+h)-(old-h))
			if d := math.Abs(fd - float64(grad[i])); d > 2e-3+3e-2*math.Abs(fd) {
				t.Errorf("%s[%d]: analytic %g, finite difference %g", p.Name, i, grad[i], fd)
			}
		}
	}
}

func TestMemoryFlatAcrossSteps(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	cfg := smallConfig()
	m, _ := New(cfg, loss.Config{Alpha: 0.5, Temperature: 1}, 1)
	b := randomBatch(rng, 2, 8, cfg.VocabSize, 3, 0, nil)
	heap := func() uint64 {
		runtime.GC()
		var s runtime.MemStats
		runtime.ReadMemStats(&s)
		return s.HeapAlloc
	}
	var before uint64
	for step := 0; step < 60; step++ {
		if step == 10 {
			before = heap()
		}
		if _, err := m.ForwardBackward(b); err != nil {
			t.Fatal(err)
		}
	}
	if after := heap(); after > before+2<<20 {
		t.Fatalf("heap grew from %d to %d bytes over 50 steps", before, after)
	}
}

func TestNaNLossIsReported(t *testing.T) {
	m, _ := New(smallConfig(), loss.Config{Temperature: 1}, 1)
	m.Param("blk.0.attn_q.weight").Data[0] = float32(math.NaN())
	tm, err := m.ForwardBackward(randomBatch(rand.New(rand.NewSource(1)), 1, 6, 53, 0, 0, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(tm.Total) {
		t.Fatalf("total %g with a NaN weight", tm.Total)
	}
}

func writeRaw(t *testing.T, path string, data any) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := binary.Write(f, binary.LittleEndian, data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readRaw(t *testing.T, path string, n int) []float32 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 4*n {
		t.Fatalf("%s: %d bytes, want %d", path, len(raw), 4*n)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

// TestStepsAreBitReproducible: the same seed and batches give bit-identical
// losses and gradients (parallel reductions use fixed partitions and orders),
// which checkpoint resume relies on; Evaluate agrees with the training pass.
func TestStepsAreBitReproducible(t *testing.T) {
	cfg := smallConfig()
	cfg.ShareBlocks = true
	lc := loss.Config{Alpha: 0.5, Temperature: 2, KL: "forward"}
	run := func() ([]loss.Terms, [][]float32) {
		m, err := New(cfg, lc, 11)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewSource(4))
		var terms []loss.Terms
		var grads [][]float32
		for step := 0; step < 3; step++ {
			b := randomBatch(rng, 2, 9, cfg.VocabSize, 4, 0, nil)
			batchtest.TemperTail(b, cfg.VocabSize, lc.Temperature)
			var tm, ev loss.Terms
			tm, ev, grads = sgdStep(t, m, b, 0.1, grads)
			if math.Abs(ev.Total-tm.Total) > 1e-6*math.Abs(tm.Total) || ev.Tokens != tm.Tokens {
				t.Fatalf("evaluate %+v, train %+v", ev, tm)
			}
			terms = append(terms, tm)
		}
		return terms, grads
	}
	t1, g1 := run()
	t2, g2 := run()
	for i := range t1 {
		if t1[i] != t2[i] {
			t.Fatalf("step %d: terms %+v then %+v", i, t1[i], t2[i])
		}
	}
	requireSameBits(t, "two runs", g1, g2)
}

// sgdStep runs a training pass and an evaluation of m on b, appends a copy
// of every gradient to grads, then moves every weight by -lr·gradient (a
// crude SGD step, so that later steps see new weights).
func sgdStep(t *testing.T, m *Model, b *batch.Batch, lr float32, grads [][]float32) (train, eval loss.Terms, _ [][]float32) {
	t.Helper()
	train, err := m.ForwardBackward(b)
	if err != nil {
		t.Fatal(err)
	}
	eval, _, err = m.Evaluate(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		grads = append(grads, append([]float32(nil), p.Grad...))
		for i := range p.Data {
			p.Data[i] -= lr * p.Grad[i]
		}
	}
	return train, eval, grads
}

// maxAbsDiff returns max |got[i] − want[i]| and the scale max |want[i]|,
// over want's length, in float64.
func maxAbsDiff(got, want []float32) (d, scale float64) {
	for i := range want {
		scale = math.Max(scale, math.Abs(float64(want[i])))
		d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
	}
	return d, scale
}

// requireSameBits fails unless gradient lists a and b are bit-identical.
func requireSameBits(t *testing.T, what string, a, b [][]float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d and %d gradients", what, len(a), len(b))
	}
	for i := range a {
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				t.Fatalf("%s: gradient %d[%d]: %g then %g", what, i, j, a[i][j], b[i][j])
			}
		}
	}
}

// TestHiddenMapWithoutGammaNeedsNoHiddenStates: γ = 0 keeps the MSE term out
// of the graph, so batches without teacher hidden states are fine.
func TestHiddenMapWithoutGammaNeedsNoHiddenStates(t *testing.T) {
	lc := loss.Config{Alpha: 0.5, Temperature: 1, HiddenMap: []loss.LayerPair{{Student: 1, Teacher: 3}}, TeacherHiddenDim: 8}
	m, err := New(smallConfig(), lc, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := randomBatch(rand.New(rand.NewSource(2)), 2, 5, 53, 3, 0, nil)
	tm, err := m.ForwardBackward(b)
	if err != nil {
		t.Fatal(err)
	}
	if tm.MSE != 0 || m.Param(HiddenProjName(0)) == nil {
		t.Fatalf("terms %+v", tm)
	}
	for _, v := range m.Param(HiddenProjName(0)).Grad {
		if v != 0 {
			t.Fatal("unused projection has a gradient")
		}
	}
	// With γ > 0 the missing hidden states are a clear error.
	lc.Gamma = 0.1
	m, _ = New(smallConfig(), lc, 1)
	if _, err := m.ForwardBackward(b); err == nil {
		t.Fatal("missing teacher hidden states accepted")
	}
}

// TestWeightGradientsWrittenInPlace: every weight has its gradient computed
// straight into Param.Grad: a weight used once by the op computing it, shared
// and tied weights by the executor's accumulating "+" (no copy either way).
func TestWeightGradientsWrittenInPlace(t *testing.T) {
	for _, share := range []bool{false, true} {
		cfg := smallConfig()
		cfg.UntieEmbed, cfg.ShareBlocks = !share, share // shared blocks with a tied head
		m, _ := New(cfg, loss.Config{Alpha: 0.5, Temperature: 1}, 1)
		if _, err := m.ForwardBackward(randomBatch(rand.New(rand.NewSource(3)), 2, 4, 53, 3, 0, nil)); err != nil {
			t.Fatal(err)
		}
		var gr *graph
		for k, g := range m.graphs {
			if k.mode == modeTrain {
				gr = g
			}
		}
		inPlace := 0
		for i, w := range m.weights {
			d := gr.exec.value(gr.grads[i]).Data().([]float32)
			if &d[0] == &w.grad[0] {
				inPlace++
			}
		}
		if want := len(m.weights); inPlace != want {
			t.Fatalf("share %v: %d of %d gradients in place", share, inPlace, len(m.weights))
		}
	}
}

// packRows makes b's windows hold several rows, as the loader's packing
// does: the documents of window w start at starts[w] (each list beginning
// with 0) and positions from pad[w] on are padding. It returns the
// batch.RowStart [B*T] and masks out what the loader masks: padding and the
// last position of each row (its successor belongs to another row).
func packRows(b *batch.Batch, starts [][]int, pad []int) []int32 {
	T := b.T
	rs := batchtest.RowStarts(T, starts, pad)
	for p := range rs {
		// The last position of a document: the next starts its own.
		if t := p % T; t == T-1 || int(rs[p+1]) == t+1 {
			b.LossMask[p] = 0
			if b.TeacherValid != nil {
				b.TeacherValid[p] = 0
			}
		}
	}
	return rs
}

// A row's logits and its contribution to the loss gradient are the same
// whether it is packed after another row in its window or alone in one
// (within float tolerance: RoPE angles and sums differ in rounding only):
// with the document mask a packed row never reads the rows before it.
func TestPackedRowMatchesRowAlone(t *testing.T) {
	cfg := smallConfig()
	lc := loss.Config{Alpha: 0.5, Gamma: 0.3, Temperature: 2, KL: "forward", HiddenMap: []loss.LayerPair{{Student: 1, Teacher: 3}}, TeacherHiddenDim: 12}
	const T, first, n, K, Dt = 16, 6, 8, 3, 12 // the row: n tokens after a first row of `first`
	rng := rand.New(rand.NewSource(21))
	m, err := New(cfg, lc, 5)
	if err != nil {
		t.Fatal(err)
	}
	scramble(m, rng)
	packed := randomBatch(rng, 1, T, cfg.VocabSize, K, Dt, []int{3})
	batchtest.TemperTail(packed, cfg.VocabSize, lc.Temperature)
	// The row alone: the same tokens, targets, teacher and hidden states
	// moved to the start of a window; the first row's loss masked out in
	// the packed window, so both batches train on the row's positions only.
	alone := randomBatch(rng, 1, T, cfg.VocabSize, K, Dt, []int{3})
	batchtest.TemperTail(alone, cfg.VocabSize, lc.Temperature)
	clear(packed.LossMask)
	clear(alone.LossMask)
	for i := 0; i < n; i++ {
		p, a := first+i, i
		alone.Tokens[a], alone.Targets[a] = packed.Tokens[p], packed.Targets[p]
		copy(alone.TopKIDs[a*K:(a+1)*K], packed.TopKIDs[p*K:(p+1)*K])
		copy(alone.TopKLogprobs[a*K:(a+1)*K], packed.TopKLogprobs[p*K:(p+1)*K])
		alone.TailMass[a], alone.TailTempered[a], alone.TeacherValid[a] = packed.TailMass[p], packed.TailTempered[p], packed.TeacherValid[p]
		copy(alone.Hidden[0][a*Dt:(a+1)*Dt], packed.Hidden[0][p*Dt:(p+1)*Dt])
		if i >= 2 && i < n-1 { // a two-token prompt; the last target belongs to no row
			packed.LossMask[p], alone.LossMask[a] = 1, 1
		}
	}
	packed.RowStart = packRows(packed, [][]int{{0, first}}, []int{first + n})
	alone.RowStart = packRows(alone, [][]int{{0}}, []int{n})

	run := func(b *batch.Batch) (logits []float32, grads [][]float32) {
		t.Helper()
		if _, err := m.ForwardBackward(b); err != nil {
			t.Fatal(err)
		}
		for _, p := range m.Params() {
			grads = append(grads, append([]float32(nil), p.Grad...))
		}
		if logits, err = m.batchLogits(b); err != nil {
			t.Fatal(err)
		}
		return logits, grads
	}
	V := cfg.VocabSize
	near := func(got, want []float32) (float64, bool) {
		d, scale := maxAbsDiff(got, want)
		return d, d <= 1e-4*scale+1e-6
	}
	pl, pg := run(packed)
	al, ag := run(alone)
	if e, ok := near(pl[first*V:(first+n)*V], al[:n*V]); !ok {
		t.Errorf("the row's logits packed after another row differ from the row alone by %g", e)
	}
	for j, p := range m.Params() {
		if e, ok := near(pg[j], ag[j]); !ok {
			t.Errorf("gradient of %s: packed row differs from the row alone by %g", p.Name, e)
		}
	}
	// The check can fail: without the document mask the packed row reads
	// the first row and its logits move.
	packed.RowStart = nil
	if ul, _ := run(packed); func() bool { _, ok := near(ul[first*V:(first+n)*V], al[:n*V]); return ok }() {
		t.Fatal("the row's logits do not depend on the row before it even without the mask: the test checks nothing")
	}
}
