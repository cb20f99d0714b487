// Command train benchmarks one training step — forward + backward + AdamW
// (with global-norm clipping) — of distill's student against the same model
// in PyTorch (Debian python3-torch on OpenBLAS, /usr/bin/python3), side by
// side in one run, on the same configs, batch, sequence length and thread
// count. Each side runs in its own child process so that peak RSS is its own.
//
//	go run ./bench/train                       # tiny and mobilellm-125m cut to 4 layers
//	go run ./bench/train -steps 1000 -configs tiny -torch=false   # RSS flatness
//
// PyTorch is run under several thread settings (OMP/OpenBLAS pools fight on 2
// cores) and its best is reported. The loss is cross-entropy over every
// position (alpha = 0) on both sides.
package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/distill-ml/distill/bench/internal/blaspeer"
	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/distill/train"
	"github.com/distill-ml/distill/internal/cpuinfo"
	"github.com/distill-ml/distill/internal/sysmem"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/student"
	"github.com/distill-ml/distill/optim"
)

//go:embed torch_step.py
var torchScript string

// job is one side's run, passed to the child as JSON.
type job struct {
	Name         string `json:"name"`
	Vocab        int    `json:"vocab"`
	DModel       int    `json:"d_model"`
	NLayers      int    `json:"n_layers"`
	NHeads       int    `json:"n_heads"`
	NKVHeads     int    `json:"n_kv_heads"`
	FFNDim       int    `json:"ffn_dim"`
	Batch        int    `json:"batch"`
	SeqLen       int    `json:"seq_len"`
	Warmup       int    `json:"warmup"`
	Steps        int    `json:"steps"`
	TorchThreads int    `json:"torch_threads"`
	Seed         int    `json:"seed"`
	CPUProfile   string `json:"cpuprofile,omitempty"`
}

type result struct {
	TokensPerS  float64        `json:"tokens_per_s"`
	StepS       float64        `json:"step_s"`
	CPUS        float64        `json:"cpu_s"`  // user+sys CPU seconds of the timed steps
	Tokens      int64          `json:"tokens"` // tokens of the timed steps
	PeakRSSKiB  int64          `json:"peak_rss_kib"`
	RSSStartKiB int64          `json:"rss_start_kib"`
	RSSEndKiB   int64          `json:"rss_end_kib"`
	Loss        float64        `json:"loss"`
	RSSTraceKiB []int64        `json:"rss_trace_kib,omitempty"` // VmRSS sampled every steps/10 timed steps
	BLAS        *blaspeer.Info `json:"blas,omitempty"`          // the PyTorch peer's OpenBLAS
	SgemmRelErr float64        `json:"sgemm_rel_err,omitempty"` // the peer's matmul against float64
	setting     string
}

func main() {
	var (
		worker   = flag.String("worker", "", "internal: run one distill job given as JSON")
		cfgList  = flag.String("configs", "tiny,mobilellm-125m:4", "student presets, optionally cut to N layers (preset:N)")
		vocab    = flag.Int("vocab", 4096, "vocabulary size")
		bsz      = flag.Int("batch", 8, "sequences per step")
		seq      = flag.Int("seq", 128, "tokens per sequence")
		threads  = flag.Int("threads", 2, "compute threads for both sides")
		steps    = flag.Int("steps", 10, "timed steps")
		warmup   = flag.Int("warmup", 2, "untimed steps first")
		useTorch = flag.Bool("torch", true, "run the PyTorch side")
		profile  = flag.String("cpuprofile", "", "write the distill side's CPU profile to this file (prefix; one per config)")
	)
	flag.Parse()
	if *worker != "" {
		if err := runWorker(*worker); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		return
	}
	if err := runBench(*cfgList, *vocab, *bsz, *seq, *threads, *steps, *warmup, *useTorch, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "bench/train:", err)
		os.Exit(1)
	}
}

func runBench(cfgList string, vocab, bsz, seq, threads, steps, warmup int, useTorch bool, profile string) error {
	fmt.Printf("bench/train: B=%d T=%d vocab=%d threads=%d, %d timed steps after %d warm-up; %s, GOMAXPROCS child=%d\nCPU: %s\n",
		bsz, seq, vocab, threads, steps, warmup, runtime.Version(), threads, cpuinfo.Describe())
	if useTorch {
		fmt.Printf("PyTorch peer environment: %s\n", blaspeer.Removed())
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "config\tparams\tdistill tok/s\ttok/CPU-s\tpeak RSS\tRSS start→end\tPyTorch tok/s\ttok/CPU-s\tpeak RSS\tPyTorch setting\tspeed ratio\tCPU-time ratio\tRSS ratio\t")
	for _, spec := range strings.Split(cfgList, ",") {
		name, layers := spec, 0
		if i := strings.IndexByte(spec, ':'); i >= 0 {
			name = spec[:i]
			n, err := strconv.Atoi(spec[i+1:])
			if err != nil || n <= 0 {
				return fmt.Errorf("config %q: want preset or preset:layers", spec)
			}
			layers = n
		}
		var s student.Config
		if err := configs.Load(name, &s); err != nil {
			return err
		}
		s.VocabSize = vocab
		if layers > 0 {
			s.NLayers = layers
		}
		label := name
		if layers > 0 {
			label = fmt.Sprintf("%s (%d layers)", name, layers)
		}
		j := job{Name: label, Vocab: vocab, DModel: s.DModel, NLayers: s.NLayers, NHeads: s.NHeads, NKVHeads: s.NKVHeads,
			FFNDim: s.FFNDim, Batch: bsz, SeqLen: seq, Warmup: warmup, Steps: steps, Seed: 1}
		if profile != "" {
			j.CPUProfile = profile + "." + strings.ReplaceAll(spec, ":", "-") + ".pprof"
		}
		d, err := runDistill(j, threads)
		if err != nil {
			return fmt.Errorf("%s: distill: %w", label, err)
		}
		if steps >= 50 {
			var tr []string
			for _, k := range d.RSSTraceKiB {
				tr = append(tr, mib(k))
			}
			fmt.Fprintf(os.Stderr, "  %s: distill RSS every %d steps: %s\n", label, max(steps/10, 1), strings.Join(tr, ", "))
		}
		row := fmt.Sprintf("%s\t%.2fM\t%.0f\t%.0f\t%s\t%s→%s\t", label, float64(s.ParamCount())/1e6, d.TokensPerS, d.perCPU(), mib(d.PeakRSSKiB), mib(d.RSSStartKiB), mib(d.RSSEndKiB))
		if useTorch {
			p, err := runTorchBest(j, threads)
			if err != nil {
				return fmt.Errorf("%s: torch: %w", label, err)
			}
			row += fmt.Sprintf("%.0f\t%.0f\t%s\t%s\t%.2f×\t%.2f×\t%.2f×\t", p.TokensPerS, p.perCPU(), mib(p.PeakRSSKiB), p.setting,
				d.TokensPerS/p.TokensPerS, d.perCPU()/p.perCPU(), float64(d.PeakRSSKiB)/float64(p.PeakRSSKiB))
		} else {
			row += "-\t-\t-\t-\t-\t-\t-\t"
		}
		fmt.Fprintln(tw, row)
		tw.Flush()
	}
	return tw.Flush()
}

// perCPU is tokens per CPU-second (user+sys, all threads) of the timed steps:
// less sensitive than wall-clock to other processes on a shared machine.
func (r result) perCPU() float64 {
	if r.CPUS <= 0 {
		return 0
	}
	return float64(r.Tokens) / r.CPUS
}

func mib(kib int64) string { return fmt.Sprintf("%.0f MiB", float64(kib)/1024) }

// runDistill re-executes this binary as a worker with GOMAXPROCS=threads.
func runDistill(j job, threads int) (result, error) {
	exe, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	js, _ := json.Marshal(j)
	cmd := exec.Command(exe, "-worker", string(js))
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(threads))
	return runChild(cmd)
}

// runTorchBest runs the PyTorch peer under the usual thread settings and
// returns the fastest.
func runTorchBest(j job, threads int) (result, error) {
	dir, err := os.MkdirTemp("", "bench-train-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	script := dir + "/torch_step.py"
	if err := os.WriteFile(script, []byte(blaspeer.InfoPy+torchScript), 0o644); err != nil {
		return result{}, err
	}
	settings := []struct{ intra, omp, blas int }{
		{1, 1, threads},       // one torch thread, OpenBLAS threads inside GEMM (best in the notes)
		{threads, threads, 1}, // torch's intra-op pool, single-threaded BLAS
		{threads, threads, threads},
	}
	var best result
	for _, s := range settings {
		jj := j
		jj.TorchThreads = s.intra
		js, _ := json.Marshal(jj)
		cmd := exec.Command("/usr/bin/python3", script, string(js))
		cmd.Env, _ = blaspeer.Env(os.Environ(), map[string]int{"OMP_NUM_THREADS": s.omp, "OPENBLAS_NUM_THREADS": s.blas})
		r, err := runChild(cmd)
		if err != nil {
			return result{}, err
		}
		if r.BLAS == nil {
			return result{}, fmt.Errorf("PyTorch peer reported no BLAS")
		}
		if err := r.BLAS.Check(s.blas); err != nil {
			return result{}, fmt.Errorf("PyTorch peer: %w", err)
		}
		if err := blaspeer.CheckErr("torch.matmul 256×512×256", r.SgemmRelErr); err != nil {
			return result{}, err
		}
		r.setting = fmt.Sprintf("torch=%d OMP=%d BLAS=%d core=%s", s.intra, s.omp, s.blas, r.BLAS.Corename)
		fmt.Fprintf(os.Stderr, "  %s: PyTorch %s: %.0f tok/s, %.0f tok/CPU-s, peak RSS %s\n", j.Name, r.setting, r.TokensPerS, r.perCPU(), mib(r.PeakRSSKiB))
		if r.TokensPerS > best.TokensPerS {
			best = r
		}
	}
	return best, nil
}

func runChild(cmd *exec.Cmd) (result, error) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("%v: %s", err, lastLines(errb.String(), 20))
	}
	if s := strings.TrimSpace(errb.String()); s != "" {
		fmt.Fprintln(os.Stderr, "  "+strings.ReplaceAll(s, "\n", "\n  "))
	}
	var r result
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &r); err != nil {
		return result{}, fmt.Errorf("child output %q: %w", out.String(), err)
	}
	// The kernel's view of the child's peak RSS (KiB on Linux), the same
	// measure for both sides.
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > 0 {
		r.PeakRSSKiB = ru.Maxrss
	}
	return r, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runWorker is the distill side: build the student, then time
// ForwardBackward + clip + AdamW steps on one fixed random batch.
func runWorker(js string) error {
	var j job
	if err := json.Unmarshal([]byte(js), &j); err != nil {
		return err
	}
	train.TuneGC() // as `distill train` runs
	s := student.Config{VocabSize: j.Vocab, DModel: j.DModel, NLayers: j.NLayers, NHeads: j.NHeads, NKVHeads: j.NKVHeads,
		FFNDim: j.FFNDim, ContextLength: max(j.SeqLen, 16), RopeBase: 10000, NormEps: 1e-5}
	m, err := student.New(s, loss.Config{Alpha: 0, Temperature: 1}, int64(j.Seed))
	if err != nil {
		return err
	}
	opt, err := optim.NewAdamW(optim.AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}, m.Params(), nil)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(7, 7))
	n := j.Batch * j.SeqLen
	b := &batch.Batch{B: j.Batch, T: j.SeqLen, Tokens: make([]int32, n), Targets: make([]int32, n), LossMask: make([]float32, n)}
	for i := range b.Tokens {
		b.Tokens[i] = int32(r.IntN(j.Vocab))
		b.Targets[i] = int32(r.IntN(j.Vocab))
		b.LossMask[i] = 1
	}
	var last float64
	step := func() error {
		t, err := m.ForwardBackward(b)
		if err != nil {
			return err
		}
		norm := opt.GradNorm(1)
		opt.Step(1e-3, optim.ClipScale(norm, 1))
		last = t.Total
		return nil
	}
	for i := 0; i < j.Warmup; i++ {
		if err := step(); err != nil {
			return err
		}
	}
	if j.CPUProfile != "" {
		f, err := os.Create(j.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	rssStart := vmRSS()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := sysmem.CPUTime()
	t0 := time.Now()
	var trace []int64
	var sampleBytes, sampleObjs uint64
	every := max(j.Steps/10, 1)
	for i := 0; i < j.Steps; i++ {
		if err := step(); err != nil {
			return err
		}
		if (i+1)%every == 0 {
			// The RSS sample's own allocations (reading /proc) are left out
			// of the per-step heap figures below.
			var a, b runtime.MemStats
			runtime.ReadMemStats(&a)
			trace = append(trace, vmRSS())
			runtime.ReadMemStats(&b)
			sampleBytes += b.TotalAlloc - a.TotalAlloc
			sampleObjs += b.Mallocs - a.Mallocs
		}
	}
	dt := time.Since(t0).Seconds()
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	ms1.TotalAlloc -= sampleBytes
	ms1.Mallocs -= sampleObjs
	// Steady-state heap traffic of the timed steps (forward, backward, AdamW).
	fmt.Fprintf(os.Stderr, "distill worker %s: %.0f bytes allocated per step (%d objects), heap in use %.0f MiB, %d GC cycles in %d steps (%.2f per step), GC pauses %.2f ms\n",
		j.Name, float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(j.Steps), (ms1.Mallocs-ms0.Mallocs)/uint64(j.Steps),
		float64(ms1.HeapInuse)/(1<<20), ms1.NumGC-ms0.NumGC, j.Steps, float64(ms1.NumGC-ms0.NumGC)/float64(j.Steps),
		float64(ms1.PauseTotalNs-ms0.PauseTotalNs)/1e6)
	cpu := (sysmem.CPUTime() - cpu0).Seconds()
	return json.NewEncoder(os.Stdout).Encode(result{TokensPerS: float64(n*j.Steps) / dt, StepS: dt / float64(j.Steps), CPUS: cpu, Tokens: int64(n * j.Steps),
		PeakRSSKiB: sysmem.ProcStatusBytes("VmHWM") >> 10, RSSStartKiB: rssStart, RSSEndKiB: vmRSS(), Loss: last, RSSTraceKiB: trace})
}

// vmRSS is the current resident set size in KiB (0 if unknown).
func vmRSS() int64 { return sysmem.ProcStatusBytes("VmRSS") >> 10 }
