package student

import (
	_ "embed"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/data/batch/batchtest"
	"github.com/distill-ml/distill/internal/sysmem"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/loss"
)

//go:embed testdata/torch_bench.py
var torchBench string

// stepCase is a loss the step benchmarks time, with K teacher alternatives
// per position.
type stepCase struct {
	name string
	lc   loss.Config
	K    int
}

// stepCases are CE only, and CE + sparse top-16 KL (α 0.5, T 2).
func stepCases() []stepCase {
	return []stepCase{
		{"ce", loss.Config{Temperature: 1}, 0},
		{"kd", loss.Config{Alpha: 0.5, Temperature: 2, KL: "forward"}, 16},
	}
}

// stepModel builds the student of cfg with bc's loss and a B×T batch of
// random tokens (seed 1) with bc.K teacher alternatives (tail tempered) in
// which every position is a target.
func stepModel(b *testing.B, cfg Config, bc stepCase, B, T int) (*Model, *batch.Batch) {
	b.Helper()
	m, err := New(cfg, bc.lc, 1)
	if err != nil {
		b.Fatal(err)
	}
	bt := randomBatch(rand.New(rand.NewSource(1)), B, T, cfg.VocabSize, bc.K, 0, nil)
	if bc.K > 0 {
		batchtest.TemperTail(bt, cfg.VocabSize, bc.lc.Temperature)
	}
	for i := range bt.LossMask {
		bt.LossMask[i] = 1
	}
	return m, bt
}

// BenchmarkForwardBackward times one training step's forward + backward (no
// optimizer) on the benchmark shapes, V 4096, B 8, T 128: 4 layers of
// d 256, 4/2 heads, ffn 688, and mobilellm-125m cut to 4 layers (d 576, 9/3
// heads, ffn 1536); CE only, and CE + sparse top-16 KL (α 0.5, T 2).
//
// With DISTILL_BENCH_TORCH=1 the same step is timed in PyTorch in the same
// run (testdata/torch_bench.py, OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2, its
// best setting here) and the ratios distill/torch of tokens/s and of tokens
// per CPU-second (less distorted when other work shares the machine) are
// reported.
//
//	DISTILL_BENCH_TORCH=1 go test ./model/student -run '^$' -bench ForwardBackward -benchtime 20x
func BenchmarkForwardBackward(b *testing.B) {
	shapes := []struct {
		name string
		cfg  Config
	}{
		{"d256", Config{VocabSize: 4096, DModel: 256, NLayers: 4, NHeads: 4, NKVHeads: 2, FFNDim: 688,
			ContextLength: 128, RopeBase: 10000, NormEps: 1e-5}},
		{"mobilellm125m-4l", Config{VocabSize: 4096, DModel: 576, NLayers: 4, NHeads: 9, NKVHeads: 3, FFNDim: 1536,
			ContextLength: 128, RopeBase: 10000, NormEps: 1e-5}},
	}
	const B, T = 8, 128
	for _, sh := range shapes {
		for _, bc := range stepCases() {
			b.Run(sh.name+"/"+bc.name, func(b *testing.B) {
				cfg := sh.cfg
				m, bt := stepModel(b, cfg, bc, B, T)
				if _, err := m.ForwardBackward(bt); err != nil {
					b.Fatal(err)
				}
				cpu0 := sysmem.CPUTime().Seconds()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := m.ForwardBackward(bt); err != nil {
						b.Fatal(err)
					}
				}
				ours := float64(b.N*B*T) / b.Elapsed().Seconds()
				b.ReportMetric(ours, "tokens/s")
				oursCPU := float64(b.N*B*T) / (sysmem.CPUTime().Seconds() - cpu0)
				b.ReportMetric(oursCPU, "tokens/cpu-s")
				if os.Getenv("DISTILL_BENCH_TORCH") == "1" {
					b.StopTimer()
					os.Setenv("OMP_NUM_THREADS", "1")
					os.Setenv("OPENBLAS_NUM_THREADS", "2")
					args := []string{bc.name, strconv.Itoa(max(b.N, 5))}
					for _, v := range []int{cfg.VocabSize, cfg.DModel, cfg.NLayers, cfg.NHeads, cfg.NKVHeads, cfg.FFNDim, B, T} {
						args = append(args, strconv.Itoa(v))
					}
					out := testpeers.RunPython(b, torchBench, nil, args...)
					f := strings.Fields(string(out))
					if len(f) != 2 {
						b.Fatalf("torch output %q", out)
					}
					theirs, err1 := strconv.ParseFloat(f[0], 64)
					theirsCPU, err2 := strconv.ParseFloat(f[1], 64)
					if err1 != nil || err2 != nil {
						b.Fatalf("torch output %q", out)
					}
					b.ReportMetric(theirs, "torch-tokens/s")
					b.ReportMetric(ours/theirs, "ratio")
					b.ReportMetric(oursCPU/theirsCPU, "cpu-ratio")
				}
			})
		}
	}
}
