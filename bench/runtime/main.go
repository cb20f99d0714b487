// Command runtime benchmarks distill's pure-Go inference runtime
// (model/infer) against llama.cpp in one run, on the same random-weight
// GGUF files, and prints a Markdown table with the ratio ours/llama.cpp.
//
// The peer is llama.cpp's llama-bench built natively (GGML_NATIVE=ON,
// Release) from the source npm node-llama-cpp ships (llama/gitRelease.bundle);
// the first run builds it (a few minutes on 2 cores; needs cmake: run
// scripts/install-test-deps.sh) and caches it in .testdeps/llama-native/<commit>/.
// node-llama-cpp's prebuilt generic binary is measured too, as a secondary
// column (-prebuilt=false skips it).
//
//	go run ./bench/runtime                                  # everything (~10 min)
//	go run ./bench/runtime -shapes mobilellm-125m -threads 2
//	go run ./bench/runtime -build-only                      # just build/cache llama-bench
//	go run ./bench/runtime -shapes mobilellm-125m -hugepages # also ours with the weights on huge pages
//
// For each file and thread count both sides run llama-bench's protocol: a
// warm-up, then -reps prompts of -prompt tokens on an empty context and -reps
// runs of -decode single-token steps on an empty context; the fastest
// repetition counts; load time is excluded. CPU seconds cover each side's
// whole run on the file (load, warm-ups, repetitions). Because the machine
// may be shared, each row also reports how many cores other processes used
// meanwhile (/proc/stat minus this process and its children) and marks rows
// above -loaded cores; the load average (`uptime`) is printed at start and end.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/distill-ml/distill/bench/runtime/rtbench"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench/runtime:", err)
		os.Exit(1)
	}
}

type config struct {
	shapes, types  []string
	threads        []int
	prompt, decode int
	reps           int
	dir            string
	prebuilt       bool
	hugePages      bool
	loaded         float64
	buildOnly      bool
	llamaBench     string
	testdeps       string
	jobs           int
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("bench/runtime", flag.ContinueOnError)
	c := &config{}
	shapes := fs.String("shapes", "tiny,mobilellm-125m", "model shapes: "+strings.Join(rtbench.ShapeNames(), ","))
	types := fs.String("types", "F32,Q8_0,Q4_K_M", "GGUF file types")
	threads := fs.String("threads", "1,2", "thread counts")
	fs.IntVar(&c.prompt, "prompt", 128, "prompt tokens (llama-bench -p)")
	fs.IntVar(&c.decode, "decode", 64, "decode tokens (llama-bench -n)")
	fs.IntVar(&c.reps, "reps", 5, "repetitions per test; the fastest counts (llama-bench -r)")
	fs.StringVar(&c.dir, "dir", filepath.Join(os.TempDir(), "distill-rtbench"), "directory for the random GGUF files (reused across runs)")
	fs.BoolVar(&c.prebuilt, "prebuilt", true, "also measure node-llama-cpp's prebuilt binary (secondary column)")
	fs.BoolVar(&c.hugePages, "hugepages", false, "also measure our runtime with the weights copied to transparent huge pages (infer.Options.HugePages) instead of mmapped (secondary column)")
	fs.Float64Var(&c.loaded, "loaded", 0.3, "mark rows measured while other processes used more than this many cores")
	fs.BoolVar(&c.buildOnly, "build-only", false, "build (or find cached) native llama-bench, print its path and exit")
	fs.StringVar(&c.llamaBench, "llama-bench", "", "use this llama-bench binary instead of the cached native build")
	fs.StringVar(&c.testdeps, "testdeps", "", "peer directory (default $DISTILL_TESTDEPS or <repo>/.testdeps)")
	fs.IntVar(&c.jobs, "jobs", 0, "parallel compile jobs for the native build (0: all CPUs)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.shapes, c.types = splitList(*shapes), splitList(*types)
	known := rtbench.Shapes()
	for _, s := range c.shapes {
		if _, ok := known[s]; !ok {
			return nil, fmt.Errorf("-shapes: unknown shape %q (known: %s)", s, strings.Join(rtbench.ShapeNames(), ", "))
		}
	}
	for _, t := range splitList(*threads) {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 256 {
			return nil, fmt.Errorf("-threads: bad thread count %q", t)
		}
		c.threads = append(c.threads, n)
	}
	if c.prompt < 1 || c.decode < 1 || c.reps < 1 {
		return nil, fmt.Errorf("-prompt %d, -decode %d and -reps %d must be ≥ 1", c.prompt, c.decode, c.reps)
	}
	if !c.buildOnly && (len(c.shapes) == 0 || len(c.types) == 0 || len(c.threads) == 0) {
		return nil, errors.New("-shapes, -types and -threads must not be empty")
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// testdepsDir is where scripts/install-test-deps.sh puts the peers.
func testdepsDir(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if d := os.Getenv("DISTILL_TESTDEPS"); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.Contains(data, []byte("module github.com/distill-ml/distill\n")) {
			return filepath.Join(dir, ".testdeps"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the distill repository above the working directory: run from inside it, or set -testdeps / $DISTILL_TESTDEPS")
		}
		dir = parent
	}
}

func run(args []string) error {
	c, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	deps, err := testdepsDir(c.testdeps)
	if err != nil {
		return err
	}
	nodeModules := filepath.Join(deps, "node", "node_modules")
	bin := c.llamaBench
	var buildInfo *rtbench.BuildInfo
	if bin == "" {
		nb, err := rtbench.EnsureLlamaBench(rtbench.BuildOptions{
			Bundle:   filepath.Join(nodeModules, "node-llama-cpp", "llama", "gitRelease.bundle"),
			CacheDir: filepath.Join(deps, "llama-native"),
			Jobs:     c.jobs,
			Progress: os.Stderr,
		})
		if err != nil {
			return err
		}
		bin, buildInfo = nb.Bin, &nb.Info
	}
	if c.buildOnly {
		fmt.Println(bin)
		return nil
	}
	prebuiltVersion := ""
	if c.prebuilt {
		var pkg struct{ Version string }
		data, err := os.ReadFile(filepath.Join(nodeModules, "node-llama-cpp", "package.json"))
		if err != nil {
			return fmt.Errorf("-prebuilt: node-llama-cpp not installed (run scripts/install-test-deps.sh, or pass -prebuilt=false): %w", err)
		}
		if err := json.Unmarshal(data, &pkg); err != nil {
			return fmt.Errorf("node-llama-cpp package.json: %w", err)
		}
		prebuiltVersion = pkg.Version
	}

	startUptime := rtbench.Uptime()
	started := time.Now().UTC()
	fmt.Fprintf(os.Stderr, "start: %s\n", startUptime)
	type job struct {
		shape, typ string
		threads    int
	}
	var jobs []job
	for _, shape := range c.shapes {
		for _, typ := range c.types {
			for _, t := range c.threads {
				jobs = append(jobs, job{shape, typ, t})
			}
		}
	}
	// Read bandwidth per thread count, measured in this run: the ceiling of
	// a decode step that reads every weight once.
	bandwidth := map[int]float64{}
	for _, t := range c.threads {
		if _, ok := bandwidth[t]; !ok {
			bandwidth[t] = rtbench.ReadBandwidth(t, 1<<30, 5)
			fmt.Fprintf(os.Stderr, "read bandwidth, %d threads: %.1f GB/s\n", t, bandwidth[t]/1e9)
		}
	}
	var rows []rtbench.Row
	var llamaCommit string
	for i, j := range jobs {
		path, err := rtbench.WriteModel(c.dir, j.shape, j.typ)
		if err != nil {
			return err
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "[%d/%d] %s %s (%.0f MiB) threads=%d:", i+1, len(jobs), j.shape, j.typ, float64(st.Size())/(1<<20), j.threads)
		other := rtbench.StartOtherLoad()
		ours, err := rtbench.MeasureOurs(path, j.threads, c.prompt, c.decode, c.reps, false)
		if err != nil {
			fmt.Fprintln(os.Stderr)
			return err
		}
		of := ours.Figures()
		fmt.Fprintf(os.Stderr, " ours %.0f/%.1f", of.PromptTokS, of.DecodeTokS)
		native, err := rtbench.RunLlamaBench(bin, path, j.threads, c.prompt, c.decode, c.reps)
		if err != nil {
			fmt.Fprintln(os.Stderr)
			return err
		}
		nf := native.Figures()
		llamaCommit = fmt.Sprintf("%s (build %d)", native.Prompt.BuildCommit, native.Prompt.BuildNumber)
		fmt.Fprintf(os.Stderr, ", llama.cpp %.0f/%.1f", nf.PromptTokS, nf.DecodeTokS)
		decodeBytes, err := rtbench.DecodeBytesPerToken(path)
		if err != nil {
			fmt.Fprintln(os.Stderr)
			return err
		}
		row := rtbench.Row{Shape: j.shape, Type: j.typ, FileBytes: st.Size(), Threads: j.threads,
			Ours: of, Native: nf, RSSRatio: ours.RSSRatio(), DecodeBytes: decodeBytes, Bandwidth: bandwidth[j.threads]}
		if c.hugePages {
			hp, err := rtbench.MeasureOurs(path, j.threads, c.prompt, c.decode, c.reps, true)
			if err != nil {
				fmt.Fprintln(os.Stderr)
				return err
			}
			hf := hp.Figures()
			row.OursHugePages = &hf
			fmt.Fprintf(os.Stderr, ", ours on huge pages %.0f/%.1f", hf.PromptTokS, hf.DecodeTokS)
		}
		if c.prebuilt {
			vocab := rtbench.Shapes()[j.shape].VocabSize
			pre, err := rtbench.RunPrebuilt(nodeModules, path, vocab, j.threads, c.prompt, c.decode, c.reps)
			if err != nil {
				fmt.Fprintln(os.Stderr)
				return err
			}
			pf := pre.Figures()
			row.Prebuilt = &pf
			fmt.Fprintf(os.Stderr, ", prebuilt %.0f/%.1f", pf.PromptTokS, pf.DecodeTokS)
		}
		row.OtherCores = other.Cores()
		fmt.Fprintf(os.Stderr, " prompt/decode tok/s; decode ratio %.2f×, others %.2f cores\n", row.DecodeRatio(), row.OtherCores)
		rows = append(rows, row)
	}
	endUptime := rtbench.Uptime()

	cpu := rtbench.CPUModel()
	fmt.Printf("Runtime vs llama.cpp, %s–%s UTC: `%s`\n\n",
		started.Format("2006-01-02 15:04"), time.Now().UTC().Format("15:04"), strings.Join(append([]string{"go run ./bench/runtime"}, args...), " "))
	fmt.Printf("- machine: %s, %s\n", cpu, runtime.Version())
	for _, t := range c.threads {
		if bw, ok := bandwidth[t]; ok {
			fmt.Printf("- read bandwidth, %d threads: %.1f GB/s (F32 matrix-vector products streaming 1 GiB, best of 5, this run)\n", t, bw/1e9)
			delete(bandwidth, t)
		}
	}
	if buildInfo != nil {
		fmt.Printf("- llama.cpp: llama-bench %s, built natively (%s; %s)\n", llamaCommit, strings.Join(buildInfo.CMakeFlags[:2], " "), buildInfo.Compiler)
	} else {
		fmt.Printf("- llama.cpp: %s, llama-bench %s\n", bin, llamaCommit)
	}
	if c.hugePages {
		fmt.Printf("- huge pages: ours also measured with the weights copied into anonymous memory advised MADV_HUGEPAGE (transparent_hugepage %s)\n", rtbench.THPMode())
	}
	if c.prebuilt {
		fmt.Printf("- prebuilt: node-llama-cpp %s's prebuilt CPU binary (secondary column)\n", prebuiltVersion)
	}
	fmt.Printf("- protocol: prompt %d tokens, decode %d tokens, both on an empty context, best of %d after a warm-up\n", c.prompt, c.decode, c.reps)
	fmt.Printf("- start: %s\n- end:   %s\n\n", startUptime, endUptime)
	return rtbench.FormatTable(os.Stdout, rows, rtbench.TableOptions{LoadedCores: c.loaded})
}
