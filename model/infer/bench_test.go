package infer_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/distill-ml/distill/bench/runtime/rtbench"
	"github.com/distill-ml/distill/internal/testpeers"
)

// BenchmarkRuntimeVsLlamaCpp measures prompt processing (128 tokens) and
// single-token decode (64 tokens) of our runtime and of llama.cpp on the same
// random-weight GGUF files (the `tiny` preset shape and MobileLLM-125M, in
// F32, Q8_0 and Q4_K_M), with 1 and 2 threads, through bench/runtime/rtbench:
// the peer is llama-bench built natively from the llama.cpp source inside
// node-llama-cpp (built on first use and cached in .testdeps/llama-native;
// needs cmake from scripts/install-test-deps.sh); node-llama-cpp's prebuilt
// binary is reported too (prebuilt_* metrics). Both sides follow llama-bench's
// protocol (warm-up, best of 3 on an empty context, load excluded). It
// reports tokens/s, the ratios ours/llama.cpp, CPU seconds of each side, the
// cores other processes used meanwhile, and our RSS growth over file + KV
// cache. Timings never fail the benchmark. `go run ./bench/runtime` prints the
// same comparison as a Markdown table.
//
//	DISTILL_BENCH_DIR=/tmp/rtbench go test ./model/infer -run '^$' -bench RuntimeVsLlamaCpp -benchtime 1x -timeout 60m
func BenchmarkRuntimeVsLlamaCpp(b *testing.B) {
	dir := os.Getenv("DISTILL_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	const promptLen, decodeLen, reps = 128, 64, 3
	nodeModules := testpeers.NodeModules(b, "node-llama-cpp")
	native, err := rtbench.EnsureLlamaBench(rtbench.BuildOptions{
		Bundle:   testpeers.LlamaCppBundle(b),
		CacheDir: filepath.Join(testpeers.DepsDir(b), "llama-native"),
		Progress: os.Stderr,
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, shape := range []string{"tiny", "mobilellm-125m"} {
		for _, typ := range []string{"F32", "Q8_0", "Q4_K_M"} {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%s/threads=%d", shape, typ, threads), func(b *testing.B) {
					path, err := rtbench.WriteModel(dir, shape, typ)
					if err != nil {
						b.Fatal(err)
					}
					other := rtbench.StartOtherLoad()
					ours, err := rtbench.MeasureOurs(path, threads, promptLen, decodeLen, reps, false)
					if err != nil {
						b.Fatal(err)
					}
					nat, err := rtbench.RunLlamaBench(native.Bin, path, threads, promptLen, decodeLen, reps)
					if err != nil {
						b.Fatal(err)
					}
					vocab := rtbench.Shapes()[shape].VocabSize
					pre, err := rtbench.RunPrebuilt(nodeModules, path, vocab, threads, promptLen, decodeLen, reps)
					if err != nil {
						b.Fatal(err)
					}
					o, n, p := ours.Figures(), nat.Figures(), pre.Figures()
					row := rtbench.Row{Ours: o, Native: n}
					b.ReportMetric(o.PromptTokS, "prompt_tok/s")
					b.ReportMetric(o.DecodeTokS, "decode_tok/s")
					b.ReportMetric(n.PromptTokS, "llama_prompt_tok/s")
					b.ReportMetric(n.DecodeTokS, "llama_decode_tok/s")
					b.ReportMetric(row.PromptRatio(), "prompt_ratio")
					b.ReportMetric(row.DecodeRatio(), "decode_ratio")
					b.ReportMetric(p.PromptTokS, "prebuilt_prompt_tok/s")
					b.ReportMetric(p.DecodeTokS, "prebuilt_decode_tok/s")
					b.ReportMetric(o.CPUSeconds, "cpu_s")
					b.ReportMetric(n.CPUSeconds, "llama_cpu_s")
					b.ReportMetric(other.Cores(), "other_cores")
					b.ReportMetric(ours.RSSRatio(), "rss/(file+kv)")
					b.Logf("%s %s (%.0f MiB, %v) threads=%d: prompt %.0f vs %.0f tok/s (%.2fx), decode %.1f vs %.1f tok/s (%.2fx) against native llama.cpp; prebuilt node-llama-cpp %.0f / %.1f tok/s; CPU s ours %.1f llama.cpp %.1f; RSS +%.0f MiB for file %.0f MiB + KV %.0f MiB",
						shape, typ, float64(ours.FileBytes)/(1<<20), ours.Types, threads, o.PromptTokS, n.PromptTokS, row.PromptRatio(),
						o.DecodeTokS, n.DecodeTokS, row.DecodeRatio(), p.PromptTokS, p.DecodeTokS, o.CPUSeconds, n.CPUSeconds,
						float64(ours.RSSGrowth)/(1<<20), float64(ours.FileBytes)/(1<<20), float64(ours.KVBytes)/(1<<20))
				})
			}
		}
	}
}
