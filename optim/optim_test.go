package optim

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/num/parallel"
)

// Two AdamW steps worked by hand (see the package formula):
// step 1, p=1, g=0.5, lr=0.1, wd=0.1: p = 1·0.99 − 0.1·0.5/(0.5+1e-8) = 0.890000002
// step 2, g=−0.25: m=0.02, v=0.015, m̂=0.02/0.19, v̂=0.015/0.0975,
// p = 0.890000002·0.99 − 0.1·0.105263/0.392232 = 0.854263058.
func TestAdamWHandComputedSteps(t *testing.T) {
	data := []float32{1, 1}
	grad := []float32{0.5, 0.5}
	noDecayData := []float32{1}
	noDecayGrad := []float32{0.5}
	o, err := NewAdamW(AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1},
		[]Param{{Name: "w", Data: data, Grad: grad, Decay: true}, {Name: "n", Data: noDecayData, Grad: noDecayGrad}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Step(0.1, 1)
	near(t, "step1 decayed", float64(data[0]), 0.890000002, 1e-6)
	near(t, "step1 undecayed", float64(noDecayData[0]), 0.9, 1e-6) // 1 − 0.1·1, no decay
	grad[0], grad[1], noDecayGrad[0] = -0.25, -0.25, -0.25
	o.Step(0.1, 1)
	near(t, "step2 decayed", float64(data[0]), 0.854263058, 1e-6)
	near(t, "step2 decayed twin", float64(data[1]), 0.854263058, 1e-6)
	// Undecayed: 0.9 − 0.1·0.268371 = 0.8731629.
	near(t, "step2 undecayed", float64(noDecayData[0]), 0.8731629, 1e-6)
	if o.Steps() != 2 {
		t.Fatalf("steps %d", o.Steps())
	}
}

// A gradient scale of ½ with gradient 2g must equal gradient g (clipping and
// accumulation are folded into the scale).
func TestAdamWGradScaleEqualsScaledGradient(t *testing.T) {
	mk := func(g float32, scale float64) float32 {
		d, gr := []float32{0.3}, []float32{g}
		o, err := NewAdamW(DefaultAdamW(), []Param{{Name: "x", Data: d, Grad: gr, Decay: true}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			o.Step(0.01, scale)
		}
		return d[0]
	}
	if a, b := mk(0.2, 1), mk(0.4, 0.5); a != b {
		t.Fatalf("scaled %v != unscaled %v", b, a)
	}
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s: got %.9f want %.9f", what, got, want)
	}
}

func randParams(r *rand.Rand, sizes []int) []Param {
	var ps []Param
	for i, n := range sizes {
		p := Param{Name: string(rune('a' + i)), Data: make([]float32, n), Grad: make([]float32, n), Decay: i%2 == 0}
		for j := range p.Data {
			p.Data[j] = float32(r.NormFloat64())
		}
		ps = append(ps, p)
	}
	return ps
}

func fillGrads(r *rand.Rand, ps []Param) {
	for _, p := range ps {
		for j := range p.Grad {
			p.Grad[j] = float32(r.NormFloat64() * 0.1)
		}
	}
}

// The parallel chunked update must give the same bits on 1 and 2 threads.
func TestAdamWDeterministicAcrossThreads(t *testing.T) {
	sizes := []int{3 * chunkElems / 2, 7, chunkElems * 2, 100}
	run := func(threads int) []Param {
		r := rand.New(rand.NewPCG(1, 2))
		ps := randParams(r, sizes)
		o, err := NewAdamW(DefaultAdamW(), ps, parallel.New(threads))
		if err != nil {
			t.Fatal(err)
		}
		for s := 0; s < 4; s++ {
			fillGrads(r, ps)
			n := o.GradNorm(1)
			o.Step(1e-3, ClipScale(n, 1.0))
		}
		return ps
	}
	a, b := run(1), run(2)
	for i := range a {
		for j := range a[i].Data {
			if math.Float32bits(a[i].Data[j]) != math.Float32bits(b[i].Data[j]) {
				t.Fatalf("param %s[%d]: %v (1 thread) != %v (2 threads)", a[i].Name, j, a[i].Data[j], b[i].Data[j])
			}
		}
	}
}

func TestGradNormAndNonFinite(t *testing.T) {
	ps := []Param{{Name: "a", Data: make([]float32, 3), Grad: []float32{3, 0, 0}}, {Name: "b", Data: make([]float32, 1), Grad: []float32{4}}}
	o, err := NewAdamW(DefaultAdamW(), ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := o.GradNorm(1); n != 5 {
		t.Fatalf("norm %v, want 5", n)
	}
	if n := o.GradNorm(0.5); n != 2.5 {
		t.Fatalf("scaled norm %v, want 2.5", n)
	}
	if s := ClipScale(5, 1); math.Abs(s-0.2) > 1e-6 {
		t.Fatalf("clip scale %v", s)
	}
	if s := ClipScale(0.5, 1); s != 1 {
		t.Fatalf("clip scale below max %v", s)
	}
	ps[1].Grad[0] = float32(math.NaN())
	if n := o.GradNorm(1); !math.IsNaN(n) {
		t.Fatalf("NaN gradient gave norm %v", n)
	}
	ps[1].Grad[0] = float32(math.Inf(-1))
	if n := o.GradNorm(1); !math.IsInf(n, 0) {
		t.Fatalf("Inf gradient gave norm %v", n)
	}
}

func TestAdamWRejectsBadInput(t *testing.T) {
	if _, err := NewAdamW(DefaultAdamW(), []Param{{Name: "x", Data: make([]float32, 2), Grad: make([]float32, 3)}}, nil); err == nil || !strings.Contains(err.Error(), "x") {
		t.Fatalf("length mismatch: %v", err)
	}
	if _, err := NewAdamW(DefaultAdamW(), []Param{{Name: "x"}, {Name: "x"}}, nil); err == nil {
		t.Fatal("duplicate names accepted")
	}
	if _, err := NewAdamW(AdamWConfig{Beta1: 1, Beta2: 0.9, Eps: 1e-8}, nil, nil); err == nil || !strings.Contains(err.Error(), "beta1") {
		t.Fatalf("beta1=1: %v", err)
	}
	o, _ := NewAdamW(DefaultAdamW(), []Param{{Name: "x", Data: make([]float32, 2), Grad: make([]float32, 2)}}, nil)
	if err := o.Restore(1, [][]float32{{1}}, [][]float32{{1, 2}}); err == nil || !strings.Contains(err.Error(), "x") {
		t.Fatalf("restore with short moments: %v", err)
	}
}

func TestAdamWStepAllocatesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ps := randParams(r, []int{chunkElems * 3, 50})
	o, err := NewAdamW(DefaultAdamW(), ps, parallel.New(1))
	if err != nil {
		t.Fatal(err)
	}
	fillGrads(r, ps)
	allocs := testing.AllocsPerRun(20, func() {
		n := o.GradNorm(1)
		o.Step(1e-4, ClipScale(n, 1))
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per step, want 0", allocs)
	}
}

func TestScheduleValues(t *testing.T) {
	s := Schedule{PeakLR: 1e-3, MinLR: 1e-4, WarmupSteps: 10, TotalSteps: 110}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		step int
		want float64
	}{
		{0, 1e-4},                 // (0+1)/10 · 1e-3
		{4, 5e-4},                 // 5/10
		{9, 1e-3},                 // end of warmup
		{10, 1e-3},                // cosine start
		{60, 1e-4 + 9e-4*0.5},     // half way: cos(π/2)=0
		{85, 1e-4 + 9e-4*0.14645}, // progress 0.75: ½(1+cos(3π/4)) = 0.146447
		{110, 1e-4},
		{500, 1e-4},
	}
	for _, c := range cases {
		if got := s.LR(c.step); math.Abs(got-c.want) > 1e-8 {
			t.Errorf("LR(%d) = %g, want %g", c.step, got, c.want)
		}
	}
	for _, bad := range []Schedule{{PeakLR: 0, TotalSteps: 1}, {PeakLR: 1e-3, MinLR: 1e-2, TotalSteps: 1}, {PeakLR: 1e-3, TotalSteps: 5, WarmupSteps: 6}, {PeakLR: 1e-3}} {
		if bad.Validate() == nil {
			t.Errorf("schedule %+v accepted", bad)
		}
	}
}

// Five steps with clipping and mixed decay, compared to torch.optim.AdamW.
func TestAdamWMatchesTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with PyTorch: not in -short")
	}
	r := rand.New(rand.NewPCG(7, 8))
	sizes := []int{33, 5, 17}
	ps := randParams(r, sizes)
	init := make([][]float32, len(ps))
	for i, p := range ps {
		init[i] = append([]float32(nil), p.Data...)
	}
	cfg := AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
	o, err := NewAdamW(cfg, ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	sched := Schedule{PeakLR: 0.01, MinLR: 0.001, WarmupSteps: 2, TotalSteps: 5}
	const clip = 0.5
	var grads [][][]float32
	var lrs []float64
	for s := 0; s < 5; s++ {
		fillGrads(r, ps)
		var g [][]float32
		for _, p := range ps {
			g = append(g, append([]float32(nil), p.Grad...))
		}
		grads = append(grads, g)
		lrs = append(lrs, sched.LR(s))
		n := o.GradNorm(1)
		o.Step(sched.LR(s), ClipScale(n, clip))
	}
	in, _ := json.Marshal(map[string]any{"init": init, "grads": grads, "lrs": lrs, "decay": []bool{true, false, true}, "clip": clip})
	out := testpeers.RunPython(t, `
import json, sys, torch
d = json.load(sys.stdin)
ps = [torch.tensor(x, dtype=torch.float32, requires_grad=True) for x in d["init"]]
groups = [{"params": [p], "weight_decay": 0.1 if dec else 0.0} for p, dec in zip(ps, d["decay"])]
opt = torch.optim.AdamW(groups, lr=1.0, betas=(0.9, 0.95), eps=1e-8, foreach=False)
for g, lr in zip(d["grads"], d["lrs"]):
    for p, gi in zip(ps, g):
        p.grad = torch.tensor(gi, dtype=torch.float32)
    torch.nn.utils.clip_grad_norm_(ps, d["clip"])
    for grp in opt.param_groups:
        grp["lr"] = lr
    opt.step()
print(json.dumps([p.detach().tolist() for p in ps]))
`, in)
	var want [][]float64
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("torch output %q: %v", out, err)
	}
	for i, p := range ps {
		for j := range p.Data {
			if d := math.Abs(float64(p.Data[j]) - want[i][j]); d > 2e-6 {
				t.Fatalf("param %s[%d]: distill %.8f torch %.8f", p.Name, j, p.Data[j], want[i][j])
			}
		}
	}
}

func TestAccumulateGrads(t *testing.T) {
	acc := []float32{9, 9, 9}
	o, err := NewAdamW(DefaultAdamW(), []Param{{Name: "a", Data: make([]float32, 3), Grad: acc}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.AccumulateGrads([][]float32{{1, 2, 3}}, true)
	o.AccumulateGrads([][]float32{{0.5, 0.5, -3}}, false)
	if acc[0] != 1.5 || acc[1] != 2.5 || acc[2] != 0 {
		t.Fatalf("accumulated %v, want [1.5 2.5 0]", acc)
	}
	if err := o.AccumulateGrads([][]float32{{1}}, false); err == nil {
		t.Fatal("short gradient accepted")
	}
}
