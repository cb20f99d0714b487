package runtime

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/kernels/parallel"
)

// benchSpecs are the shapes the runtime is benchmarked on: the student's
// `tiny` preset shape and MobileLLM-125M, random weights.
func benchSpecs() map[string]RandomSpec {
	tiny := RandomSpec{VocabSize: 4096, DModel: 256, NLayers: 8, NHeads: 4, NKVHeads: 2, FFNDim: 688,
		ContextLength: 1024, RopeBase: 10000, NormEps: 1e-5, Sigma: 0.05, EmbedSigma: 0.3, Seed: 1}
	return map[string]RandomSpec{"tiny": tiny, "mobilellm-125m": MobileLLM125M()}
}

// benchModel writes (once per directory) the random model of shape/type.
func benchModel(b *testing.B, dir, shape, typ string) string {
	path := filepath.Join(dir, fmt.Sprintf("%s-%s.gguf", shape, typ))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	sp := benchSpecs()[shape]
	sp.Type = typ
	if err := WriteRandomModel(path, sp); err != nil {
		b.Fatal(err)
	}
	return path
}

const llamaBenchScript = `
import { getLlama } from "node-llama-cpp";
import fs from "node:fs";
const req = JSON.parse(fs.readFileSync(0, "utf8"));
const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
const model = await llama.loadModel({ modelPath: req.path });
const ctx = await model.createContext({ contextSize: 512, threads: req.threads, batchSize: 512, flashAttention: false });
const seq = ctx.getSequence();
const out = { prompt: [], decode: [], cpu: 0 };
const c0 = process.cpuUsage();
for (let rep = 0; rep < req.reps; rep++) {
  await seq.clearHistory();
  let t0 = performance.now();
  const r = await seq.controlledEvaluate(req.prompt.map((t, i) => i === req.prompt.length - 1 ? [t, { generateNext: { token: true, options: { temperature: 0 } } }] : t));
  out.prompt.push(performance.now() - t0);
  let tok = r[req.prompt.length - 1].next.token;
  t0 = performance.now();
  for (let i = 0; i < req.decode; i++) {
    const rr = await seq.controlledEvaluate([[tok, { generateNext: { token: true, options: { temperature: 0 } } }]]);
    tok = rr[0].next.token;
  }
  out.decode.push(performance.now() - t0);
}
const c1 = process.cpuUsage(c0);
out.cpu = (c1.user + c1.system) / 1e6;
process.stdout.write(JSON.stringify(out), () => process.exit(0));
`

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// rssBytes is this process's resident set size (VmRSS), 0 if unknown.
func rssBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkRuntimeVsLlamaCpp measures prompt processing (128 tokens) and
// greedy decode (32 tokens) of our runtime and of llama.cpp (node-llama-cpp's
// prebuilt CPU binary) on the same GGUF files, in one run, with 1 and 2
// threads, and reports tokens/s (best of 2 repetitions), the ratio
// ours/llama.cpp, and CPU seconds spent by each side (the machine may be
// shared: CPU time shows how much of the wall time each side actually ran).
// It also reports how much our RSS grew while loading and running the model,
// against the file size plus the KV cache.
//
//	DISTILL_BENCH_DIR=/tmp/rtbench go test ./model/runtime -run '^$' -bench RuntimeVsLlamaCpp -benchtime 1x -timeout 60m
func BenchmarkRuntimeVsLlamaCpp(b *testing.B) {
	dir := os.Getenv("DISTILL_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	const promptLen, decodeLen, reps = 128, 32, 2
	for _, shape := range []string{"tiny", "mobilellm-125m"} {
		for _, typ := range []string{"F32", "Q8_0", "Q4_K_M"} {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%s/threads=%d", shape, typ, threads), func(b *testing.B) {
					path := benchModel(b, dir, shape, typ)
					rss0 := rssBytes()
					m, err := Load(path, Options{Pool: parallel.New(threads)})
					if err != nil {
						b.Fatal(err)
					}
					defer m.Close()
					prompt := make([]int32, promptLen)
					for i := range prompt {
						prompt[i] = int32(2 + (i*7919)%(m.Hyper.VocabSize-2))
					}
					bestPrompt, bestDecode := time.Duration(1<<62), time.Duration(1<<62)
					cpu0 := cpuSeconds()
					var kvBytes int64
					for rep := 0; rep < reps; rep++ {
						s := m.NewSession(512)
						kvBytes = s.KVCacheBytes()
						t0 := time.Now()
						lg, err := s.Eval(prompt)
						if err != nil {
							b.Fatal(err)
						}
						bestPrompt = min(bestPrompt, time.Since(t0))
						tok := Argmax(lg)
						t0 = time.Now()
						for i := 0; i < decodeLen; i++ {
							if lg, err = s.Eval([]int32{tok}); err != nil {
								b.Fatal(err)
							}
							tok = Argmax(lg)
						}
						bestDecode = min(bestDecode, time.Since(t0))
					}
					oursCPU := cpuSeconds() - cpu0
					rssGrowth := rssBytes() - rss0
					in, _ := json.Marshal(map[string]any{"path": path, "threads": threads, "prompt": prompt, "decode": decodeLen, "reps": reps})
					raw := testpeers.RunNode(b, "node-llama-cpp", llamaBenchScript, in)
					var peer struct {
						Prompt, Decode []float64
						CPU            float64
					}
					if err := json.Unmarshal(raw, &peer); err != nil {
						b.Fatalf("%v: %s", err, raw)
					}
					minf := func(xs []float64) float64 {
						m := xs[0]
						for _, x := range xs {
							m = min(m, x)
						}
						return m
					}
					oursP := float64(promptLen) / bestPrompt.Seconds()
					oursD := float64(decodeLen) / bestDecode.Seconds()
					peerP := float64(promptLen) / (minf(peer.Prompt) / 1e3)
					peerD := float64(decodeLen) / (minf(peer.Decode) / 1e3)
					b.ReportMetric(oursP, "prompt_tok/s")
					b.ReportMetric(oursD, "decode_tok/s")
					b.ReportMetric(peerP, "llama_prompt_tok/s")
					b.ReportMetric(peerD, "llama_decode_tok/s")
					b.ReportMetric(oursP/peerP, "prompt_ratio")
					b.ReportMetric(oursD/peerD, "decode_ratio")
					b.ReportMetric(oursCPU, "cpu_s")
					b.ReportMetric(peer.CPU, "llama_cpu_s")
					st, _ := os.Stat(path)
					b.ReportMetric(float64(rssGrowth)/float64(st.Size()+kvBytes), "rss/(file+kv)")
					b.Logf("%s %s (%.0f MiB, %v) threads=%d: prompt %.0f vs %.0f tok/s (%.2fx), decode %.1f vs %.1f tok/s (%.2fx); CPU s ours %.1f llama %.1f; RSS +%.0f MiB for file %.0f MiB + KV %.0f MiB",
						shape, typ, float64(st.Size())/(1<<20), m.Types, threads, oursP, peerP, oursP/peerP, oursD, peerD, oursD/peerD,
						oursCPU, peer.CPU, float64(rssGrowth)/(1<<20), float64(st.Size())/(1<<20), float64(kvBytes)/(1<<20))
				})
			}
		}
	}
}
