package gate

import (
	"encoding/json"
	"github.com/distill-ml/distill/configs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeClock advances only when the scripted model says time passed.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

// scripted is a model whose answers, latencies and distributions are scripted.
type scripted struct {
	clock    *fakeClock
	wrong    map[string]bool // item prompt → answer wrongly
	ttft     time.Duration
	perToken func(n int) time.Duration // n: tokens produced so far by this model
	produced int
	pCorrect float64 // probability given to the expected next token
	tokHash  string
}

func (s *scripted) Tokenize(text string) []int32 {
	ids := make([]int32, len(text))
	for i := 0; i < len(text); i++ {
		ids[i] = int32(text[i])
	}
	return ids
}
func (s *scripted) TokenizerHash() string { return s.tokHash }
func (s *scripted) Generate(prompt []int32, maxNew int, stop []string, ignoreEOS bool, on func(int32) bool) (string, error) {
	answer := " yes [§1.1]"
	if s.wrong[string(bytesOf(prompt))] {
		answer = " no"
	}
	out := ""
	for i := 0; i < len(answer) && i < maxNew; i++ {
		if i == 0 {
			s.clock.t = s.clock.t.Add(s.ttft)
		} else {
			s.clock.t = s.clock.t.Add(s.perToken(s.produced))
		}
		s.produced++
		out += answer[i : i+1]
		if !on(int32(answer[i])) {
			break
		}
	}
	return out, nil
}
func (s *scripted) LogProbs(tokens []int32, from int) ([][]float32, error) {
	var rows [][]float32
	for p := from; p < len(tokens)-1; p++ {
		row := make([]float32, 256)
		rest := math.Log((1 - s.pCorrect) / 255)
		for i := range row {
			row[i] = float32(rest)
		}
		row[tokens[p+1]] = float32(math.Log(s.pCorrect))
		rows = append(rows, row)
	}
	return rows, nil
}
func (s *scripted) KVCacheBytes(ctx int) int64 { return int64(ctx) * 1024 }
func (s *scripted) Close() error               { return nil }

func bytesOf(ids []int32) []byte {
	b := make([]byte, len(ids))
	for i, v := range ids {
		b[i] = byte(v)
	}
	return b
}

type scriptedEngine struct{ models map[string]*scripted }

func (e scriptedEngine) Load(path string) (Model, error) { return e.models[ArtifactName(path)], nil }

func items(n int) []Item {
	var out []Item
	for i := 0; i < n; i++ {
		p := "Q" + string(rune('A'+i%26)) + string(rune('a'+i/26)) + "?"
		out = append(out, Item{ID: p, Prompt: p, Completion: " yes [§1.1]", Score: func(o string) Grade {
			if strings.Contains(o, "yes") && strings.Contains(o, "[§1.1]") {
				return Grade{Correct: true, Partial: 1, Answerable: true, FactFraction: 1, CitationCorrect: true, AbstentionCorrect: true}
			}
			// A wrong answer earns a quarter: half the facts, no citation.
			return Grade{Reason: "wrong answer", Partial: 0.25, Answerable: true, FactFraction: 0.5, AbstentionCorrect: true}
		}})
	}
	return out
}

func setup(t *testing.T) (string, []string, *fakeClock, scriptedEngine, []Item) {
	dir := t.TempDir()
	var paths []string
	for _, n := range []string{"student-f32", "student-q8_0", "student-q4_0"} {
		p := filepath.Join(dir, n+".gguf")
		os.WriteFile(p, make([]byte, 1<<20), 0o644)
		paths = append(paths, p)
	}
	clock := &fakeClock{t: time.Unix(0, 0)}
	its := items(50)
	wrongQ4 := map[string]bool{}
	for _, it := range its[:5] { // q4_0 answers 5 of 50 wrongly: drop 0.10
		wrongQ4[it.Prompt] = true
	}
	steady := func(d time.Duration) func(int) time.Duration { return func(int) time.Duration { return d } }
	eng := scriptedEngine{models: map[string]*scripted{
		"student-f32":  {clock: clock, ttft: 80 * time.Millisecond, perToken: steady(20 * time.Millisecond), pCorrect: 0.9, tokHash: "h"},
		"student-q8_0": {clock: clock, ttft: 40 * time.Millisecond, perToken: steady(10 * time.Millisecond), pCorrect: 0.89, tokHash: "h"},
		"student-q4_0": {clock: clock, ttft: 30 * time.Millisecond, perToken: steady(8 * time.Millisecond), pCorrect: 0.8, wrong: wrongQ4, tokHash: "h"},
		"teacher":      {clock: clock, ttft: 0, perToken: steady(time.Millisecond), pCorrect: 0.9, tokHash: "h"},
	}}
	return dir, paths, clock, eng, its
}

func baseConfig() Config {
	return Config{
		Routes:    map[string]Route{"policy": {Golden: "golden.jsonl", Thresholds: Thresholds{MaxP95TTFTMs: 100, MaxP95TokenMs: 15}}},
		Sustained: Sustain{Seconds: 60, IntervalSeconds: 10},
		Context:   256,
	}
}

func TestGateApprovesWithinDropAndRejectsBeyond(t *testing.T) {
	_, paths, clock, eng, its := setup(t)
	rep, err := Run(baseConfig(), Options{Baseline: paths[0], Candidates: paths[1:], Routes: map[string][]Item{"policy": its}, Engine: eng, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Approved) != 1 || rep.Approved[0] != "student-q8_0" {
		t.Fatalf("approved %v, want [student-q8_0]", rep.Approved)
	}
	if rep.Pass {
		t.Fatal("gate passed although required student-q4_0 failed")
	}
	q4 := rep.Artifacts[2]
	if got := q4.Drop["policy"]; math.Abs(got-0.10) > 1e-9 {
		t.Fatalf("q4 drop %v, want 0.10", got)
	}
	var dropCheck *Check
	for i := range q4.Checks {
		if q4.Checks[i].Name == "quality_drop" {
			dropCheck = &q4.Checks[i]
		}
	}
	if dropCheck == nil || dropCheck.Pass || dropCheck.Limit != 0.02 {
		t.Fatalf("quality_drop check %+v", dropCheck)
	}
	// Baseline latency (TTFT 80 ms, token 20 ms) fails the token bar; it is reported, not approved.
	if rep.Artifacts[0].Approved {
		t.Fatal("baseline with 20 ms tokens passed a 15 ms bar")
	}
	// Perplexity over the expected completion is exp(-log 0.9) for the baseline.
	if got, want := rep.Artifacts[0].Quality["policy"].Perplexity, 1/0.9; math.Abs(got-want) > 1e-5 {
		t.Fatalf("perplexity %v want %v", got, want)
	}
	cfg := baseConfig()
	cfg.Required = []string{"student-q8_0"}
	rep, err = Run(cfg, Options{Baseline: paths[0], Candidates: paths[1:], Routes: map[string][]Item{"policy": its}, Engine: eng, Clock: clock})
	if err != nil || !rep.Pass {
		t.Fatalf("with only q8_0 required the gate should pass: %v %v", err, rep.Summary)
	}
}

func TestLatencyPercentilesAndSustainedFloor(t *testing.T) {
	_, paths, clock, eng, its := setup(t)
	// q8_0 throttles: each token takes longer as the run goes on (10 ms → ~25 ms).
	eng.models["student-q8_0"].perToken = func(n int) time.Duration {
		return 10*time.Millisecond + time.Duration(n/400)*time.Millisecond
	}
	cfg := baseConfig()
	cfg.Routes["policy"] = Route{Golden: "g", Thresholds: Thresholds{MinSustainedTPS: 60}}
	rep, err := Run(cfg, Options{Baseline: paths[0], Candidates: paths[1:2], Routes: map[string][]Item{"policy": its}, Engine: eng, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Artifacts[1].Sustained
	if len(s.Samples) != 6 {
		t.Fatalf("%d sustained samples over 60 s at 10 s intervals, want 6", len(s.Samples))
	}
	if !(s.BurstTPS > s.FloorTPS) || s.FloorTPS != s.Samples[len(s.Samples)-1] {
		t.Fatalf("throttling not visible: burst %v floor %v samples %v", s.BurstTPS, s.FloorTPS, s.Samples)
	}
	if s.FloorTPS >= 60 || rep.Artifacts[1].Approved {
		t.Fatalf("floor %v should fail the 60 tok/s bar", s.FloorTPS)
	}
	// Steady baseline: 11-token answers taking 80 ms + 10×20 ms = 280 ms → 11/0.28 ≈ 39.3 tok/s.
	if b := rep.Artifacts[0].Sustained.FloorTPS; math.Abs(b-11/0.28) > 1.5 {
		t.Fatalf("baseline floor %v", b)
	}
	lat := rep.Artifacts[0].Latency
	if lat.TTFTMs.P95 != 80 || lat.TokenMs.P50 != 20 {
		t.Fatalf("baseline latency %+v", lat)
	}
}

func TestPercentilesMatchNumpyDefinition(t *testing.T) {
	xs := make([]float64, 100)
	for i := range xs {
		xs[99-i] = float64(i + 1)
	}
	p := percentiles(xs)
	// numpy.percentile(range(1, 101), [50, 95, 99]) = 50.5, 95.05, 99.01
	if math.Abs(p.P50-50.5) > 1e-9 || math.Abs(p.P95-95.05) > 1e-9 || math.Abs(p.P99-99.01) > 1e-9 || p.Max != 100 {
		t.Fatalf("%+v", p)
	}
}

func TestTeacherAgreementAndReports(t *testing.T) {
	dir, paths, clock, eng, its := setup(t)
	cfg := baseConfig()
	cfg.Teacher = filepath.Join(dir, "teacher.gguf")
	os.WriteFile(cfg.Teacher, []byte("x"), 0o644)
	rep, err := Run(cfg, Options{Baseline: paths[0], Candidates: paths[1:], Routes: map[string][]Item{"policy": its}, Engine: eng, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	q := rep.Artifacts[0].Quality["policy"]
	if !q.HasTeacher || q.TeacherTop1 != 1 || q.TeacherKL > 1e-6 {
		t.Fatalf("baseline vs identical teacher: %+v", q)
	}
	if kl := rep.Artifacts[2].Quality["policy"].TeacherKL; kl <= 0.01 {
		t.Fatalf("q4 KL %v should be clearly positive", kl)
	}
	out := t.TempDir()
	if err := WriteReports(out, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "gate.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Artifacts) != 4 || !back.Artifacts[3].Teacher || back.Pass != rep.Pass {
		t.Fatalf("gate.json round trip (baseline, 2 candidates, the teacher): %v", err)
	}
	if a := back.Artifacts[1].Quality["policy"].Answers; len(a) != 50 || !a[0].Correct || a[0].Partial != 1 || a[0].Tokens == 0 {
		t.Fatalf("gate.json per-item answers: %+v", a)
	}
	md, _ := os.ReadFile(filepath.Join(out, "gate.md"))
	for _, want := range []string{"student-q8_0", "approved", "rejected", "**FAIL**", "quality_drop", "| teacher | policy | 1.000 (50/50) | 1.000 |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("gate.md lacks %q", want)
		}
	}
	for _, f := range []string{"report.html", "sustained.png", "token_latency.png", "quality.png"} {
		st, err := os.Stat(filepath.Join(out, f))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	c := Config{}
	c.Defaults()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "routes") {
		t.Fatalf("empty routes accepted: %v", err)
	}
	c = baseConfig()
	c.Routes["policy"] = Route{Golden: "g", Thresholds: Thresholds{MinTaskScore: 1.5}}
	c.Defaults()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "min_task_score") {
		t.Fatalf("min_task_score 1.5 accepted: %v", err)
	}
	c.Routes["policy"] = Route{Golden: "g", Thresholds: Thresholds{MaxDropVsTeacher: -0.1}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "max_drop_vs_teacher") {
		t.Fatalf("negative max_drop_vs_teacher accepted: %v", err)
	}
	_, paths, clock, eng, its := setup(t)
	cfg := baseConfig()
	cfg.Required = []string{"student-q5"}
	if _, err := Run(cfg, Options{Baseline: paths[0], Candidates: paths[1:], Routes: map[string][]Item{"policy": its}, Engine: eng, Clock: clock}); err == nil {
		t.Fatal("unknown required candidate accepted")
	}
}

func TestReferencesAreMeasuredButNeverApproved(t *testing.T) {
	_, paths, clock, eng, its := setup(t)
	rep, err := Run(baseConfig(), Options{Baseline: paths[0], Candidates: paths[1:2], References: paths[2:], Routes: map[string][]Item{"policy": its}, Engine: eng, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ref := rep.Artifacts[2]
	if !ref.Reference || ref.Required || ref.Approved || len(ref.Checks) != 0 || len(ref.Sustained.Samples) != 0 {
		t.Fatalf("reference %+v", ref)
	}
	if ref.Quality["policy"].TaskScore != 0.9 || math.Abs(ref.Drop["policy"]-0.1) > 1e-9 {
		t.Fatalf("reference quality %+v drop %v", ref.Quality["policy"], ref.Drop)
	}
	if !rep.Pass || len(rep.Approved) != 1 {
		t.Fatalf("a failing reference must not fail the gate: %s %v", rep.Summary, rep.Approved)
	}
}

func TestEmbeddedGatePresetLoads(t *testing.T) {
	var cfg Config
	if err := configs.Load("gate", &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	th := cfg.Routes["policy"].Thresholds
	if th.MaxQualityDrop != 0.02 || cfg.Sustained.Seconds != 600 {
		t.Fatalf("%+v", cfg)
	}
	// The floor sits above the always-abstain score of the policy golden set
	// (30 of its first 100 items are abstentions): an abstain-everything
	// student must not pass the embedded bars.
	if th.MinTaskScore <= 0.30 || th.MaxDropVsTeacher <= 0 {
		t.Fatalf("embedded floor %v and drop-vs-teacher bar %v", th.MinTaskScore, th.MaxDropVsTeacher)
	}
}

func findCheck(a *Artifact, name string) *Check {
	for i := range a.Checks {
		if a.Checks[i].Name == name {
			return &a.Checks[i]
		}
	}
	return nil
}

func TestTeacherIsScoredAndDropVsTeacherIsABar(t *testing.T) {
	dir, paths, clock, eng, its := setup(t)
	// The teacher answers every item right; q4_0 misses 5 of 50: 0.10 below the teacher.
	cfg := baseConfig()
	cfg.Routes["policy"] = Route{Golden: "g", Thresholds: Thresholds{MaxDropVsTeacher: 0.05}}
	cfg.Teacher = filepath.Join(dir, "teacher.gguf")
	os.WriteFile(cfg.Teacher, []byte("x"), 0o644)
	rep, err := Run(cfg, Options{Baseline: paths[0], Candidates: paths[1:], Routes: map[string][]Item{"policy": its}, Engine: eng, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	var teacher *Artifact
	for _, a := range rep.Artifacts {
		if a.Teacher {
			teacher = a
		}
	}
	if teacher == nil || teacher.Name != "teacher" || teacher.Approved || teacher.Required || len(teacher.Checks) != 0 || len(teacher.Sustained.Samples) != 0 {
		t.Fatalf("teacher artifact %+v", teacher)
	}
	if q := teacher.Quality["policy"]; q.TaskScore != 1 || q.Items != 50 || q.HasTeacher {
		t.Fatalf("teacher quality %+v", q)
	}
	q8, q4 := rep.Artifacts[1], rep.Artifacts[2]
	if c := findCheck(q8, "drop_vs_teacher"); c == nil || !c.Pass || c.Value != 0 || c.Limit != 0.05 {
		t.Fatalf("q8_0 drop_vs_teacher %+v", c)
	}
	if c := findCheck(q4, "drop_vs_teacher"); c == nil || c.Pass || math.Abs(c.Value-0.10) > 1e-12 {
		t.Fatalf("q4_0 drop_vs_teacher %+v", c)
	}
	if q4.Approved || math.Abs(q4.DropVsTeacher["policy"]-0.10) > 1e-12 {
		t.Fatalf("q4_0 approved %v drop vs teacher %v", q4.Approved, q4.DropVsTeacher)
	}
	// Without a teacher the bar cannot be measured and is not applied.
	cfg.Teacher = ""
	rep, err = Run(cfg, Options{Baseline: paths[0], Candidates: paths[1:], Routes: map[string][]Item{"policy": its}, Engine: eng, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if c := findCheck(rep.Artifacts[2], "drop_vs_teacher"); c != nil {
		t.Fatalf("drop_vs_teacher checked without a teacher: %+v", c)
	}
}

func TestFloorRejectsAnAbstainEverythingCandidate(t *testing.T) {
	_, paths, clock, eng, its := setup(t)
	all := map[string]bool{}
	for _, it := range its[:20] { // q4_0 is right on 30 of 50: 0.60
		all[it.Prompt] = true
	}
	eng.models["student-q4_0"].wrong = all
	cfg := baseConfig()
	cfg.Routes["policy"] = Route{Golden: "g", Thresholds: Thresholds{MinTaskScore: 0.7, MaxQualityDrop: 1}}
	rep, err := Run(cfg, Options{Baseline: paths[0], Candidates: paths[1:], Routes: map[string][]Item{"policy": its}, Engine: eng, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	q4 := rep.Artifacts[2]
	if c := findCheck(q4, "task_score"); c == nil || c.Pass || c.Limit != 0.7 || math.Abs(c.Value-0.6) > 1e-12 || q4.Approved {
		t.Fatalf("q4_0 under the floor: check %+v approved %v", c, q4.Approved)
	}
	if c := findCheck(rep.Artifacts[1], "task_score"); c == nil || !c.Pass {
		t.Fatalf("q8_0 above the floor: %+v", c)
	}
}

func TestPairedComparisonWithReference(t *testing.T) {
	_, paths, clock, eng, its := setup(t)
	// Baseline (KD) right on all 50 items with p(next)=0.9; the reference
	// (q4_0 as the CE-only stand-in) wrong on 5 with p(next)=0.8.
	rep, err := Run(baseConfig(), Options{Baseline: paths[0], Candidates: paths[1:2], References: paths[2:], Routes: map[string][]Item{"policy": its}, Engine: eng, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Comparisons) != 1 {
		t.Fatalf("comparisons %+v", rep.Comparisons)
	}
	c := rep.Comparisons[0]
	if c.A != "student-f32" || c.B != "student-q4_0" || c.Route != "policy" || c.Items != 50 {
		t.Fatalf("comparison %+v", c)
	}
	// Exact: 5 of 50 more right → +0.10; all 5 discordant pairs favour A:
	// McNemar p = 2·C(5,0)/2^5 = 0.0625.
	if math.Abs(c.TaskScore.Estimate-0.10) > 1e-12 || c.McNemar.AOnly != 5 || c.McNemar.BOnly != 0 || math.Abs(c.McNemar.P-0.0625) > 1e-12 {
		t.Fatalf("exact comparison %+v %+v", c.TaskScore, c.McNemar)
	}
	if c.TaskScore.Lo < 0 || c.TaskScore.Hi > 0.2+1e-12 || c.TaskScore.Level != 0.95 || c.TaskScore.Resamples != 10000 {
		t.Fatalf("exact interval %+v", c.TaskScore)
	}
	// Partial: 5 items at 1 vs 0.25 → 5·0.75/50 = 0.075.
	if math.Abs(c.Partial.Estimate-0.075) > 1e-12 {
		t.Fatalf("partial %+v", c.Partial)
	}
	// Every token: −ln 0.9 vs −ln 0.8, so log(ppl_A/ppl_B) = ln(0.8/0.9) on every resample.
	want := math.Log(0.8 / 0.9)
	if lp := c.LogPerplexityRatio; lp == nil || math.Abs(lp.Estimate-want) > 1e-6 || math.Abs(lp.Lo-want) > 1e-6 || math.Abs(lp.Hi-want) > 1e-6 {
		t.Fatalf("log perplexity ratio %+v, want %v", lp, want)
	}
	// Per-item results are in the report, so the comparison can be redone from gate.json.
	ans := rep.Artifacts[2].Quality["policy"].Answers
	if len(ans) != 50 || ans[0].Correct || ans[0].Partial != 0.25 || ans[0].Tokens != len(" yes [§1.1]") || math.Abs(ans[0].NLL-float64(ans[0].Tokens)*-math.Log(0.8)) > 1e-4 {
		t.Fatalf("per-item answer %+v", ans[0])
	}
	q := rep.Artifacts[2].Quality["policy"]
	if math.Abs(q.PartialScore-(45+5*0.25)/50) > 1e-12 || q.Answerable != 50 || q.AnswerableCorrect != 45 || math.Abs(q.FactRecall-(45+5*0.5)/50) > 1e-12 {
		t.Fatalf("reference partial means %+v", q)
	}
	var md strings.Builder
	WriteTable(&md, rep)
	for _, want := range []string{"Paired comparisons", "student-f32 − student-q4_0", "McNemar", "+0.100 [", "p = 0.0625"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("gate.md lacks %q:\n%s", want, md.String())
		}
	}
}
