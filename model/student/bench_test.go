package student

import (
	_ "embed"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/distill-ml/distill/internal/testpeers"

	"github.com/distill-ml/distill/loss"
)

//go:embed testdata/torch_bench.py
var torchBench string

// BenchmarkForwardBackward times one training step's forward + backward (no
// optimizer) on the benchmark shape: 4 layers, d 256, 4/2 heads, ffn
// 688, V 4096, B 8, T 128, with a sparse teacher (K 16) and α = 0.5, T = 2.
//
// With DISTILL_BENCH_TORCH=1 the same step is timed in PyTorch in the same
// run (testdata/torch_bench.py, OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2, its
// best setting here) and the ratio distill/torch is reported.
//
//	DISTILL_BENCH_TORCH=1 go test ./model/student -run '^$' -bench ForwardBackward -benchtime 20x
func BenchmarkForwardBackward(b *testing.B) {
	for _, bc := range []struct {
		name string
		lc   loss.Config
		K    int
	}{
		{"ce", loss.Config{Temperature: 1}, 0},
		{"kd", loss.Config{Alpha: 0.5, Temperature: 2, KL: "forward"}, 16},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := Config{VocabSize: 4096, DModel: 256, NLayers: 4, NHeads: 4, NKVHeads: 2, FFNDim: 688,
				ContextLength: 128, RopeBase: 10000, NormEps: 1e-5}
			m, err := New(cfg, bc.lc, 1)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewSource(1))
			bt := randomBatch(rng, 8, 128, cfg.VocabSize, bc.K, 0, nil)
			for i := range bt.LossMask {
				bt.LossMask[i] = 1
			}
			if _, err := m.ForwardBackward(bt); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := m.ForwardBackward(bt); err != nil {
					b.Fatal(err)
				}
			}
			ours := float64(b.N*8*128) / b.Elapsed().Seconds()
			b.ReportMetric(ours, "tokens/s")
			if os.Getenv("DISTILL_BENCH_TORCH") == "1" {
				b.StopTimer()
				os.Setenv("OMP_NUM_THREADS", "1")
				os.Setenv("OPENBLAS_NUM_THREADS", "2")
				out := testpeers.RunPython(b, torchBench, nil, bc.name, strconv.Itoa(max(b.N, 5)))
				theirs, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
				if err != nil {
					b.Fatalf("torch output %q: %v", out, err)
				}
				b.ReportMetric(theirs, "torch-tokens/s")
				b.ReportMetric(ours/theirs, "ratio")
			}
		})
	}
}
