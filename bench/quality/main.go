// Command quality repeats the quickstart's distillation comparison over
// several seeds and reports each seed and the mean ± spread: the teacher's
// golden task score, the KD and CE-only students' exact and partial scores
// and golden perplexities, each seed's paired KD − CE comparison over the
// golden items (the gate's 95% bootstrap intervals and McNemar's exact test),
// and KD − CE with a 95% interval across seeds.
//
//	go run ./bench/quality -seeds 3                          # the embedded defaults
//	go run ./bench/quality -seeds 3 -profile full            # the quickstart's longer profile
//	go run ./bench/quality -seeds 3 -set params.scale=0.1 -set params.student_steps=100
//
// Each seed runs `distill run quickstart --set params.seed=N` in its own work
// directory (<work>/seed-N; a rerun skips current stages), then measures the
// teacher with `distill gate` on the same golden items, and reads the
// students from the pipeline's gate.json (student-f32 is the KD student,
// student-ce-f32 the CE-only reference). Results also go to
// <work>/quality.json. Nothing here tunes anything: the golden set, scorer
// and gate are the pipeline's.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/distill-ml/distill/bench/internal/benchrun"
	"github.com/distill-ml/distill/distill/gate"
	"github.com/distill-ml/distill/internal/atomicfile"
	numstats "github.com/distill-ml/distill/num/stats"
)

// repeated is a repeatable string flag.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, " ") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// score is one model's golden-set result.
type score struct {
	Correct    int      `json:"correct"`
	Items      int      `json:"items"`
	Exact      float64  `json:"exact"`      // exact task score (correct / items)
	Partial    *float64 `json:"partial"`    // partial credit (see partialCredit)
	Perplexity float64  `json:"perplexity"` // on the golden completions
}

// seedResult is one seed's comparison.
type seedResult struct {
	Seed    int64 `json:"seed"`
	Teacher score `json:"teacher"`
	KD      score `json:"kd"`
	CE      score `json:"ce"`
	// Paired is the gate's KD − CE-only comparison over the golden items
	// (nil when the gate.json holds none).
	Paired *gate.Comparison `json:"paired,omitempty"`
	Wall   float64          `json:"wall_seconds"` // pipeline + teacher measurement
}

func main() {
	var sets repeated
	seeds := flag.Int("seeds", 3, "seeds to run (params.seed = first .. first+seeds-1)")
	first := flag.Int64("first-seed", 1, "first seed")
	work := flag.String("work", "/tmp/distill-quality", "work directory (one subdirectory per seed; reruns skip current stages)")
	bin := flag.String("distill", "", "distill binary (default: go build ./cmd/distill into the work directory)")
	pipeline := flag.String("pipeline", "quickstart", "pipeline to run (embedded name or file)")
	profile := flag.String("profile", "", "the pipeline's named parameter set (e.g. full), passed as --profile")
	flag.Var(&sets, "set", "pipeline override (params.NAME=VALUE), repeatable")
	flag.Parse()
	if *seeds < 1 {
		fail(fmt.Errorf("-seeds must be >= 1, got %d", *seeds))
	}
	for _, s := range sets {
		if strings.HasPrefix(s, "params.seed=") || strings.HasPrefix(s, "work=") {
			fail(fmt.Errorf("-set %s: the seed and work directory are set per seed by this command", s))
		}
	}
	if err := os.MkdirAll(*work, 0o755); err != nil {
		fail(err)
	}
	if *bin == "" {
		*bin = filepath.Join(*work, "distill")
		build := exec.Command("go", "build", "-o", *bin, "./cmd/distill")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fail(fmt.Errorf("build distill: %w", err))
		}
	}
	var results []seedResult
	for i := 0; i < *seeds; i++ {
		seed := *first + int64(i)
		r, err := runSeed(*bin, *pipeline, *profile, filepath.Join(*work, fmt.Sprintf("seed-%d", seed)), seed, sets)
		if err != nil {
			fail(fmt.Errorf("seed %d: %w", seed, err))
		}
		results = append(results, r)
	}
	if *profile != "" {
		sets = append([]string{"--profile " + *profile}, sets...)
	}
	report(os.Stdout, results, sets)
	b, err := json.MarshalIndent(map[string]any{"profile": *profile, "sets": sets, "seeds": results}, "", "  ")
	if err != nil {
		fail(err)
	}
	if err := atomicfile.WriteFile(filepath.Join(*work, "quality.json"), append(b, '\n'), 0o644); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "quality:", err)
	os.Exit(1)
}

// runSeed runs the pipeline for one seed and reads its results.
func runSeed(bin, pipeline, profile, dir string, seed int64, sets []string) (seedResult, error) {
	began := time.Now()
	args := []string{"run", pipeline, "--set", "work=" + dir, "--set", "params.seed=" + strconv.FormatInt(seed, 10)}
	if profile != "" {
		args = append(args, "--profile", profile)
	}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	runErr := benchrun.Distill(bin, args...)
	// A failed gate (the quickstart's gate stage may fail its bars and the run
	// then exits 1) is a verdict, not a lost measurement: its gate.json holds
	// every artifact's quality. Anything else that failed leaves no report.
	rep, err := gate.ReadReport(filepath.Join(dir, "gate", "gate.json"))
	if err != nil {
		if runErr != nil {
			return seedResult{}, runErr
		}
		return seedResult{}, err
	}
	if runErr != nil && !rep.Pass {
		fmt.Fprintf(os.Stderr, "quality: seed %d: the gate failed its bars (%v); its measurements are used\n", seed, runErr)
	} else if runErr != nil {
		return seedResult{}, runErr
	}
	r := seedResult{Seed: seed}
	var kdOK, ceOK bool
	for _, a := range rep.Artifacts {
		switch a.Name {
		case "student-f32":
			r.KD, kdOK = policyScore(a)
		case "student-ce-f32":
			r.CE, ceOK = policyScore(a)
		}
	}
	if !kdOK || !ceOK {
		return r, fmt.Errorf("%s/gate/gate.json: want policy-route quality for student-f32 and student-ce-f32", dir)
	}
	for i, c := range rep.Comparisons {
		if c.Route == "policy" && c.A == "student-f32" && c.B == "student-ce-f32" {
			r.Paired = &rep.Comparisons[i]
		}
	}
	// The teacher on the same golden items: the gate scores it when the
	// pipeline passes --teacher (the quickstart does); otherwise the gate's
	// own measurement with the teacher as baseline (the gate needs a
	// candidate: the KD student, measured again), latency bars off.
	for _, a := range rep.Artifacts {
		if a.Teacher {
			if r.Teacher, kdOK = policyScore(a); kdOK {
				r.Wall = time.Since(began).Seconds()
				return r, nil
			}
		}
	}
	tdir := filepath.Join(dir, "teacher-gate")
	if _, err := os.Stat(filepath.Join(tdir, "gate.json")); err != nil {
		items := strconv.Itoa(rep.Config.MaxItems)
		if err := benchrun.Distill(bin, "gate", "--config", "gate", "--baseline", filepath.Join(dir, "teacher-f32.gguf"), "--out", tdir,
			"--candidates", filepath.Join(dir, "artifacts", "student-f32.gguf"),
			"--set", "routes.policy.golden="+rep.Config.Routes["policy"].Golden, "--set", "max_items="+items,
			"--set", "sustained.seconds=1", "--set", "sustained.interval_seconds=1",
			"--set", "routes.policy.thresholds.max_p95_ttft_ms=0", "--set", "routes.policy.thresholds.max_p95_token_ms=0",
			"--set", "routes.policy.thresholds.min_sustained_tps=0"); err != nil {
			return r, fmt.Errorf("teacher measurement: %w", err)
		}
	}
	trep, err := gate.ReadReport(filepath.Join(tdir, "gate.json"))
	if err != nil {
		return r, err
	}
	var ok bool
	if len(trep.Artifacts) > 0 {
		r.Teacher, ok = policyScore(trep.Artifacts[0])
	}
	if !ok {
		return r, fmt.Errorf("%s/gate.json: no policy-route quality for the teacher", tdir)
	}
	r.Wall = time.Since(began).Seconds()
	return r, nil
}

func policyScore(a *gate.Artifact) (score, bool) {
	q := a.Quality["policy"]
	if q == nil {
		return score{}, false
	}
	return score{Correct: q.Correct, Items: q.Items, Exact: q.TaskScore, Partial: partialCredit(q), Perplexity: q.Perplexity}, true
}

// partialCredit is the route's partial-credit score (facts, citation,
// abstention; see synth.Result.Partial).
func partialCredit(q *gate.RouteQuality) *float64 { p := q.PartialScore; return &p }

// orNaN is *p, or NaN for nil.
func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// report prints the per-seed table and the summary.
func report(w io.Writer, rs []seedResult, sets []string) {
	over := "(none)"
	if len(sets) > 0 {
		over = strings.Join(sets, " ")
	}
	fmt.Fprintf(w, "quickstart comparison over %d seed(s); overrides: %s\n\n", len(rs), over)
	fmt.Fprintln(w, "| seed | teacher exact | teacher ppl | KD exact | KD partial | KD ppl | CE exact | CE partial | CE ppl | KD−CE exact | CE−KD ppl | wall s |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	cols := make([][]float64, 11)
	for _, r := range rs {
		row := []float64{r.Teacher.Exact, r.Teacher.Perplexity, r.KD.Exact, orNaN(r.KD.Partial), r.KD.Perplexity,
			r.CE.Exact, orNaN(r.CE.Partial), r.CE.Perplexity, r.KD.Exact - r.CE.Exact, r.CE.Perplexity - r.KD.Perplexity,
			orNaN(r.KD.Partial) - orNaN(r.CE.Partial)}
		for i, v := range row {
			cols[i] = append(cols[i], v)
		}
		fmt.Fprintf(w, "| %d | %s (%d/%d) | %s | %s (%d/%d) | %s | %s | %s (%d/%d) | %s | %s | %+.3f | %+.3f | %.0f |\n", r.Seed,
			benchrun.Num(r.Teacher.Exact, 3), r.Teacher.Correct, r.Teacher.Items, benchrun.Num(r.Teacher.Perplexity, 3),
			benchrun.Num(r.KD.Exact, 3), r.KD.Correct, r.KD.Items, benchrun.Num(orNaN(r.KD.Partial), 3), benchrun.Num(r.KD.Perplexity, 3),
			benchrun.Num(r.CE.Exact, 3), r.CE.Correct, r.CE.Items, benchrun.Num(orNaN(r.CE.Partial), 3), benchrun.Num(r.CE.Perplexity, 3),
			row[8], row[9], r.Wall)
	}
	fmt.Fprint(w, "| mean ± sd |")
	for _, c := range cols[:10] {
		m, sd, _ := numstats.MeanSpread(c)
		fmt.Fprintf(w, " %s ± %s |", benchrun.Num(m, 3), benchrun.Num(sd, 3))
	}
	fmt.Fprintln(w, " |")
	fmt.Fprintln(w)
	writePaired(w, rs)
	for _, d := range []struct {
		name string
		col  int
	}{{"KD − CE exact task score", 8}, {"KD − CE partial credit", 10}, {"CE − KD golden perplexity (positive: KD better)", 9}} {
		m, _, half := numstats.MeanSpread(cols[d.col])
		verdict := "interval includes 0: no difference shown"
		if math.IsNaN(half) {
			verdict = "one seed: no interval"
		} else if m-half > 0 {
			verdict = "interval above 0"
		} else if m+half < 0 {
			verdict = "interval below 0"
		}
		fmt.Fprintf(w, "%s: mean %s, 95%% interval across seeds [%s, %s] (%s)\n", d.name, benchrun.Num(m, 4), benchrun.Num(m-half, 4), benchrun.Num(m+half, 4), verdict)
	}
	pm, _, _ := numstats.MeanSpread(cols[3])
	if math.IsNaN(pm) {
		fmt.Fprintln(w, "partial credit: n/a (the gate in this tree does not report it yet)")
	}
}

// writePaired prints each seed's paired KD − CE-only comparison over the
// golden items, as the gate measured it.
func writePaired(w io.Writer, rs []seedResult) {
	fmt.Fprintln(w, "KD − CE-only paired over the golden items, per seed (95% bootstrap intervals; McNemar's exact test on the exact score):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| seed | exact [95%], McNemar p | partial [95%] | KD/CE golden perplexity [95%] |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, r := range rs {
		c := r.Paired
		if c == nil {
			fmt.Fprintf(w, "| %d | n/a | n/a | n/a |\n", r.Seed)
			continue
		}
		ppl := "n/a"
		if c.LogPerplexityRatio != nil {
			ppl = gate.FormatRelative(*c.LogPerplexityRatio)
		}
		fmt.Fprintf(w, "| %d | %s, p = %.3g | %s | %s |\n", r.Seed, gate.FormatInterval(c.TaskScore), c.McNemar.P, gate.FormatInterval(c.Partial), ppl)
	}
	fmt.Fprintln(w)
}
