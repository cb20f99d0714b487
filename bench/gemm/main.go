// Command gemm benchmarks num/kernels.Sgemm against OpenBLAS (numpy under
// /usr/bin/python3, Debian's libopenblas0-pthread) in the same run, on the
// GEMM shapes of distill's presets, with 1 and 2 threads, and prints a
// Markdown table with GFLOP/s and the ratio to OpenBLAS.
//
//	go run ./bench/gemm                   # all shapes, 1 and 2 threads
//	go run ./bench/gemm -threads 1 -kernels all -min-time 1s
//	go run ./bench/gemm -threads 1 -clock thread   # CPU time, for a loaded machine
//	go run ./bench/gemm -gorgonia                  # plus Gorgonia Mul: gonum vs gonumblas
//
// Each figure is the best time over several rounds that alternate numpy and
// distill on the same shape (so both see the same machine load), each round
// timing repeated calls (at least 3, and -min-time/rounds in total) after a
// warm-up call: the same rule on both sides.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/distill-ml/distill/bench/internal/blaspeer"
	"github.com/distill-ml/distill/internal/cpuinfo"
	"github.com/distill-ml/distill/num/kernels"
	"github.com/distill-ml/distill/num/parallel"
)

// shape is one GEMM: C[m,n] = op(A)·op(B), op(A) m×k, op(B) k×n.
type shape struct {
	Name           string
	TransA, TransB bool
	M, N, K        int
}

func (s shape) op() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return t(s.TransA) + t(s.TransB)
}

func (s shape) flops() float64 {
	return 2 * float64(s.M) * float64(s.N) * float64(s.K)
}

// shapes are the training GEMMs of the presets (tokens = batch·seq rows):
// forward x·W (NN), input gradient dy·Wᵀ (NT), weight gradient xᵀ·dy (TN),
// the tied LM head x·Eᵀ over a 32000 vocabulary (scaled to 512 tokens), 512³.
var shapes = []shape{
	{"512³", false, false, 512, 512, 512},
	{"tiny d256 qkv/out", false, false, 1024, 256, 256},
	{"tiny d256 ffn up", false, false, 1024, 688, 256},
	{"tiny d256 ffn down", false, false, 1024, 256, 688},
	{"125m d576 ffn up", false, false, 2048, 1536, 576},
	{"125m d576 ffn down", false, false, 2048, 576, 1536},
	{"125m d576 ffn dX", false, true, 2048, 576, 1536},
	{"125m d576 ffn dW", true, false, 576, 1536, 2048},
	{"350m d960 ffn up", false, false, 2048, 2560, 960},
	{"350m d960 ffn down", false, false, 2048, 960, 2560},
	{"125m vocab head", false, true, 512, 32000, 576},
}

// pyScript serves timing requests, one JSON line per shape on stdin, one
// JSON line back: the best time of np.matmul over at least 3 calls and
// min_time seconds, after a warm-up call. Operands are built once per shape.
// On each new shape it first checks its own product against a float64
// reference (blaspeer.InfoPy) and returns the error with the time.
const pyScript = blaspeer.InfoPy + `
import json, sys, time
import numpy as np
info = openblas_info()
info["numpy"] = np.__version__
print(json.dumps(info), flush=True)
rng = np.random.default_rng(1)
key, ops = None, None
for line in sys.stdin:
    req = json.loads(line)
    s = req["shape"]
    m, n, k = s["M"], s["N"], s["K"]
    if key != line:
        A = rng.standard_normal((k, m) if s["TransA"] else (m, k), dtype=np.float32)
        B = rng.standard_normal((n, k) if s["TransB"] else (k, n), dtype=np.float32)
        a = A.T if s["TransA"] else A
        b = B.T if s["TransB"] else B
        C = np.empty((m, n), dtype=np.float32)
        np.matmul(a, b, out=C)
        rel_err = sgemm_rel_err(C, a, b)
        key = line
    clock = time.thread_time if req["clock"] == "thread" else time.perf_counter
    reps, total, best = 0, 0.0, float("inf")
    while reps < 3 or total < req["min_time"]:
        t0 = clock()
        np.matmul(a, b, out=C)
        dt = clock() - t0
        best = min(best, dt); total += dt; reps += 1
    print(json.dumps({"seconds": best, "rel_err": rel_err}), flush=True)
`

// peer is a running numpy timing server.
type peer struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *json.Decoder
	info peerInfo
}

type peerInfo struct {
	Numpy string `json:"numpy"`
	blaspeer.Info
}

func startPeer(python string, threads int) (*peer, error) {
	cmd := exec.Command(python, "-c", pyScript)
	cmd.Env, _ = blaspeer.Env(os.Environ(), map[string]int{"OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads})
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start numpy peer %s: %w", python, err)
	}
	p := &peer{cmd: cmd, in: in, out: json.NewDecoder(out)}
	if err := p.out.Decode(&p.info); err != nil {
		p.close()
		return nil, fmt.Errorf("numpy peer %s: read startup line: %w", python, err)
	}
	if err := p.info.Check(threads); err != nil {
		p.close()
		return nil, fmt.Errorf("numpy under %s: %w", python, err)
	}
	return p, nil
}

// time returns numpy's best time for s over at least minTime.
func (p *peer) time(s shape, minTime time.Duration, clock string) (time.Duration, error) {
	req, err := json.Marshal(map[string]any{"shape": s, "min_time": minTime.Seconds(), "clock": clock})
	if err != nil {
		return 0, err
	}
	if _, err := p.in.Write(append(req, '\n')); err != nil {
		return 0, fmt.Errorf("numpy peer: send %s: %w", s.Name, err)
	}
	var resp struct {
		Seconds float64
		RelErr  float64 `json:"rel_err"`
	}
	if err := p.out.Decode(&resp); err != nil {
		return 0, fmt.Errorf("numpy peer: result for %s: %w", s.Name, err)
	}
	if err := blaspeer.CheckErr(s.Name, resp.RelErr); err != nil {
		return 0, err
	}
	return time.Duration(resp.Seconds * float64(time.Second)), nil
}

func (p *peer) close() {
	p.in.Close()
	p.cmd.Wait()
}

func randSlice(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// goCase holds one shape's operands for repeated timing.
type goCase struct {
	s        shape
	a, b, c  []float32
	lda, ldb int
}

func newGoCase(s shape) *goCase {
	r := rand.New(rand.NewSource(1))
	g := &goCase{s: s, a: randSlice(r, s.M*s.K), b: randSlice(r, s.K*s.N), c: make([]float32, s.M*s.N), lda: s.K, ldb: s.N}
	if s.TransA {
		g.lda = s.M
	}
	if s.TransB {
		g.ldb = s.K
	}
	return g
}

// time returns the best time of e.Sgemm under the same rule as numpy.
func (g *goCase) time(e *kernels.Engine, minTime time.Duration, clock func() time.Duration) time.Duration {
	s := g.s
	run := func() { e.Sgemm(s.TransA, s.TransB, s.M, s.N, s.K, 1, g.a, g.lda, g.b, g.ldb, 0, g.c, s.N) }
	run()
	best, total := time.Duration(1<<62), time.Duration(0)
	for reps := 0; reps < 3 || total < minTime; reps++ {
		t0 := clock()
		run()
		d := clock() - t0
		best, total = min(best, d), total+d
	}
	return best
}

// rounds is how many alternations of peer and ours each shape gets.
const rounds = 3

func main() {
	threadsFlag := flag.String("threads", "1,2", "comma-separated thread counts")
	kernelsFlag := flag.String("kernels", "best", `micro-kernels to time: "best", "all", or comma-separated names from kernels.Kernels()`)
	python := flag.String("python", "/usr/bin/python3", "Python with numpy on OpenBLAS")
	minTime := flag.Duration("min-time", 500*time.Millisecond, "minimum total time per measurement")
	only := flag.String("shapes", "", "comma-separated substrings selecting shapes by name (default all)")
	gorgonia := flag.Bool("gorgonia", false, "also time a Gorgonia graph Mul with its default BLAS and with gonumblas (NN shapes)")
	clock := flag.String("clock", "wall", `"wall" (elapsed time) or "thread" (CPU time of the computing thread: 1 thread only, robust when other processes share the cores)`)
	flag.Parse()
	if err := run(os.Stdout, *threadsFlag, *kernelsFlag, *python, *minTime, *only, *clock, *gorgonia); err != nil {
		fmt.Fprintln(os.Stderr, "gemm bench:", err)
		os.Exit(1)
	}
}

// wallClock and threadClock are the two time sources; threadClock needs the
// goroutine locked to its OS thread and a 1-thread pool (all compute inline).
var start = time.Now()

func wallClock() time.Duration { return time.Since(start) }

func threadClock() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}

func run(w io.Writer, threadsFlag, kernelsFlag, python string, minTime time.Duration, only, clockName string, gorgonia bool) error {
	var threads []int
	for _, f := range strings.Split(threadsFlag, ",") {
		t, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || t < 1 {
			return fmt.Errorf("-threads: bad thread count %q", f)
		}
		threads = append(threads, t)
	}
	clock := wallClock
	switch clockName {
	case "wall":
	case "thread":
		for _, t := range threads {
			if t != 1 {
				return fmt.Errorf("-clock thread measures one thread's CPU time: use it with -threads 1")
			}
		}
		if gorgonia {
			return fmt.Errorf("-gorgonia needs -clock wall: gonum computes on its own goroutines")
		}
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		clock = threadClock
	default:
		return fmt.Errorf("-clock: %q is neither wall nor thread", clockName)
	}
	var kernNames []string
	switch kernelsFlag {
	case "best":
		kernNames = kernels.Kernels()[:1]
	case "all":
		kernNames = kernels.Kernels()
	default:
		kernNames = strings.Split(kernelsFlag, ",")
	}
	ss := shapes
	if only != "" {
		ss = nil
		for _, s := range shapes {
			for _, o := range strings.Split(only, ",") {
				if strings.Contains(s.Name, o) {
					ss = append(ss, s)
					break
				}
			}
		}
		if len(ss) == 0 {
			return fmt.Errorf("-shapes %q selects no shape", only)
		}
	}
	fmt.Fprintf(w, "CPU: %s\npeer environment: %s\n\n", cpuinfo.Describe(), blaspeer.Removed())
	fmt.Fprintf(w, "| shape | op | m×n×k | threads | kernel | distill GFLOP/s | OpenBLAS GFLOP/s | ratio |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|\n")
	var info peerInfo
	for _, t := range threads {
		py, err := startPeer(python, t)
		if err != nil {
			return err
		}
		info = py.info
		pool := parallel.New(t)
		engines := make([]*kernels.Engine, len(kernNames))
		for i, kn := range kernNames {
			if engines[i], err = kernels.NewEngine(pool).WithKernel(kn); err != nil {
				py.close()
				return err
			}
		}
		for _, s := range ss {
			// Alternate peer and ours in rounds so both see the same machine
			// load; keep the best of each.
			g := newGoCase(s)
			peerBest := time.Duration(1 << 62)
			ours := make([]time.Duration, len(engines))
			for i := range ours {
				ours[i] = 1 << 62
			}
			for r := 0; r < rounds; r++ {
				d, err := py.time(s, minTime/rounds, clockName)
				if err != nil {
					py.close()
					return err
				}
				peerBest = min(peerBest, d)
				for i, e := range engines {
					ours[i] = min(ours[i], g.time(e, minTime/rounds, clock))
				}
			}
			peerRate := s.flops() / peerBest.Seconds() / 1e9
			for i, kn := range kernNames {
				rate := s.flops() / ours[i].Seconds() / 1e9
				dims := fmt.Sprintf("%d×%d×%d", s.M, s.N, s.K)
				fmt.Fprintf(w, "| %s | %s | %s | %d | %s | %.1f | %.1f | %.2f |\n",
					s.Name, s.op(), dims, t, kn, rate, peerRate, rate/peerRate)
			}
		}
		py.close()
	}
	fmt.Fprintf(w, "\nclock: %s; peer: numpy %s, %s (%v), every shape's product checked against float64\n", clockName, info.Numpy, info.Info, info.Libs)
	if gorgonia {
		return runGorgonia(w, threads, ss, minTime)
	}
	return nil
}
