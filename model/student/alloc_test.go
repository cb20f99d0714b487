package student

import (
	"math/rand"
	"testing"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/data/batch/batchtest"
	"github.com/distill-ml/distill/loss"
)

// BenchmarkStepAllocs measures the heap traffic of one steady-state training
// step's forward + backward (Gorgonia TapeMachine + the fused ops + GEMM, no
// optimizer) on the shapes bench/train uses: the tiny preset and
// mobilellm-125m cut to 4 layers, V 4096, B 8, T 128, CE over every position,
// and the same with sparse top-16 KD (α 0.5, T 2). The step is warmed up
// (graph built, op buffers sized) before timing, so B/op and allocs/op are the
// per-step residual.
//
//	go test ./model/student -run '^$' -bench StepAllocs -benchtime 10x
//	go test ./model/student -run '^$' -bench StepAllocs/tiny/ce -benchtime 10x -memprofile mem.out -memprofilerate 1
//	go tool pprof -sample_index=alloc_space -top mem.out
func BenchmarkStepAllocs(b *testing.B) {
	const B, T = 8, 128
	for _, sh := range []struct {
		name, preset string
		layers       int
	}{
		{"tiny", "tiny", 0},
		{"mobilellm125m-4l", "mobilellm-125m", 4},
	} {
		var cfg Config
		if err := configs.Load(sh.preset, &cfg); err != nil {
			b.Fatal(err)
		}
		cfg.VocabSize = 4096
		cfg.ContextLength = max(cfg.ContextLength, T)
		if sh.layers > 0 {
			cfg.NLayers = sh.layers
		}
		for _, bc := range stepCases() {
			b.Run(sh.name+"/"+bc.name, func(b *testing.B) {
				m, bt := stepModel(b, cfg, bc, B, T)
				for range 2 { // warm-up: graph, machine and op buffers
					if _, err := m.ForwardBackward(bt); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := m.ForwardBackward(bt); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestStepAllocatesNothing: once warmed up, a whole training step's forward
// and backward (the executor, every fused op, the GEMMs and the pool) and an
// evaluation step allocate nothing on the heap. The config covers GQA, a tied
// head, shared blocks, sparse KD and the hidden-state MSE through a learned
// projection. Allocation counts are exact (this is not a timing), but the
// first steps in which both pool threads run small GEMMs at once take (and
// size) one more GEMM call state from the engine's free list; on a loaded
// machine that can first happen after the warm-up, so steadyAllocs measures
// again (up to twice) when a measurement sees allocations. Such growth is
// bounded by the pool's size; an allocation in every step fails all three.
// With activation recomputation (SetRecompute: weight-gradient outputs
// rebound per block) too.
func TestStepAllocatesNothing(t *testing.T) {
	for _, recompute := range []bool{false, true} {
		stepAllocatesNothing(t, recompute)
	}
}

func stepAllocatesNothing(t *testing.T, recompute bool) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	cfg := Config{VocabSize: 300, DModel: 64, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 96,
		ContextLength: 64, RopeBase: 10000, NormEps: 1e-5, ShareBlocks: true}
	lc := loss.Config{Alpha: 0.5, Temperature: 2, Gamma: 0.3, HiddenMap: []loss.LayerPair{{Student: 1, Teacher: 3}}, TeacherHiddenDim: 48}
	m, err := New(cfg, lc, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.SetRecompute(recompute)
	b := randomBatch(rand.New(rand.NewSource(1)), 4, 64, cfg.VocabSize, 4, 48, []int{3})
	batchtest.TemperTail(b, cfg.VocabSize, lc.Temperature)
	// Packed windows, as the loader makes them: the document mask too
	// allocates nothing.
	b.RowStart = packRows(b, [][]int{{0, 20, 41}, {0}, {0, 33}, {0, 7, 8, 50}}, []int{60, 64, 64, 62})
	step := func() {
		if _, err := m.ForwardBackward(b); err != nil {
			t.Fatal(err)
		}
	}
	eval := func() {
		if _, _, err := m.Evaluate(b); err != nil {
			t.Fatal(err)
		}
	}
	step()
	eval()
	if got := steadyAllocs(step); got != 0 {
		t.Errorf("recompute %t: ForwardBackward allocates %.1f objects per step in steady state", recompute, got)
	}
	if got := steadyAllocs(eval); got != 0 {
		t.Errorf("recompute %t: Evaluate allocates %.1f objects per step in steady state", recompute, got)
	}
}

// steadyAllocs is testing.AllocsPerRun(10, fn), measured again (up to
// twice) while a measurement sees allocations (see TestStepAllocatesNothing).
func steadyAllocs(fn func()) float64 {
	got := testing.AllocsPerRun(10, fn)
	for try := 0; try < 2 && got != 0; try++ {
		got = testing.AllocsPerRun(10, fn)
	}
	return got
}

// TestArchStepsAllocateNothing: the qwen2 (bias add and its column sums) and
// qwen3 (per-head q/k norm, head_dim ≠ d_model/n_heads) blocks and llama3
// rope scaling keep a steady-state step allocation-free, recomputing
// activations (qwen2's and qwen3's) or not.
func TestArchStepsAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	base := Config{VocabSize: 300, DModel: 64, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 96,
		ContextLength: 64, RopeBase: 10000, NormEps: 1e-5}
	qwen2, qwen3, llama3 := base, base, base
	qwen2.Arch = ArchQwen2
	qwen3.Arch, qwen3.HeadDimension = ArchQwen3, 32
	llama3.RopeScaling = RopeScaling{Type: RopeScalingLlama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalContext: 32}
	for i, cfg := range []Config{qwen2, qwen3, llama3, qwen2, qwen3} {
		lc := loss.Config{Alpha: 0.5, Temperature: 2}
		m, err := New(cfg, lc, 1)
		if err != nil {
			t.Fatal(err)
		}
		m.SetRecompute(i >= 3)
		b := randomBatch(rand.New(rand.NewSource(1)), 4, 64, cfg.VocabSize, 4, 0, nil)
		batchtest.TemperTail(b, cfg.VocabSize, lc.Temperature)
		step := func() {
			if _, err := m.ForwardBackward(b); err != nil {
				t.Fatal(err)
			}
		}
		step()
		if got := steadyAllocs(step); got != 0 {
			t.Errorf("%s (recompute %t): ForwardBackward allocates %.1f objects per step in steady state", cfg.ArchName(), m.Recompute(), got)
		}
	}
}
