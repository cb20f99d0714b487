// Command serve benchmarks `distill serve` (distill/serve over the runtime)
// on loopback: a random-weight GGUF is served by a child process (this
// binary re-executed) with the production defaults plus an API key, and the
// parent measures
//
//  1. normal traffic: /v1/completions (max_tokens 16) at concurrency 1, 4
//     and 16: requests/s and p50/p95 latency;
//  2. an abuse mix interleaved with normal traffic at concurrency 4: bodies
//     over the limit, ~200,000 stop strings, prompts far too long for the
//     context, stalled (slow) bodies and wrong API keys. It reports what
//     each abuse got back, how many stalled connections the server closed,
//     normal traffic's requests/s and p95 meanwhile, and the server's peak
//     RSS (VmHWM) before and after the mix.
//
// Everything is bounded: -n requests per point, -abuse requests per abuse
// kind, -slow stalled connections, and -timeout for the whole run. Only
// 127.0.0.1 is used. Like bench/runtime it records the CPU, the load average
// (`uptime`) at start and end, and how many cores other processes used
// meanwhile: the machine may be shared.
//
//	go run ./bench/serve                 # ~1-2 min on 2 cores
//	go run ./bench/serve -n 200 -slow 100
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/distill-ml/distill/bench/runtime/rtbench"
	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/distill/engine"
	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/sysmem"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/model/student"
)

// childEnv names the GGUF the re-executed child serves.
const childEnv = "BENCH_SERVE_CHILD"

// benchKey is the API key of the benchmark server (loopback only).
const benchKey = "bench-serve-key"

type config struct {
	n, abuse, slow, parallel int
	readTimeout, timeout     time.Duration
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("bench/serve", flag.ContinueOnError)
	c := &config{}
	fs.IntVar(&c.n, "n", 48, "normal requests per concurrency point and during the abuse mix")
	fs.IntVar(&c.abuse, "abuse", 8, "requests per abuse kind (huge body, many stops, huge prompt, bad key)")
	fs.IntVar(&c.slow, "slow", 50, "stalled-body connections in the abuse mix")
	fs.IntVar(&c.parallel, "parallel", 2, "server decode slots (distill serve --parallel)")
	fs.DurationVar(&c.readTimeout, "read-timeout", 2*time.Second, "server read timeout (distill serve --read-timeout): when stalled bodies are dropped")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "bound on the whole run")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.n < 1 || c.abuse < 0 || c.slow < 0 || c.parallel < 1 || c.readTimeout <= 0 || c.timeout <= 0 {
		return nil, errors.New("-n and -parallel must be >= 1, -abuse and -slow >= 0, durations > 0")
	}
	return c, nil
}

func main() {
	if gguf := os.Getenv(childEnv); gguf != "" {
		if err := child(gguf, os.Getenv(childEnv+"_ARGS")); err != nil {
			fmt.Fprintln(os.Stderr, "bench/serve child:", err)
			os.Exit(1)
		}
		return
	}
	c, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err == nil {
		err = run(c, os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/serve:", err)
		os.Exit(1)
	}
}

// child serves gguf on 127.0.0.1 as `distill serve` does, prints its address,
// answers "rss" lines on stdin with its VmRSS and VmHWM, and exits when stdin
// closes.
func child(gguf, args string) error {
	f := strings.Fields(args)
	if len(f) != 2 {
		return fmt.Errorf("%s_ARGS %q: want PARALLEL READ_TIMEOUT", childEnv, args)
	}
	parallel, err := strconv.Atoi(f[0])
	if err != nil {
		return err
	}
	readTimeout, err := time.ParseDuration(f[1])
	if err != nil {
		return err
	}
	m, err := engine.Load(gguf, infer.Options{})
	if err != nil {
		return err
	}
	defer m.Close()
	s, err := serve.New(m, serve.Options{Parallel: parallel, NewSampler: engine.Sampler, APIKey: benchKey, ReadTimeout: readTimeout})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go s.HTTPServer().Serve(ln)
	fmt.Printf("addr %s\n", ln.Addr())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "rss" {
			fmt.Printf("rss %d %d\n", sysmem.ProcStatusBytes("VmRSS"), sysmem.ProcStatusBytes("VmHWM"))
		}
	}
	return nil
}

// server is the child process.
type server struct{ *rtbench.Child }

func startServer(gguf string, c *config) (*server, error) {
	child, err := rtbench.StartChild(childEnv+"="+gguf, fmt.Sprintf("%s_ARGS=%d %s", childEnv, c.parallel, c.readTimeout))
	if err != nil {
		return nil, err
	}
	return &server{child}, nil
}

// rss is the child's resident set size now and at its peak.
func (s *server) rss() (now, peak int64, err error) {
	if _, err := io.WriteString(s.In, "rss\n"); err != nil {
		return 0, 0, err
	}
	line, err := s.Out.ReadString('\n')
	if err != nil {
		return 0, 0, err
	}
	if _, err := fmt.Sscanf(line, "rss %d %d", &now, &peak); err != nil {
		return 0, 0, fmt.Errorf("child rss line %q: %w", line, err)
	}
	return now, peak, nil
}

// benchModel writes a random-weight llama GGUF (d 128, 4 layers, context
// 512) with a small BPE tokenizer, as the repo's tests do.
func benchModel(dir string) (string, error) {
	texts := make([]string, 200)
	for i := range texts {
		texts[i] = "Replace the scanner battery after 500 charge cycles [§3.2]. Not covered by the policy."
	}
	tok, err := tokenizer.TrainStrings(texts, tokenizer.TrainConfig{VocabSize: 320}, nil)
	if err != nil {
		return "", err
	}
	cfg := student.Config{VocabSize: tok.VocabSize(), DModel: 128, NLayers: 4, NHeads: 4, NKVHeads: 2, FFNDim: 256,
		ContextLength: 512, RopeBase: 10000, NormEps: 1e-5}
	m, err := export.RandomModel(cfg, 3)
	if err != nil {
		return "", err
	}
	m.Vocab = export.TokenizerVocab(tok)
	m.Name, m.Version = "bench-serve", "1"
	path := filepath.Join(dir, "serve.gguf")
	return path, export.Write(path, m, export.Options{Type: quant.FileF32})
}

// client sends requests to the child.
type client struct {
	base string
	http *http.Client
}

// post sends body to path with the given Authorization and returns the
// status and latency.
func (c *client) post(ctx context.Context, path, auth string, body []byte) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	t0 := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(t0), err
}

// point is one run of normal traffic.
type point struct {
	conc      int
	latencies []time.Duration
	wall      time.Duration
	statuses  map[int]int
}

func (p point) rps() float64 { return float64(len(p.latencies)) / p.wall.Seconds() }

// percentile of the sorted latencies (nearest rank).
func (p point) percentile(q float64) time.Duration {
	l := append([]time.Duration(nil), p.latencies...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	if len(l) == 0 {
		return 0
	}
	k := int(q*float64(len(l))+0.999999) - 1
	return l[max(0, min(k, len(l)-1))]
}

// normal sends n completion requests at concurrency conc.
func normal(ctx context.Context, c *client, conc, n int, seed int64) (point, error) {
	rng := rand.New(rand.NewSource(seed))
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = []byte(fmt.Sprintf(`{"prompt":"Replace the scanner battery %d after %d charge cycles","max_tokens":16,"temperature":0}`, i, rng.Intn(1000)))
	}
	p := point{conc: conc, statuses: map[int]int{}}
	var mu sync.Mutex
	var firstErr error
	jobs := make(chan []byte)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				status, d, err := c.post(ctx, "/v1/completions", "Bearer "+benchKey, b)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					p.statuses[status]++
					if status == 200 {
						p.latencies = append(p.latencies, d)
					}
				}
				mu.Unlock()
			}
		}()
	}
	for _, b := range bodies {
		jobs <- b
	}
	close(jobs)
	wg.Wait()
	p.wall = time.Since(t0)
	return p, firstErr
}

// abuseResult is what one abuse kind got back.
type abuseResult struct {
	name     string
	statuses map[int]int
	errors   int
	slowest  time.Duration
	note     string
}

func (a abuseResult) String() string {
	var keys []int
	for k := range a.statuses {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d×%d", a.statuses[k], k))
	}
	if a.errors > 0 {
		parts = append(parts, fmt.Sprintf("%d transport errors", a.errors))
	}
	return strings.Join(parts, ", ")
}

// abuseRequests sends n copies of body (sequentially) and tallies statuses.
func abuseRequests(ctx context.Context, c *client, name, auth string, body []byte, n int) abuseResult {
	r := abuseResult{name: name, statuses: map[int]int{}}
	for i := 0; i < n; i++ {
		status, d, err := c.post(ctx, "/v1/completions", auth, body)
		if err != nil {
			r.errors++
			continue
		}
		r.statuses[status]++
		r.slowest = max(r.slowest, d)
	}
	return r
}

// slowBodies opens n connections that send headers and 12 bytes of a 1000-
// byte body, then stall; it waits (at most until ctx ends) for the server to
// answer and close each one.
func slowBodies(ctx context.Context, addr string, n int) abuseResult {
	r := abuseResult{name: fmt.Sprintf("stalled body (%d connections)", n), statuses: map[int]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	closed := 0
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				mu.Lock()
				r.errors++
				mu.Unlock()
				return
			}
			defer conn.Close()
			if d, ok := ctx.Deadline(); ok {
				conn.SetReadDeadline(d)
			}
			fmt.Fprintf(conn, "POST /v1/completions HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"prompt\":\"x", addr, benchKey)
			b, err := io.ReadAll(conn)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.errors++
				return
			}
			closed++
			if f := strings.Fields(string(b)); len(f) >= 2 {
				status, _ := strconv.Atoi(f[1])
				r.statuses[status]++
			}
		}()
	}
	wg.Wait()
	r.note = fmt.Sprintf("%d/%d closed by the server", closed, n)
	return r
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func run(c *config, args []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "bench-serve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	gguf, err := benchModel(dir)
	if err != nil {
		return err
	}
	startUptime := rtbench.Uptime()
	started := time.Now().UTC()
	other := rtbench.StartOtherLoad()
	srv, err := startServer(gguf, c)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Stop()
		}
	}()
	cl := &client{base: "http://" + srv.Addr, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	_, baseRSS, err := srv.rss()
	if err != nil {
		return err
	}
	// Warm-up.
	if _, err := normal(ctx, cl, 2, 4, 0); err != nil {
		return err
	}
	var points []point
	for _, conc := range []int{1, 4, 16} {
		fmt.Fprintf(os.Stderr, "normal traffic, concurrency %d\n", conc)
		p, err := normal(ctx, cl, conc, c.n, int64(conc))
		if err != nil {
			return err
		}
		points = append(points, p)
	}
	_, peakBefore, err := srv.rss()
	if err != nil {
		return err
	}

	// The abuse mix, interleaved with normal traffic at concurrency 4.
	fmt.Fprintln(os.Stderr, "abuse mix")
	quote := func(s string) string { return `"` + s + `"` }
	hugeBody := []byte(`{"prompt":` + quote(strings.Repeat("a", 4<<20)) + `}`)
	manyStops := []byte(`{"prompt":"x","stop":[` + strings.Repeat(`"a",`, 200000) + `"a"]}`)
	hugePrompt := []byte(`{"prompt":` + quote(strings.Repeat("battery ", 110000)) + `}`)
	var results []abuseResult
	var mu sync.Mutex
	var wg sync.WaitGroup
	add := func(f func() abuseResult) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := f()
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}()
	}
	auth := "Bearer " + benchKey
	add(func() abuseResult {
		return abuseRequests(ctx, cl, fmt.Sprintf("body of %s", mib(int64(len(hugeBody)))), auth, hugeBody, c.abuse)
	})
	add(func() abuseResult {
		return abuseRequests(ctx, cl, fmt.Sprintf("200,001 stop strings (%s)", mib(int64(len(manyStops)))), auth, manyStops, c.abuse)
	})
	add(func() abuseResult {
		return abuseRequests(ctx, cl, fmt.Sprintf("prompt of %s", mib(int64(len(hugePrompt)))), auth, hugePrompt, c.abuse)
	})
	add(func() abuseResult {
		return abuseRequests(ctx, cl, "wrong API key", "Bearer not-the-key", []byte(`{"prompt":"x"}`), c.abuse)
	})
	add(func() abuseResult { return slowBodies(ctx, srv.Addr, c.slow) })
	mixed, err := normal(ctx, cl, 4, c.n, 99)
	wg.Wait()
	if err != nil {
		return err
	}
	rssAfter, peakAfter, err := srv.rss()
	if err != nil {
		return err
	}
	stopped = true
	if err := srv.Stop(); err != nil {
		return fmt.Errorf("server child: %w", err)
	}
	otherCores := other.Cores()
	endUptime := rtbench.Uptime()
	sort.Slice(results, func(i, j int) bool { return results[i].name < results[j].name })

	fmt.Printf("distill serve under load, %s–%s UTC: `%s`\n\n", started.Format("2006-01-02 15:04"), time.Now().UTC().Format("15:04"),
		strings.Join(append([]string{"go run ./bench/serve"}, args...), " "))
	fmt.Printf("- machine: %s, %d CPUs, %s; other processes used %.2f cores meanwhile\n", rtbench.CPUModel(), runtime.NumCPU(), runtime.Version(), otherCores)
	fmt.Printf("- model: random-weight llama F32, d 128, 4 layers, context 512; server --parallel %d, defaults otherwise (max queue %d, body %s), --read-timeout %v, API key\n",
		c.parallel, serve.DefaultMaxQueue, mib(serve.DefaultMaxBodyBytes), c.readTimeout)
	fmt.Printf("- requests: /v1/completions, max_tokens 16, temperature 0, %d per point, loopback\n", c.n)
	fmt.Printf("- start: %s\n- end:   %s\n\n", startUptime, endUptime)
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "traffic\tconcurrency\trequests/s\tp50 ms\tp95 ms\tstatuses\t")
	row := func(name string, p point) {
		st := abuseResult{statuses: p.statuses}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.0f\t%.0f\t%s\t\n", name, p.conc, p.rps(), ms(p.percentile(0.5)), ms(p.percentile(0.95)), st)
	}
	for _, p := range points {
		row("normal", p)
	}
	row("normal, during the abuse mix", mixed)
	tw.Flush()
	fmt.Println()
	tw = tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "abuse (interleaved)\tanswers\tslowest answer\t")
	for _, r := range results {
		ans, slowest := r.String(), "-"
		if r.note != "" {
			ans += "; " + r.note
		}
		if r.slowest > 0 {
			slowest = fmt.Sprintf("%.0f ms", ms(r.slowest))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", r.name, ans, slowest)
	}
	tw.Flush()
	fmt.Printf("\nserver RSS: %s after loading, peak %s after normal traffic, peak %s after the abuse mix (%s at the end)\n",
		mib(baseRSS), mib(peakBefore), mib(peakAfter), mib(rssAfter))
	return nil
}

func ms(d time.Duration) float64 { return d.Seconds() * 1000 }
