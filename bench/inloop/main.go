// Command inloop compares, at an equal wall-clock training budget, the ways
// distill trains a student with a teacher: CE-only; offline KD from the
// signals the teacher stored at collection; online dense KD (the local GGUF
// teacher asked for every batch, full-vocabulary distributions); and
// on-policy KD (the student completes a fraction λ of the prompts and learns
// from the teacher's scores of its own samples; λ 0.5 and 1, with
// data.packing: whole spelled out as on-policy requires — what auto already
// resolves to for datasets with teacher signals, so every mode packs alike).
//
// It works in the directories bench/quality leaves, one per seed (the
// teacher GGUF, the collected datasets, the quickstart's students and their
// resolved training configs), so every mode starts from the same data,
// settings and seed as the quickstart's students:
//
//	go run ./bench/quality -seeds 3 -work /tmp/q7
//	go run ./bench/inloop -work /tmp/q7 -seeds 3
//
// Equal budget: the offline KD student's updates (the quickstart's
// student_steps) are the budget. Every mode first trains -calibrate updates,
// all modes back to back; a mode's median CPU seconds per update (cpu_s in
// metrics.jsonl: the whole process, teacher and sampler included) against
// offline KD's sets its updates (updates_KD · cpu_KD / cpu_mode). CPU time,
// not the wall clock, because a shared machine's load moves the wall clock
// by more than the modes differ; on a quiet machine the two budgets agree as
// far as the modes use the cores alike (the table shows both). The offline
// teacher's collection is not charged to offline KD (it is paid once per
// dataset). The updates used are printed and saved; -steps MODE=N,...
// replays them without calibrating. Every mode, offline KD included, is
// trained here by the same binary.
//
// Each mode's student is exported to F32 and one `distill gate` per seed
// measures them all and the teacher on the same golden items (latency bars
// off), so every pair is compared item by item (gate.Compare: 95%
// paired-bootstrap intervals, McNemar's exact test); across seeds it reports
// mean ± sd and the 95% t-interval. Each seed's result is kept in
// <seed>/inloop/result.json (a rerun reuses it; -redo measures again), the
// whole comparison in <work>/inloop.json.
// Nothing here tunes anything: the golden set, scorer and gate are the
// pipeline's.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/distill-ml/distill/bench/internal/benchrun"
	"github.com/distill-ml/distill/distill/gate"
	"github.com/distill-ml/distill/internal/atomicfile"
	numstats "github.com/distill-ml/distill/num/stats"
)

// mode is one way of training the student.
type mode struct {
	Name string
	// From is the quickstart student whose resolved training config the
	// mode starts from (student-kd or student-ce, under the seed directory).
	From string
	// Sets are the config overrides that make the mode ({teacher} is the
	// seed's teacher GGUF).
	Sets []string
}

// modes are the modes compared, in report order; kd is the budget.
var modes = []mode{
	{Name: "ce", From: "student-ce"},
	{Name: "kd", From: "student-kd"},
	{Name: "online", From: "student-kd", Sets: []string{"teacher.local.model={teacher}"}},
	{Name: "onpolicy-0.5", From: "student-kd", Sets: []string{"teacher.local.model={teacher}", "data.packing=whole", "train.on_policy.lambda=0.5"}},
	{Name: "onpolicy-1", From: "student-kd", Sets: []string{"teacher.local.model={teacher}", "data.packing=whole", "train.on_policy.lambda=1"}},
}

const budgetMode = "kd"

// result is one mode's student on one seed.
type result struct {
	Mode         string           `json:"mode"`
	Steps        int              `json:"steps"`
	CalibCPUS    float64          `json:"calibration_cpu_s,omitempty"` // median CPU seconds per update in the calibration window
	TrainSeconds float64          `json:"train_seconds"`               // Σ step_s of the run (wall clock)
	TrainCPU     float64          `json:"train_cpu_seconds"`           // Σ cpu_s of the run
	Exact        float64          `json:"exact"`
	Correct      int              `json:"correct"`
	Items        int              `json:"items"`
	Answerable   int              `json:"answerable_correct"`
	Partial      float64          `json:"partial"`
	Perplexity   float64          `json:"perplexity"`
	TeacherTop1  float64          `json:"teacher_top1"`
	TeacherKL    float64          `json:"teacher_kl"`
	VsKD         *gate.Comparison `json:"vs_kd,omitempty"`
	VsCE         *gate.Comparison `json:"vs_ce,omitempty"`
}

// seedRun is one seed's comparison.
type seedRun struct {
	Seed    int64    `json:"seed"`
	Teacher result   `json:"teacher"`
	Modes   []result `json:"modes"`
}

func main() {
	work := flag.String("work", "/tmp/distill-quality", "bench/quality's work directory (seed-N subdirectories)")
	seeds := flag.Int("seeds", 3, "seeds to compare (first-seed .. first-seed+seeds-1)")
	first := flag.Int64("first-seed", 1, "first seed")
	bin := flag.String("distill", "", "distill binary (default: <work>/distill, which bench/quality built)")
	calibrate := flag.Int("calibrate", 12, "updates each mode trains to measure its seconds per update")
	steps := flag.String("steps", "", "MODE=N,... updates per mode (replays a run; modes not listed are calibrated)")
	redo := flag.Bool("redo", false, "measure seeds again even when <seed>/inloop/result.json exists")
	flag.Parse()
	if err := run(*work, *bin, *first, *seeds, *calibrate, *steps, *redo, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "inloop:", err)
		os.Exit(1)
	}
}

func run(work, bin string, first int64, seeds, calibrate int, stepsFlag string, redo bool, out io.Writer) error {
	if seeds < 1 {
		return fmt.Errorf("-seeds must be >= 1, got %d", seeds)
	}
	if calibrate < 4 {
		return fmt.Errorf("-calibrate must be >= 4 updates (the first two are not timed), got %d", calibrate)
	}
	fixed, err := parseSteps(stepsFlag)
	if err != nil {
		return err
	}
	if bin == "" {
		bin = filepath.Join(work, "distill")
	}
	var runs []seedRun
	for i := 0; i < seeds; i++ {
		seed := first + int64(i)
		dir := filepath.Join(work, fmt.Sprintf("seed-%d", seed))
		saved := filepath.Join(dir, "inloop", "result.json")
		var r seedRun
		if b, err := os.ReadFile(saved); err == nil && !redo {
			if err := json.Unmarshal(b, &r); err != nil || len(r.Modes) != len(modes) {
				return fmt.Errorf("seed %d: %s is not this version's result (%v): rerun with -redo", seed, saved, err)
			}
			fmt.Fprintf(os.Stderr, "inloop: seed %d: reusing %s\n", seed, saved)
		} else {
			if r, err = runSeed(bin, dir, seed, calibrate, fixed); err != nil {
				return fmt.Errorf("seed %d: %w", seed, err)
			}
			b, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				return err
			}
			if err := atomicfile.WriteFile(saved, append(b, '\n'), 0o644); err != nil {
				return err
			}
		}
		runs = append(runs, r)
	}
	report(out, runs)
	b, err := json.MarshalIndent(map[string]any{"calibrate": calibrate, "seeds": runs}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(work, "inloop.json"), append(b, '\n'), 0o644)
}

// parseSteps reads -steps: MODE=N pairs, comma-separated.
func parseSteps(s string) (map[string]int, error) {
	fixed := map[string]int{}
	if s == "" {
		return fixed, nil
	}
	for _, kv := range strings.Split(s, ",") {
		name, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 1 {
			return nil, fmt.Errorf("-steps %q: want MODE=N with N >= 1", kv)
		}
		if modeNamed(name) == nil {
			return nil, fmt.Errorf("-steps %q: unknown mode %q (modes: %s)", kv, name, modeNames())
		}
		fixed[name] = n
	}
	return fixed, nil
}

func modeNamed(name string) *mode {
	for i := range modes {
		if modes[i].Name == name {
			return &modes[i]
		}
	}
	return nil
}

func modeNames() string {
	var ns []string
	for _, m := range modes {
		ns = append(ns, m.Name)
	}
	return strings.Join(ns, ", ")
}

// runSeed trains every mode on one seed's quickstart directory, measures
// them with the gate and pairs them.
func runSeed(bin, dir string, seed int64, calibrate int, fixed map[string]int) (seedRun, error) {
	sr := seedRun{Seed: seed}
	teacher := filepath.Join(dir, "teacher-f32.gguf")
	pipeGate, err := gate.ReadReport(filepath.Join(dir, "gate", "gate.json"))
	if err != nil {
		return sr, fmt.Errorf("the quickstart's gate report (run bench/quality first): %w", err)
	}
	outDir := filepath.Join(dir, "inloop")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return sr, err
	}
	// Each mode's config: the quickstart student's resolved config, with
	// the mode's overrides applied by distill train's --set.
	cfgs := map[string]string{}
	budgetSteps := 0
	for _, m := range modes {
		path, steps, err := writeConfig(filepath.Join(dir, m.From, "config.json"), filepath.Join(outDir, m.Name+".config.json"))
		if err != nil {
			return sr, err
		}
		cfgs[m.Name] = path
		if m.Name == budgetMode {
			budgetSteps = steps
		}
	}
	sets := func(m mode) []string {
		var s []string
		for _, x := range m.Sets {
			s = append(s, "--set", strings.ReplaceAll(x, "{teacher}", teacher))
		}
		return s
	}
	// Calibration, all modes back to back.
	cpuS := map[string]float64{}
	if len(fixed) < len(modes) {
		for _, m := range modes {
			cdir := filepath.Join(outDir, "calibrate-"+m.Name)
			args := append([]string{"train", "--config", cfgs[m.Name], "--overwrite", "--stop-after", strconv.Itoa(calibrate),
				"--set", "out_dir=" + cdir, "--set", "train.steps=" + strconv.Itoa(budgetSteps)}, sets(m)...)
			if err := benchrun.Distill(bin, args...); err != nil {
				return sr, fmt.Errorf("calibrate %s: %w", m.Name, err)
			}
			_, cs, err := readUpdateSeconds(filepath.Join(cdir, "metrics.jsonl"))
			if err != nil {
				return sr, fmt.Errorf("calibrate %s: %w", m.Name, err)
			}
			if len(cs) < 3 {
				return sr, fmt.Errorf("calibrate %s: %d timed updates in %s, want >= 3", m.Name, len(cs), cdir)
			}
			if cpuS[m.Name] = median(cs[2:]); !(cpuS[m.Name] > 0) {
				return sr, fmt.Errorf("calibrate %s: no CPU time in %s (cpu_s; needs getrusage)", m.Name, cdir)
			}
		}
	}
	// Train, export.
	artifacts := map[string]string{}
	for _, m := range modes {
		r := result{Mode: m.Name, CalibCPUS: cpuS[m.Name]}
		switch n, ok := fixed[m.Name]; {
		case ok:
			r.Steps = n
		case m.Name == budgetMode:
			r.Steps = budgetSteps
		default:
			r.Steps = max(1, int(math.Round(float64(budgetSteps)*cpuS[budgetMode]/cpuS[m.Name])))
		}
		runDir := filepath.Join(outDir, m.Name)
		args := append([]string{"train", "--config", cfgs[m.Name], "--overwrite",
			"--set", "out_dir=" + runDir, "--set", "train.steps=" + strconv.Itoa(r.Steps)}, sets(m)...)
		if err := benchrun.Distill(bin, args...); err != nil {
			return sr, fmt.Errorf("train %s: %w", m.Name, err)
		}
		ws, cs, err := readUpdateSeconds(filepath.Join(runDir, "metrics.jsonl"))
		if err != nil {
			return sr, fmt.Errorf("%s: %w", m.Name, err)
		}
		for i := range ws {
			r.TrainSeconds += ws[i]
			r.TrainCPU += cs[i]
		}
		art := filepath.Join(outDir, "student-"+m.Name+".gguf")
		if err := benchrun.Distill(bin, "export", "--checkpoint", runDir, "--type", "f32", "--out", art, "--name", "inloop-"+m.Name); err != nil {
			return sr, fmt.Errorf("export %s: %w", m.Name, err)
		}
		artifacts[m.Name] = art
		sr.Modes = append(sr.Modes, r)
	}
	// One gate: offline KD the baseline, the teacher-in-the-loop modes the
	// candidates, CE-only a reference; every bar but quality off.
	gdir := filepath.Join(outDir, "gate")
	var cands []string
	for _, m := range modes {
		if m.Name != budgetMode && m.Name != "ce" {
			cands = append(cands, artifacts[m.Name])
		}
	}
	golden := pipeGate.Config.Routes["policy"].Golden
	gateErr := benchrun.Distill(bin, "gate", "--config", "gate", "--baseline", artifacts[budgetMode], "--candidates", strings.Join(cands, ","),
		"--reference", artifacts["ce"], "--teacher", teacher, "--out", gdir,
		"--set", "routes.policy.golden="+golden, "--set", "max_items="+strconv.Itoa(pipeGate.Config.MaxItems),
		"--set", "sustained.seconds=1", "--set", "sustained.interval_seconds=1",
		"--set", "routes.policy.thresholds.max_p95_ttft_ms=0", "--set", "routes.policy.thresholds.max_p95_token_ms=0",
		"--set", "routes.policy.thresholds.min_sustained_tps=0", "--set", "routes.policy.thresholds.min_task_score=0")
	rep, err := gate.ReadReport(filepath.Join(gdir, "gate.json"))
	if err != nil {
		return sr, errors.Join(gateErr, err)
	}
	// A failed bar is a verdict, not a lost measurement: gate.json holds
	// every artifact's quality.
	byName := map[string]*gate.Artifact{}
	for _, a := range rep.Artifacts {
		byName[a.Name] = a
		if a.Teacher {
			sr.Teacher = score(result{Mode: "teacher"}, a)
		}
	}
	kd, ce := byName["student-"+budgetMode], byName["student-ce"]
	if kd == nil || ce == nil || kd.Quality["policy"] == nil || ce.Quality["policy"] == nil {
		return sr, fmt.Errorf("%s: want policy-route quality for student-%s and student-ce", gdir, budgetMode)
	}
	for i, r := range sr.Modes {
		a := byName["student-"+r.Mode]
		if a == nil || a.Quality["policy"] == nil {
			return sr, fmt.Errorf("%s/gate.json: no policy-route quality for student-%s", gdir, r.Mode)
		}
		r = score(r, a)
		if r.Mode != budgetMode {
			c, err := gate.Compare("policy", a, kd)
			if err != nil {
				return sr, err
			}
			r.VsKD = &c
		}
		if r.Mode != "ce" {
			c, err := gate.Compare("policy", a, ce)
			if err != nil {
				return sr, err
			}
			r.VsCE = &c
		}
		sr.Modes[i] = r
	}
	return sr, nil
}

// score fills r's golden-set figures from a's policy route.
func score(r result, a *gate.Artifact) result {
	q := a.Quality["policy"]
	if q == nil {
		return r
	}
	r.Exact, r.Correct, r.Items, r.Answerable = q.TaskScore, q.Correct, q.Items, q.AnswerableCorrect
	r.Partial, r.Perplexity, r.TeacherTop1, r.TeacherKL = q.PartialScore, q.Perplexity, q.TeacherTop1, q.TeacherKL
	return r
}

// writeConfig writes the training config a quickstart student resolved
// (the "config" of its config.json) to path, without its out_dir, and
// returns its train.steps.
func writeConfig(resolved, path string) (string, int, error) {
	b, err := os.ReadFile(resolved)
	if err != nil {
		return "", 0, fmt.Errorf("a quickstart student's resolved config: %w", err)
	}
	var doc struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Config == nil {
		return "", 0, fmt.Errorf("%s: no training config (%v)", resolved, err)
	}
	tr, _ := doc.Config["train"].(map[string]any)
	steps, _ := tr["steps"].(float64)
	if steps < 1 || steps != math.Trunc(steps) {
		return "", 0, fmt.Errorf("%s: train.steps %v is not a positive whole number", resolved, tr["steps"])
	}
	delete(doc.Config, "out_dir") // set per run
	out, err := json.MarshalIndent(doc.Config, "", "  ")
	if err != nil {
		return "", 0, err
	}
	return path, int(steps), atomicfile.WriteFile(path, append(out, '\n'), 0o644)
}

// readUpdateSeconds returns the wall-clock (step_s) and CPU (cpu_s)
// seconds of every training update in a run's metrics.jsonl, in order.
func readUpdateSeconds(path string) (wall, cpu []float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for line := 1; sc.Scan(); line++ {
		var rec struct {
			Kind  string   `json:"kind"`
			StepS *float64 `json:"step_s"`
			CPUS  *float64 `json:"cpu_s"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		if rec.Kind == "train" {
			if rec.StepS == nil || rec.CPUS == nil {
				return nil, nil, fmt.Errorf("%s line %d: a train record without step_s and cpu_s (a distill older than cpu_s?)", path, line)
			}
			wall, cpu = append(wall, *rec.StepS), append(cpu, *rec.CPUS)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return wall, cpu, nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return numstats.Quantile(s, 0.5)
}

// report prints the per-seed table and the across-seed summary.
func report(w io.Writer, runs []seedRun) {
	fmt.Fprintln(w, "| seed | mode | updates | train s (wall / CPU) | exact | answerable | partial | golden ppl | teacher top-1 | teacher KL | − KD partial [95%] | − KD exact (McNemar p) | − KD ppl |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
	for _, sr := range runs {
		t := sr.Teacher
		fmt.Fprintf(w, "| %d | teacher | | | %s | %d | %s | %s | | | | | |\n", sr.Seed, benchrun.Num(t.Exact, 2), t.Answerable, benchrun.Num(t.Partial, 3), benchrun.Num(t.Perplexity, 2))
		for _, r := range sr.Modes {
			vs := " | | "
			if c := r.VsKD; c != nil {
				ppl := "n/a"
				if c.LogPerplexityRatio != nil {
					ppl = gate.FormatRelative(*c.LogPerplexityRatio)
				}
				vs = fmt.Sprintf("%s | %+.2f (p %.3g) | %s", gate.FormatInterval(c.Partial), c.TaskScore.Estimate, c.McNemar.P, ppl)
			}
			fmt.Fprintf(w, "| %d | %s | %d | %.0f / %.0f | %s | %d | %s | %s | %s | %s | %s |\n", sr.Seed, r.Mode, r.Steps, r.TrainSeconds, r.TrainCPU,
				benchrun.Num(r.Exact, 2), r.Answerable, benchrun.Num(r.Partial, 3), benchrun.Num(r.Perplexity, 2), benchrun.Num(r.TeacherTop1, 3), benchrun.Num(r.TeacherKL, 3), vs)
		}
	}
	fmt.Fprintf(w, "\nAcross %d seed(s): mean ± sd [95%% t-interval of the mean]\n", len(runs))
	fmt.Fprintln(w, "| mode | exact | partial | golden ppl | teacher KL | − KD partial | − KD log ppl ratio | − CE partial | − CE log ppl ratio |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for i, m := range modes {
		var exact, partial, ppl, tkl, dkdP, dkdL, dceP, dceL []float64
		for _, sr := range runs {
			r := sr.Modes[i]
			exact, partial, ppl, tkl = append(exact, r.Exact), append(partial, r.Partial), append(ppl, r.Perplexity), append(tkl, r.TeacherKL)
			dkdP, dkdL = append(dkdP, diff(r.VsKD, false)), append(dkdL, diff(r.VsKD, true))
			dceP, dceL = append(dceP, diff(r.VsCE, false)), append(dceL, diff(r.VsCE, true))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", m.Name, spread(exact, 3), spread(partial, 3), spread(ppl, 2), spread(tkl, 3),
			spread(dkdP, 3), spread(dkdL, 3), spread(dceP, 3), spread(dceL, 3))
	}
	fmt.Fprintln(w, "\nThe offline teacher's collection is not charged to offline KD; updates per mode are set from the calibration's CPU seconds per update so that every mode spends the CPU time offline KD spends.")
}

// diff is a comparison's partial-credit difference or log-perplexity ratio
// (NaN when absent).
func diff(c *gate.Comparison, logPPL bool) float64 {
	switch {
	case c == nil:
		return math.NaN()
	case logPPL && c.LogPerplexityRatio == nil:
		return math.NaN()
	case logPPL:
		return c.LogPerplexityRatio.Estimate
	}
	return c.Partial.Estimate
}

// spread formats mean ± sd [lo, hi] over seeds ("—" when every value is
// absent).
func spread(xs []float64, prec int) string {
	allNaN := true
	for _, x := range xs {
		allNaN = allNaN && math.IsNaN(x)
	}
	if allNaN {
		return "—"
	}
	m, sd, half := numstats.MeanSpread(xs)
	if math.IsNaN(sd) {
		return benchrun.Num(m, prec)
	}
	return fmt.Sprintf("%s ± %s [%s, %s]", benchrun.Num(m, prec), benchrun.Num(sd, prec), benchrun.Num(m-half, prec), benchrun.Num(m+half, prec))
}
