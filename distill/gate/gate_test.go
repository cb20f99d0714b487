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
		out = append(out, Item{ID: p, Prompt: p, Completion: " yes [§1.1]", Score: func(o string) (bool, string) {
			if strings.Contains(o, "yes") && strings.Contains(o, "[§1.1]") {
				return true, ""
			}
			return false, "wrong answer"
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
	if err := json.Unmarshal(b, &back); err != nil || len(back.Artifacts) != 3 || back.Pass != rep.Pass {
		t.Fatalf("gate.json round trip: %v", err)
	}
	md, _ := os.ReadFile(filepath.Join(out, "gate.md"))
	for _, want := range []string{"student-q8_0", "approved", "rejected", "**FAIL**", "quality_drop"} {
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
	c.Routes["policy"] = Route{Golden: "g", Thresholds: Thresholds{MinQuality: 1.5}}
	c.Defaults()
	if err := c.Validate(); err == nil {
		t.Fatal("min_quality 1.5 accepted")
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
	if cfg.Routes["policy"].Thresholds.MaxQualityDrop != 0.02 || cfg.Sustained.Seconds != 600 {
		t.Fatalf("%+v", cfg)
	}
}
