// Command collect measures teacher-signal collection (distill/collect):
//
//  1. Client overhead: the whole collector (go-openai request, response
//     validation, token mapping, dataset segments, journal) against an
//     OpenAI-compatible server in a separate process over loopback HTTP, at
//     concurrency 1/4/16, with a scripted byte-level backend that answers at
//     once (so the client is what is measured) and with distill's runtime
//     serving a random-weight GGUF (so the server is the bound). Requests/s,
//     and client and server CPU time per request.
//  2. Local GGUF teacher: collection tokens/s against the runtime's raw
//     forward (Session.EvalAll) on the same token sequences, with and without
//     hidden states.
//
// CPU time (user+sys from getrusage and /proc) is reported next to
// wall-clock because the machine is shared.
//
//	go run ./bench/collect               # everything (~1-2 min on 2 cores)
//	go run ./bench/collect -n 2000       # more requests per point
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/distill-ml/distill/bench/runtime/rtbench"
	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/distill/collect"
	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/distill/engine"
	"github.com/distill-ml/distill/distill/policy"
	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/distill/serve/servetest"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/cpuinfo"
	"github.com/distill-ml/distill/internal/sysmem"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/model/student"
)

const benchPolicy = `version: 1
teachers:
  bench-http: {remote: false}
  bench-local: {remote: false}
classes:
  public: {teachers: [bench-http, bench-local], store: [text, logprobs, hidden_states]}
`

func main() {
	if spec := os.Getenv("BENCH_COLLECT_SERVE"); spec != "" {
		if err := childServe(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	n := flag.Int("n", 600, "requests per scripted-server point")
	nReal := flag.Int("n-real", 48, "requests per runtime-server point")
	nLocal := flag.Int("n-local", 200, "rows for the local-teacher comparison")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of this (client) process")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*n, *nReal, *nLocal); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench/collect:", err)
		os.Exit(1)
	}
}

// childServe serves "scripted" (servetest) or "gguf:PATH" (the runtime) on a
// loopback port, prints the address and serves until stdin closes.
func childServe(spec string) error {
	var b serve.Backend
	opt := serve.Options{MaxTopLogprobs: 20}
	if spec == "scripted" || spec == "scripted-slow" {
		slow := spec == "scripted-slow"
		b = servetest.Model{Script: func(p []byte) string {
			if slow { // the runtime server's latency, without its work
				time.Sleep(30 * time.Millisecond)
			}
			return fmt.Sprintf(" Answer %d: replace it [§3.%d].", len(p), len(p)%7)
		}}
		opt.NewSampler, opt.Parallel = servetest.GreedyFactory, 16
	} else {
		m, err := engine.Load(strings.TrimPrefix(spec, "gguf:"), infer.Options{})
		if err != nil {
			return err
		}
		b = m
		opt.NewSampler, opt.Parallel = engine.Sampler, 2
	}
	s, err := serve.New(b, opt)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("addr http://%s/v1\n", ln.Addr())
	go func() { bufio.NewReader(os.Stdin).ReadString('\n'); os.Exit(0) }()
	return (&http.Server{Handler: s}).Serve(ln)
}

// startServer runs the OpenAI-compatible server in a child process (this
// executable again), so its CPU time is measured apart from the client's.
func startServer(spec string) (*rtbench.Child, error) {
	return rtbench.StartChild("BENCH_COLLECT_SERVE=" + spec)
}

// cpuOf reads a live process's user+sys CPU time from /proc (clock ticks of 10 ms).
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func loadPolicy() (*policy.Policy, error) {
	var p policy.Policy
	if err := configs.Decode("bench-policy", []byte(benchPolicy), &p); err != nil {
		return nil, err
	}
	return &p, p.Validate()
}

func writePrompts(path string, n int, withRef bool, rng *rand.Rand) error {
	var b strings.Builder
	words := strings.Fields("replace the scanner battery after charge cycles policy section vendor warranty covered device repair return within days")
	for i := 0; i < n; i++ {
		var q, a []string
		for k := 0; k < 12; k++ {
			q = append(q, words[rng.Intn(len(words))])
		}
		for k := 0; k < 40; k++ {
			a = append(a, words[rng.Intn(len(words))])
		}
		p := map[string]string{"prompt": fmt.Sprintf("Q%d: %s?", i, strings.Join(q, " "))}
		if withRef {
			p["completion"] = " " + strings.Join(a, " ") + "."
		}
		line, _ := json.Marshal(p)
		b.Write(line)
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// benchModel exports a random-weight GGUF (vocabulary from a tokenizer trained
// on varied text) and returns its path and tokenizer.
func benchModel(dir string, rng *rand.Rand) (string, *tokenizer.Tokenizer, error) {
	var texts []string
	letters := "abcdefghijklmnopqrstuvwxyz"
	for i := 0; i < 3000; i++ {
		var ws []string
		for k := 0; k < 20; k++ {
			l := 2 + rng.Intn(7)
			w := make([]byte, l)
			for j := range w {
				w[j] = letters[rng.Intn(8+rng.Intn(18))]
			}
			ws = append(ws, string(w))
		}
		texts = append(texts, strings.Join(ws, " ")+" replace the scanner battery after charge cycles policy section vendor warranty covered device repair return within days")
	}
	tok, err := tokenizer.TrainStrings(texts, tokenizer.TrainConfig{VocabSize: 4096}, nil)
	if err != nil {
		return "", nil, err
	}
	if err := tok.Save(filepath.Join(dir, "tokenizer.json")); err != nil {
		return "", nil, err
	}
	cfg := student.Config{VocabSize: tok.VocabSize(), DModel: 256, NLayers: 6, NHeads: 4, NKVHeads: 2, FFNDim: 704,
		ContextLength: 512, RopeBase: 10000, NormEps: 1e-5}
	m, err := export.RandomModel(cfg, 5)
	if err != nil {
		return "", nil, err
	}
	m.Vocab = export.TokenizerVocab(tok)
	m.Name, m.Version = "bench-collect", "1"
	path := filepath.Join(dir, "teacher.gguf")
	return path, tok, export.Write(path, m, export.Options{Type: quant.FileF32})
}

type point struct {
	name              string
	conc              int
	reqs              int
	wall, client, srv time.Duration
	tokens            int64
	failed            int
}

func httpPoint(dir, name, url string, srvPID, conc, n int, tok collect.Tokenizer, hash string, pol *policy.Policy, rng *rand.Rand) (point, error) {
	prompts := filepath.Join(dir, fmt.Sprintf("%s-c%d.jsonl", name, conc))
	if err := writePrompts(prompts, n, false, rng); err != nil {
		return point{}, err
	}
	oc := teacher.OpenAIConfig{Name: "bench-http", BaseURL: url, Model: "", Mode: "chat", Timeout: 5 * time.Minute}
	cfg := collect.Config{Prompts: prompts, Out: filepath.Join(dir, fmt.Sprintf("out-%s-c%d", name, conc)), Policy: "bench", Tokenizer: "bench",
		Teacher:  collect.TeacherConfig{Kind: "openai", TokenizerHash: hash, OpenAI: &oc},
		Sampling: collect.Sampling{MaxTokens: 16}, TopK: 5, Concurrency: conc, SegmentRows: 256}
	cfg.Defaults()
	return runPoint(name, cfg, srvPID, n, tok, pol, nil)
}

func runPoint(name string, cfg collect.Config, srvPID, n int, tok collect.Tokenizer, pol *policy.Policy, local *teacher.Local) (point, error) {
	var tt teacher.Teacher
	opt := collect.Options{Config: cfg, Tokenizer: tok, EOS: -1, Policy: pol, Seed: 1}
	if local != nil {
		tt = local
		opt.HiddenLayers, opt.HiddenDim = cfg.Teacher.Local.HiddenLayers, local.HiddenDim()
	} else {
		if cfg.Teacher.OpenAI.Model == "" {
			cfg.Teacher.OpenAI.Model = modelID(cfg.Teacher.OpenAI.BaseURL)
			opt.Config = cfg
		}
		t, err := teacher.NewOpenAI(*cfg.Teacher.OpenAI)
		if err != nil {
			return point{}, err
		}
		tt = t
	}
	opt.Teacher = tt
	c0, s0, t0 := sysmem.CPUTime(), time.Duration(0), time.Now()
	if srvPID > 0 {
		s0 = cpuOf(srvPID)
	}
	sum, err := collect.Run(context.Background(), opt)
	if err != nil {
		return point{}, err
	}
	p := point{name: name, conc: cfg.Concurrency, reqs: n, wall: time.Since(t0), client: sysmem.CPUTime() - c0, tokens: sum.Tokens, failed: sum.Failed}
	if srvPID > 0 {
		p.srv = cpuOf(srvPID) - s0
	}
	if sum.Failed > 0 {
		return p, fmt.Errorf("%s: %d requests failed: %v", name, sum.Failed, sum.FailuresByReason)
	}
	return p, nil
}

// requestsOnly sends n chat requests (top-5 logprobs, 16 tokens) through the
// collector's OpenAI teacher at concurrency c, without storing anything.
func requestsOnly(srv *rtbench.Child, name string, c, n int) (point, error) {
	tt, err := teacher.NewOpenAI(teacher.OpenAIConfig{Name: "bench-http", BaseURL: srv.Addr, Model: modelID(srv.Addr), Mode: "chat", Timeout: 5 * time.Minute})
	if err != nil {
		return point{}, err
	}
	jobs := make(chan int)
	errs := make(chan error, c)
	c0, s0, t0 := sysmem.CPUTime(), cpuOf(srv.Cmd.Process.Pid), time.Now()
	for w := 0; w < c; w++ {
		go func() {
			var first error
			for i := range jobs {
				_, err := tt.Complete(context.Background(), teacher.Request{Prompt: fmt.Sprintf("Q%d: replace the scanner battery?", i), MaxTokens: 16, TopLogprobs: 5})
				if err != nil && first == nil {
					first = err
				}
			}
			errs <- first
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	for w := 0; w < c; w++ {
		if err := <-errs; err != nil {
			return point{}, err
		}
	}
	return point{name: name + ", requests only", conc: c, reqs: n, wall: time.Since(t0), client: sysmem.CPUTime() - c0, srv: cpuOf(srv.Cmd.Process.Pid) - s0}, nil
}

func modelID(base string) string {
	resp, err := http.Get(base + "/models")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var l struct{ Data []struct{ ID string } }
	json.NewDecoder(resp.Body).Decode(&l)
	if len(l.Data) == 0 {
		return ""
	}
	return l.Data[0].ID
}

func run(n, nReal, nLocal int) error {
	dir, err := os.MkdirTemp("", "bench-collect-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rng := rand.New(rand.NewSource(1))
	pol, err := loadPolicy()
	if err != nil {
		return err
	}
	gguf, tok, err := benchModel(dir, rng)
	if err != nil {
		return err
	}
	fmt.Printf("bench model: random-weight llama F32, vocab %d, d 256, 6 layers, ffn 704 (GOMAXPROCS %d, %d CPUs)\n\n",
		tok.VocabSize(), runtime.GOMAXPROCS(0), numCPU())

	// 1. Client overhead over loopback HTTP.
	var fixedCost time.Duration
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tconcurrency\trequests\trequests/s\tclient CPU ms/request\tserver CPU ms/request\tclient CPU share\t")
	emit := func(p point) {
		rps := float64(p.reqs) / p.wall.Seconds()
		cms := p.client.Seconds() * 1000 / float64(p.reqs)
		sms := p.srv.Seconds() * 1000 / float64(p.reqs)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.3f\t%.3f\t%.0f%%\t\n", p.name, p.conc, p.reqs, rps, cms, sms, 100*p.client.Seconds()/(p.client.Seconds()+p.srv.Seconds()))
	}
	for _, sp := range []struct{ name, spec string }{{"scripted", "scripted"}, {"scripted +30 ms", "scripted-slow"}, {"runtime", "gguf:" + gguf}} {
		srv, err := startServer(sp.spec)
		if err != nil {
			return err
		}
		var t collect.Tokenizer = servetest.Tokenizer{}
		hash := servetest.Tokenizer{}.Hash()
		reqs := n
		switch sp.name {
		case "runtime":
			t, hash, reqs = tok, tok.Hash(), nReal
		case "scripted +30 ms":
			reqs = nReal
		}
		// Warm up connections and caches.
		if _, err := httpPoint(dir, sp.name+"-warm", srv.Addr, srv.Cmd.Process.Pid, 4, 8, t, hash, pol, rng); err != nil {
			srv.Stop()
			return err
		}
		if sp.name == "scripted" {
			// A run's fixed cost: one request, best of five.
			best := time.Duration(1 << 62)
			for i := 0; i < 5; i++ {
				p, err := httpPoint(dir, fmt.Sprintf("fixed%d", i), srv.Addr, srv.Cmd.Process.Pid, 1, 1, t, hash, pol, rng)
				if err != nil {
					srv.Stop()
					return err
				}
				best = min(best, p.client)
			}
			fixedCost = best
		}
		for _, c := range []int{1, 4, 16} {
			p, err := httpPoint(dir, sp.name, srv.Addr, srv.Cmd.Process.Pid, c, reqs, t, hash, pol, rng)
			if err != nil {
				srv.Stop()
				return err
			}
			emit(p)
		}
		{
			// The request path alone (go-openai, response validation): no
			// token mapping, dataset or journal.
			for _, c := range []int{1, 4, 16} {
				p, err := requestsOnly(srv, sp.name, c, reqs)
				if err != nil {
					srv.Stop()
					return err
				}
				emit(p)
			}
		}
		srv.Stop()
	}
	tw.Flush()
	fmt.Printf("  (a run of one request costs the client %.1f ms of CPU: prompts, policy, dataset files, manifest, fsyncs;\n   included above, i.e. %.2f ms/request at %d requests and %.2f at %d)\n",
		fixedCost.Seconds()*1000, fixedCost.Seconds()*1000/float64(n), n, fixedCost.Seconds()*1000/float64(nReal), nReal)
	c0 := sysmem.CPUTime()
	time.Sleep(3 * time.Second)
	fmt.Printf("  (this process idle for 3 s: %.1f ms of CPU per second)\n", (sysmem.CPUTime()-c0).Seconds()*1000/3)

	// 2. Local teacher against the raw forward on the same sequences.
	fmt.Println()
	m, err := infer.Load(gguf, infer.Options{})
	if err != nil {
		return err
	}
	defer m.Close()
	prompts := filepath.Join(dir, "local.jsonl")
	if err := writePrompts(prompts, nLocal, true, rng); err != nil {
		return err
	}
	ps, err := collect.ReadPrompts(prompts, "bench")
	if err != nil {
		return err
	}
	eos := tok.Special().EOS
	var seqs [][]int32
	var fwdTokens int64
	for _, p := range ps {
		full := append(tok.Encode(p.Prompt), tok.Encode(p.Completion)...)
		full = append(full, eos)
		seqs = append(seqs, full[:len(full)-1])
		fwdTokens += int64(len(full) - 1)
	}
	raw := func(hidden []int) (time.Duration, time.Duration, error) {
		c0, t0 := sysmem.CPUTime(), time.Now()
		for _, s := range seqs {
			if _, err := m.NewSession(len(s)).EvalAll(s); err != nil {
				return 0, 0, err
			}
			if len(hidden) > 0 {
				if _, err := m.NewSession(len(s)).HiddenStates(s, hidden); err != nil {
					return 0, 0, err
				}
			}
		}
		return time.Since(t0), sysmem.CPUTime() - c0, nil
	}
	tw = tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "local teacher (%d rows, %d forward tokens, top-16 of %d)\tconcurrency\ttokens/s\tCPU µs/token\tvs raw EvalAll (wall)\tvs raw (CPU)\t\n", len(seqs), fwdTokens, tok.VocabSize())
	rawWall, rawCPU, err := raw(nil) // warm-up
	if err != nil {
		return err
	}
	if rawWall, rawCPU, err = raw(nil); err != nil {
		return err
	}
	row := func(name string, conc int, wall, cpu time.Duration) {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.1f\t%.2f×\t%.2f×\t\n", name, conc, float64(fwdTokens)/wall.Seconds(), float64(cpu.Microseconds())/float64(fwdTokens),
			rawWall.Seconds()/wall.Seconds(), rawCPU.Seconds()/cpu.Seconds())
	}
	row("raw Session.EvalAll", 1, rawWall, rawCPU)
	for _, hidden := range [][]int{nil, {3, 6}} {
		name := "collect (local, reference)"
		if hidden != nil {
			name = "collect + hidden layers [3 6]"
		}
		for _, c := range []int{1, 2} {
			lc := teacher.LocalConfig{Name: "bench-local", Model: gguf, Completion: "reference", HiddenLayers: hidden, Context: 512}
			lt, err := teacher.NewLocal(lc, m, tok, eos)
			if err != nil {
				return err
			}
			cfg := collect.Config{Prompts: prompts, Out: filepath.Join(dir, fmt.Sprintf("local-%d-%d", len(hidden), c)), Policy: "bench", Tokenizer: "bench",
				Teacher: collect.TeacherConfig{Kind: "local", Local: &lc}, Sampling: collect.Sampling{MaxTokens: 64, Temperature: 1},
				TopK: 16, Concurrency: c, SegmentRows: 256}
			cfg.Defaults()
			p, err := runPoint(name, cfg, 0, len(seqs), tok, pol, lt)
			if err != nil {
				return err
			}
			row(name, c, p.wall, p.client)
		}
		if hidden != nil {
			w, c, err := raw(hidden)
			if err != nil {
				return err
			}
			row("raw EvalAll + HiddenStates", 1, w, c)
		}
	}
	tw.Flush()
	return nil
}

func numCPU() int {
	in, _ := cpuinfo.Read()
	return in.CPUs
}
