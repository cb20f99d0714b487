// Command train benchmarks one training step — forward + backward + AdamW
// (with global-norm clipping) — of distill's student against the same model
// in PyTorch (Debian python3-torch on OpenBLAS, /usr/bin/python3), side by
// side in one run, on the same shapes, batch, sequence length and thread
// count. Each side runs in its own child process so that peak RSS is its own
// (the kernel's ru_maxrss of that child: VmHWM over the whole run, warm-up
// included).
//
// A shape is an embedded student preset, a student YAML, a Hugging Face
// model directory or its config.json (read by model/checkpoint as `init:`
// reads it) or a GGUF file. bench/train/shapes holds the published
// config.json of SmolLM2-135M and Qwen2.5-0.5B; their rows use their own
// vocabulary unless -vocab is given. The PyTorch peer builds the same
// architecture (qwen2 Q/K/V biases, qwen3 q/k norms, head_dim, untied head,
// shared blocks, the RoPE frequencies distill computes) and its parameter
// count must equal distill's.
//
//	go run ./bench/train                       # tiny and mobilellm-125m cut to 4 layers
//	go run ./bench/train -steps 1000 -configs tiny -torch=false   # RSS flatness
//	go run ./bench/train -memory -steps 1 -warmup 1 -seq 512 -configs bench/train/shapes/smollm2-135m
//	go run ./bench/train -memory -recompute -torch=false -steps 1 -warmup 1 -seq 512 -configs bench/train/shapes/qwen2.5-0.5b
//
// -recompute runs the distill side with activation recomputation per block
// (train.recompute: blocks); the PyTorch side keeps every activation.
//
// PyTorch is run under several thread settings (OMP/OpenBLAS pools fight on 2
// cores) and its best is reported (-memory: only the first, the usual
// winner). The loss is cross-entropy over every position (alpha = 0) on
// both sides. A shape whose training-memory estimate
// (student.Config.TrainingMemory) exceeds MemAvailable is refused before it
// starts.
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
	"path/filepath"
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
	"github.com/distill-ml/distill/model/checkpoint"
	"github.com/distill-ml/distill/model/student"
	"github.com/distill-ml/distill/optim"
)

//go:embed torch_step.py
var torchScript string

// job is one side's run, passed to the child as JSON. Student is the whole
// architecture; HeadDim, QKVBias, QKNorm and RopeInvFreqs are derived from
// it by model/student so that the PyTorch peer does not re-derive them.
type job struct {
	Name         string         `json:"name"`
	Student      student.Config `json:"student"`
	HeadDim      int            `json:"head_dim"`
	QKVBias      bool           `json:"qkv_bias"`
	QKNorm       bool           `json:"qk_norm"`
	RopeInvFreqs []float64      `json:"rope_inv_freqs"` // [head_dim/2]
	Batch        int            `json:"batch"`
	SeqLen       int            `json:"seq_len"`
	Warmup       int            `json:"warmup"`
	Steps        int            `json:"steps"`
	TorchThreads int            `json:"torch_threads"`
	Seed         int            `json:"seed"`
	CPUProfile   string         `json:"cpuprofile,omitempty"`
	Recompute    bool           `json:"recompute,omitempty"` // distill side: activation recomputation per block
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
	Params      int64          `json:"params,omitempty"`        // the peer's parameter count
	setting     string
}

// defaultVocab is the vocabulary of a shape that takes it from the tokenizer
// (the embedded student presets' vocab_size 0) when -vocab is not given.
const defaultVocab = 4096

// options are the command's flags, checked once by check.
type options struct {
	configs                    string
	vocab, batch, seq, threads int
	steps, warmup              int
	torch, memory, recompute   bool
	profile                    string
}

func (o *options) check() error {
	switch {
	case o.vocab < 0:
		return fmt.Errorf("-vocab %d: want >= 0 (0: each shape's own vocab_size)", o.vocab)
	case o.batch <= 0 || o.seq <= 0 || o.threads <= 0:
		return fmt.Errorf("-batch %d -seq %d -threads %d: want > 0", o.batch, o.seq, o.threads)
	case o.steps <= 0 || o.warmup < 0:
		return fmt.Errorf("-steps %d -warmup %d: want steps > 0, warmup >= 0", o.steps, o.warmup)
	}
	return nil
}

func main() {
	var o options
	worker := flag.String("worker", "", "internal: run one distill job given as JSON")
	flag.StringVar(&o.configs, "configs", "tiny,mobilellm-125m:4", "comma-separated model shapes, each optionally cut to N layers (SHAPE:N): an embedded student preset, "+
		"a student YAML, a Hugging Face model directory or its config.json (read as `init:` reads it, e.g. bench/train/shapes/smollm2-135m) or a GGUF file")
	flag.IntVar(&o.vocab, "vocab", 0, fmt.Sprintf("vocabulary size of every row (0: each shape's own vocab_size; %d for presets that take it from the tokenizer)", defaultVocab))
	flag.IntVar(&o.batch, "batch", 8, "sequences per step")
	flag.IntVar(&o.seq, "seq", 128, "tokens per sequence")
	flag.IntVar(&o.threads, "threads", 2, "compute threads for both sides")
	flag.IntVar(&o.steps, "steps", 10, "timed steps")
	flag.IntVar(&o.warmup, "warmup", 2, "untimed steps first")
	flag.BoolVar(&o.torch, "torch", true, "run the PyTorch side")
	flag.BoolVar(&o.recompute, "recompute", false, "distill side: recompute each block's activations in the backward pass (train.recompute: blocks); the PyTorch side keeps them")
	flag.BoolVar(&o.memory, "memory", false, "peak RSS of full training steps only (no speeds printed): PyTorch under one thread setting "+
		"(torch=1 OMP=1 BLAS=threads, the speed runs' winner); use -steps 1 -warmup 1 (PyTorch allocates AdamW's moments in its first step)")
	flag.StringVar(&o.profile, "cpuprofile", "", "write the distill side's CPU profile to this file (prefix; one per config)")
	flag.Parse()
	if *worker != "" {
		if err := runWorker(*worker); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		return
	}
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/train:", err)
		os.Exit(2)
	}
	if err := runBench(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/train:", err)
		os.Exit(1)
	}
}

// shape is one row's model: its label and architecture.
type shape struct {
	label string
	cfg   student.Config
}

// loadShape resolves one -configs entry (see the flag) with vocab as -vocab
// and seq as -seq. The architecture comes from the one reader of its kind:
// configs.Load for presets and student YAML, checkpoint.PretrainedConfig
// (ReadHFConfig, the GGUF reader) for pretrained sources, so a shape here
// is the model distill would build for it.
func loadShape(spec string, vocab, seq int) (shape, error) {
	src, layers := spec, 0
	if i := strings.LastIndexByte(spec, ':'); i >= 0 {
		n, err := strconv.Atoi(spec[i+1:])
		if err != nil || n <= 0 {
			return shape{}, fmt.Errorf("config %q: want SHAPE or SHAPE:layers with layers > 0", spec)
		}
		src, layers = spec[:i], n
	}
	if src == "" {
		return shape{}, fmt.Errorf("config %q: empty shape", spec)
	}
	var (
		s     student.Config
		err   error
		label = src
	)
	fi, statErr := os.Stat(src)
	switch {
	case statErr == nil && fi.IsDir():
		s, err = checkpoint.PretrainedConfig(src) // a Hugging Face directory
		label = filepath.Base(filepath.Clean(src))
	case statErr == nil && filepath.Base(src) == checkpoint.HFConfigFile:
		s, err = checkpoint.ReadHFConfig(filepath.Dir(src))
		label = filepath.Base(filepath.Dir(filepath.Clean(src)))
	case statErr == nil && checkpoint.IsGGUF(src):
		s, err = checkpoint.PretrainedConfig(src)
		label = strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
	default:
		err = configs.Load(src, &s) // embedded preset or student YAML
	}
	if err != nil {
		return shape{}, fmt.Errorf("config %q: %w", spec, err)
	}
	switch {
	case vocab > 0:
		s.VocabSize = vocab
	case s.VocabSize == 0:
		s.VocabSize = defaultVocab
	}
	if layers > 0 {
		s.NLayers = layers
		label = fmt.Sprintf("%s (%d layers)", label, layers)
	}
	// context_length only bounds positions; a benchmark may run a shape at a
	// longer sequence than it was trained for.
	s.ContextLength = max(s.ContextLength, seq)
	if err := s.Validate(); err != nil {
		return shape{}, fmt.Errorf("config %q: %w", spec, err)
	}
	return shape{label: label, cfg: s}, nil
}

// newJob is the run of shape sh both sides share.
func newJob(sh shape, o options) job {
	c := sh.cfg
	return job{Name: sh.label, Student: c, HeadDim: c.HeadDim(), QKVBias: c.QKVBias(), QKNorm: c.QKNorm(), RopeInvFreqs: c.RopeInvFreqs(),
		Batch: o.batch, SeqLen: o.seq, Warmup: o.warmup, Steps: o.steps, Seed: 1, Recompute: o.recompute}
}

func runBench(o options) error {
	vocab := "per shape"
	if o.vocab > 0 {
		vocab = strconv.Itoa(o.vocab)
	}
	mode := fmt.Sprintf("%d timed steps after %d warm-up", o.steps, o.warmup)
	if o.memory {
		mode = fmt.Sprintf("peak RSS of %d warm-up + %d steps (no speeds)", o.warmup, o.steps)
	}
	fmt.Printf("bench/train: B=%d T=%d vocab=%s threads=%d, %s; distill recompute=%t; %s, GOMAXPROCS child=%d\nCPU: %s\n",
		o.batch, o.seq, vocab, o.threads, mode, o.recompute, runtime.Version(), o.threads, cpuinfo.Describe())
	if o.torch {
		fmt.Printf("PyTorch peer environment: %s\n", blaspeer.Removed())
	}
	var shapes []shape
	for _, spec := range strings.Split(o.configs, ",") {
		sh, err := loadShape(strings.TrimSpace(spec), o.vocab, o.seq)
		if err != nil {
			return err
		}
		shapes = append(shapes, sh)
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	if o.memory {
		fmt.Fprintln(tw, "config\tparams\tvocab\tdistill peak RSS\testimate\tPyTorch peak RSS\tPyTorch setting\tRSS ratio\t")
	} else {
		fmt.Fprintln(tw, "config\tparams\tdistill tok/s\ttok/CPU-s\tpeak RSS\tRSS start→end\tPyTorch tok/s\ttok/CPU-s\tpeak RSS\tPyTorch setting\tspeed ratio\tCPU-time ratio\tRSS ratio\t")
	}
	for _, sh := range shapes {
		s, label := sh.cfg, sh.label
		// Refuse a shape that cannot fit before starting it: the machine is
		// shared, and an OOM kill would take others' work with it.
		est := s.TrainingMemory(o.batch, o.seq, false, o.recompute)
		if avail, err := sysmem.Available(); err == nil {
			if err := s.CheckTrainingMemory(o.batch, o.seq, false, o.recompute, avail); err != nil {
				return fmt.Errorf("%s: %w", label, err)
			}
		}
		j := newJob(sh, o)
		if o.profile != "" {
			j.CPUProfile = o.profile + "." + strings.NewReplacer(":", "-", "/", "_").Replace(label) + ".pprof"
		}
		d, err := runDistill(j, o.threads)
		if err != nil {
			return fmt.Errorf("%s: distill: %w", label, err)
		}
		if o.steps >= 50 {
			var tr []string
			for _, k := range d.RSSTraceKiB {
				tr = append(tr, mib(k))
			}
			fmt.Fprintf(os.Stderr, "  %s: distill RSS every %d steps: %s\n", label, max(o.steps/10, 1), strings.Join(tr, ", "))
		}
		params := fmt.Sprintf("%.2fM", float64(s.ParamCount())/1e6)
		var p result
		if o.torch {
			settings := torchSettings(o.threads)
			if o.memory {
				settings = settings[:1]
			}
			if p, err = runTorchBest(j, settings, s.ParamCount()); err != nil {
				return fmt.Errorf("%s: torch: %w", label, err)
			}
		}
		var row string
		switch {
		case o.memory && o.torch:
			row = fmt.Sprintf("%s\t%s\t%d\t%s\t%s\t%s\t%s\t%.2f×\t", label, params, s.VocabSize, mib(d.PeakRSSKiB), mib(est.Total()>>10),
				mib(p.PeakRSSKiB), p.setting, float64(d.PeakRSSKiB)/float64(p.PeakRSSKiB))
		case o.memory:
			row = fmt.Sprintf("%s\t%s\t%d\t%s\t%s\t-\t-\t-\t", label, params, s.VocabSize, mib(d.PeakRSSKiB), mib(est.Total()>>10))
		case o.torch:
			row = fmt.Sprintf("%s\t%s\t%.0f\t%.0f\t%s\t%s→%s\t%.0f\t%.0f\t%s\t%s\t%.2f×\t%.2f×\t%.2f×\t", label, params,
				d.TokensPerS, d.perCPU(), mib(d.PeakRSSKiB), mib(d.RSSStartKiB), mib(d.RSSEndKiB),
				p.TokensPerS, p.perCPU(), mib(p.PeakRSSKiB), p.setting,
				d.TokensPerS/p.TokensPerS, d.perCPU()/p.perCPU(), float64(d.PeakRSSKiB)/float64(p.PeakRSSKiB))
		default:
			row = fmt.Sprintf("%s\t%s\t%.0f\t%.0f\t%s\t%s→%s\t-\t-\t-\t-\t-\t-\t-\t", label, params,
				d.TokensPerS, d.perCPU(), mib(d.PeakRSSKiB), mib(d.RSSStartKiB), mib(d.RSSEndKiB))
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

// torchSetting is one thread configuration of the PyTorch peer.
type torchSetting struct{ intra, omp, blas int }

// torchSettings are the usual thread settings, the one that wins the speed
// runs first.
func torchSettings(threads int) []torchSetting {
	return []torchSetting{
		{1, 1, threads},       // one torch thread, OpenBLAS threads inside GEMM (best in the notes)
		{threads, threads, 1}, // torch's intra-op pool, single-threaded BLAS
		{threads, threads, threads},
	}
}

// runTorchBest runs the PyTorch peer under settings and returns the
// fastest. The peer must build params parameters, as distill's student does.
func runTorchBest(j job, settings []torchSetting, params int64) (result, error) {
	dir, err := os.MkdirTemp("", "bench-train-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	script := dir + "/torch_step.py"
	if err := os.WriteFile(script, []byte(blaspeer.InfoPy+torchScript), 0o644); err != nil {
		return result{}, err
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
		if r.Params != params {
			return result{}, fmt.Errorf("PyTorch peer built %d parameters, distill's student has %d: the two models differ", r.Params, params)
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
	m, err := student.New(j.Student, loss.Config{Alpha: 0, Temperature: 1}, int64(j.Seed))
	if err != nil {
		return err
	}
	m.SetRecompute(j.Recompute)
	opt, err := optim.NewAdamW(optim.AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}, m.Params(), nil)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(7, 7))
	n := j.Batch * j.SeqLen
	b := &batch.Batch{B: j.Batch, T: j.SeqLen, Tokens: make([]int32, n), Targets: make([]int32, n), LossMask: make([]float32, n)}
	for i := range b.Tokens {
		b.Tokens[i] = int32(r.IntN(j.Student.VocabSize))
		b.Targets[i] = int32(r.IntN(j.Student.VocabSize))
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
