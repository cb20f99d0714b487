package gate

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"
)

// SchemaVersion of gate.json.
const SchemaVersion = 1

// Check is one threshold applied to one measured value.
type Check struct {
	Route string  `json:"route,omitempty"`
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Op    string  `json:"op"` // "<=" or ">="
	Limit float64 `json:"limit"`
	Unit  string  `json:"unit,omitempty"`
	Pass  bool    `json:"pass"`
}

// Artifact is everything measured about one GGUF.
type Artifact struct {
	Name      string                   `json:"name"`
	Path      string                   `json:"path"`
	Baseline  bool                     `json:"baseline"`
	Reference bool                     `json:"reference"` // compared for quality only, never approved
	Teacher   bool                     `json:"teacher"`   // the teacher: scored for quality only, never approved
	Quality   map[string]*RouteQuality `json:"quality"`
	Drop      map[string]float64       `json:"quality_drop"` // baseline task score − this one's, per route
	// DropVsTeacher is the teacher's task score − this one's, per route (with a teacher).
	DropVsTeacher map[string]float64 `json:"drop_vs_teacher,omitempty"`
	Latency       Latency            `json:"latency"`
	Sustained     Sustained          `json:"sustained"`
	Footprint     Footprint          `json:"footprint"`
	// KLD compares a candidate with the baseline per token set: each
	// route's golden completions (by route name) and the held-out text
	// (HeldOutSet). Candidates only.
	KLD      map[string]*KLDStats `json:"kld,omitempty"`
	Checks   []Check              `json:"checks"`
	Approved bool                 `json:"approved"`
	Required bool                 `json:"required"`
}

// Report is gate.json.
type Report struct {
	SchemaVersion int         `json:"schema_version"`
	Created       time.Time   `json:"created"`
	Config        Config      `json:"config"`
	Artifacts     []*Artifact `json:"artifacts"` // baseline first, then candidates, references, the teacher
	// Comparisons pair the baseline with each reference item by item (e.g.
	// the KD student against the CE-only one).
	Comparisons []Comparison `json:"comparisons,omitempty"`
	Approved    []string     `json:"approved"`
	Pass        bool         `json:"pass"`
	Summary     string       `json:"summary"`
}

// Options are the inputs of one gate run.
type Options struct {
	Baseline   string   // the unquantized student GGUF
	Candidates []string // quantized exports
	// References are extra artifacts measured on the same golden set for
	// comparison (e.g. the CE-only student): quality and latency, no sustained
	// run, never approved or required.
	References []string
	Routes     map[string][]Item
	Engine     Engine
	Clock      Clock     // nil: wall clock
	Progress   io.Writer // one line per step; nil: quiet
}

// ArtifactName is the name a candidate goes by: its file name without .gguf.
func ArtifactName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".gguf")
}

// Run measures the baseline and every candidate and applies the thresholds.
func Run(cfg Config, opt Options) (*Report, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opt.Engine == nil || opt.Baseline == "" || len(opt.Candidates) == 0 {
		return nil, errors.New("gate: need an engine, a baseline and at least one candidate")
	}
	clock := opt.Clock
	if clock == nil {
		clock = WallClock
	}
	order := make([]string, 0, len(cfg.Routes))
	for r := range cfg.Routes {
		order = append(order, r)
		if len(opt.Routes[r]) == 0 {
			return nil, fmt.Errorf("gate: route %s has no golden items", r)
		}
	}
	sort.Strings(order)
	names := map[string]bool{}
	all := append(append([]string{opt.Baseline}, opt.Candidates...), opt.References...)
	nStudents := len(all)
	if cfg.Teacher != "" {
		all = append(all, cfg.Teacher)
	}
	for _, c := range all {
		n := ArtifactName(c)
		if names[n] {
			return nil, fmt.Errorf("gate: two artifacts are named %q; give them distinct file names", n)
		}
		names[n] = true
	}
	required := map[string]bool{}
	for _, r := range cfg.Required {
		if !names[r] || r == ArtifactName(opt.Baseline) || cfg.Teacher != "" && r == ArtifactName(cfg.Teacher) {
			return nil, fmt.Errorf("gate: required candidate %q is not among the candidates", r)
		}
		required[r] = true
	}
	logf := func(format string, args ...any) {
		if opt.Progress != nil {
			fmt.Fprintf(opt.Progress, format+"\n", args...)
		}
	}

	var teacher Model
	if cfg.Teacher != "" {
		t, err := opt.Engine.Load(cfg.Teacher)
		if err != nil {
			return nil, fmt.Errorf("gate: load teacher %s: %w", cfg.Teacher, err)
		}
		defer t.Close()
		teacher = t
	}

	var heldOut string
	if cfg.HeldOut.Text != "" {
		b, err := os.ReadFile(cfg.HeldOut.Text)
		if err != nil {
			return nil, fmt.Errorf("gate: held_out.text: %w", err)
		}
		heldOut = string(b)
	}
	spool, err := newBaseSpool()
	if err != nil {
		return nil, fmt.Errorf("gate: %w", err)
	}
	defer spool.Close()

	rep := &Report{SchemaVersion: SchemaVersion, Created: time.Now().UTC().Truncate(time.Second), Config: cfg}
	for i, path := range all {
		a := &Artifact{Name: ArtifactName(path), Path: path, Baseline: i == 0, Reference: i > len(opt.Candidates) && i < nStudents, Teacher: i >= nStudents}
		a.Required = !a.Baseline && !a.Reference && !a.Teacher && (len(required) == 0 || required[a.Name])
		logf("gate: measuring %s (%d/%d)", a.Name, i+1, len(all))
		agree := teacher
		if a.Teacher {
			agree = nil // the teacher's agreement with itself says nothing
		}
		var kp *kldPass
		switch {
		case a.Baseline:
			kp = &kldPass{spool: spool, record: true}
		case !a.Reference && !a.Teacher:
			if err := spool.rewind(); err != nil {
				return nil, fmt.Errorf("gate: %w", err)
			}
			kp = &kldPass{spool: spool, sets: map[string]*kldAccumulator{}}
		}
		if err := measureArtifact(a, agree, kp, heldOut, opt, &cfg, order, clock, logf); err != nil {
			return nil, fmt.Errorf("gate: %s: %w", path, err)
		}
		rep.Artifacts = append(rep.Artifacts, a)
	}
	base := rep.Artifacts[0]
	var teacherArt *Artifact
	if cfg.Teacher != "" {
		teacherArt = rep.Artifacts[len(rep.Artifacts)-1]
	}
	for _, a := range rep.Artifacts {
		a.Drop = map[string]float64{}
		for _, r := range order {
			a.Drop[r] = base.Quality[r].TaskScore - a.Quality[r].TaskScore
		}
		if teacherArt != nil && !a.Teacher {
			a.DropVsTeacher = map[string]float64{}
			for _, r := range order {
				a.DropVsTeacher[r] = teacherArt.Quality[r].TaskScore - a.Quality[r].TaskScore
			}
		}
		if a.Reference || a.Teacher {
			continue
		}
		a.Checks = checks(a, base, &cfg, order)
		a.Approved = true
		for _, c := range a.Checks {
			a.Approved = a.Approved && c.Pass
		}
		if !a.Baseline && a.Approved {
			rep.Approved = append(rep.Approved, a.Name)
		}
	}
	for _, ref := range rep.Artifacts[1:nStudents] {
		if !ref.Reference {
			continue
		}
		for _, r := range order {
			c, err := Compare(r, base, ref)
			if err != nil {
				return nil, fmt.Errorf("gate: %w", err)
			}
			rep.Comparisons = append(rep.Comparisons, c)
		}
	}
	rep.Pass = true
	var failed []string
	for _, a := range rep.Artifacts[1:] {
		if a.Required && !a.Approved {
			rep.Pass = false
			failed = append(failed, a.Name)
		}
	}
	if rep.Pass {
		rep.Summary = fmt.Sprintf("PASS: approved %s", strings.Join(rep.Approved, ", "))
	} else {
		rep.Summary = fmt.Sprintf("FAIL: required candidate(s) %s did not pass", strings.Join(failed, ", "))
	}
	return rep, nil
}

func measureArtifact(a *Artifact, teacher Model, kp *kldPass, heldOut string, opt Options, cfg *Config, order []string, clock Clock, logf func(string, ...any)) error {
	st, err := os.Stat(a.Path)
	if err != nil {
		return err
	}
	a.Footprint.FileBytes = st.Size()
	debug.FreeOSMemory() // return the previous artifact's pages before resetting the peak
	canRSS := resetPeakRSS()
	m, err := opt.Engine.Load(a.Path)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	defer m.Close()
	if teacher != nil && teacher.TokenizerHash() != m.TokenizerHash() {
		return fmt.Errorf("tokenizer %s differs from the teacher's %s: agreement needs the same tokenizer", m.TokenizerHash(), teacher.TokenizerHash())
	}
	a.Footprint.KVCacheBytes = m.KVCacheBytes(cfg.Context)
	routes := map[string][]Item{}
	var prompts [][]int32
	for _, r := range order {
		items := opt.Routes[r]
		if cfg.MaxItems > 0 && len(items) > cfg.MaxItems {
			items = items[:cfg.MaxItems]
		}
		routes[r] = items
		for _, it := range items {
			prompts = append(prompts, m.Tokenize(it.Prompt))
		}
	}
	a.Quality, a.Latency, err = measureQualityAndLatency(m, teacher, kp, routes, order, cfg, clock, nil)
	if err != nil {
		return err
	}
	if kp != nil && heldOut != "" {
		logf("gate:   %s held-out text (%d-token chunks)", a.Name, cfg.HeldOut.Context)
		if err := scoreHeldOut(m, heldOut, cfg.HeldOut.Context, cfg.HeldOut.MaxChunks, kp); err != nil {
			return fmt.Errorf("%s: %w", cfg.HeldOut.Text, err)
		}
	}
	if kp != nil && !kp.record {
		a.KLD = kp.results()
		for _, set := range append(append([]string{}, order...), HeldOutSet) {
			if k := a.KLD[set]; k != nil {
				logf("gate:   %s KLD vs baseline on %s: mean %.6f ± %.6f, p99 %.6f, same top %.2f%%", a.Name, set, k.MeanKLD, k.MeanKLDUnc, k.KLDP99, 100*k.SameTop)
			}
		}
	}
	for _, r := range order {
		q := a.Quality[r]
		logf("gate:   %s route %s: task score %.3f (%d/%d), perplexity %.3f", a.Name, r, q.TaskScore, q.Correct, q.Items, q.Perplexity)
	}
	logf("gate:   %s latency: TTFT p95 %.1f ms, token p95 %.2f ms", a.Name, a.Latency.TTFTMs.P95, a.Latency.TokenMs.P95)
	a.Footprint.PeakRSSBytes = -1
	if a.Reference || a.Teacher {
		return nil
	}
	if cfg.Sustained.Seconds > 0 {
		logf("gate:   %s sustained decode for %gs", a.Name, cfg.Sustained.Seconds)
	}
	a.Sustained, err = measureSustained(m, prompts, cfg, clock)
	if err != nil {
		return err
	}
	if canRSS {
		a.Footprint.PeakRSSBytes = peakRSS()
	}
	return nil
}

// kldChecks adds the KL-divergence bars of one token set; a set that was
// not measured fails them (NaN).
func kldChecks(add func(route, name string, value float64, op string, limit float64, unit string), set string, k *KLDStats, maxP99, minSameTop float64) {
	p99, same := math.NaN(), math.NaN()
	if k != nil {
		p99, same = k.KLDP99, k.SameTop
	}
	add(set, "kld_p99", p99, "<=", maxP99, "nats")
	add(set, "same_top", same, ">=", minSameTop, "")
}

func checks(a, base *Artifact, cfg *Config, order []string) []Check {
	var cs []Check
	add := func(route, name string, value float64, op string, limit float64, unit string) {
		if limit == 0 && !(name == "quality_drop") {
			return // disabled
		}
		pass := false
		switch op {
		case "<=":
			pass = value <= limit+1e-12
		case ">=":
			pass = value >= limit-1e-12
		}
		if math.IsNaN(value) {
			pass = false
		}
		cs = append(cs, Check{Route: route, Name: name, Value: value, Op: op, Limit: limit, Unit: unit, Pass: pass})
	}
	const mb = 1 << 20
	for _, r := range order {
		t := cfg.Routes[r].Thresholds
		q := a.Quality[r]
		if !a.Baseline {
			add(r, "quality_drop", a.Drop[r], "<=", t.MaxQualityDrop, "")
		}
		add(r, "task_score", q.TaskScore, ">=", t.MinTaskScore, "")
		if a.DropVsTeacher != nil {
			add(r, "drop_vs_teacher", a.DropVsTeacher[r], "<=", t.MaxDropVsTeacher, "")
		}
		add(r, "perplexity", q.Perplexity, "<=", t.MaxPerplexity, "")
		if !a.Baseline && t.MaxPPLIncrease > 0 {
			add(r, "perplexity_increase", q.Perplexity/base.Quality[r].Perplexity-1, "<=", t.MaxPPLIncrease, "")
		}
		if q.HasTeacher {
			add(r, "teacher_kl", q.TeacherKL, "<=", t.MaxTeacherKL, "nats")
			add(r, "teacher_top1", q.TeacherTop1, ">=", t.MinTeacherTop1, "")
		}
		add(r, "p95_ttft_ms", a.Latency.TTFTMs.P95, "<=", t.MaxP95TTFTMs, "ms")
		add(r, "p95_token_ms", a.Latency.TokenMs.P95, "<=", t.MaxP95TokenMs, "ms")
		if t.MinSustainedTPS > 0 {
			floor := a.Sustained.FloorTPS
			if len(a.Sustained.Samples) == 0 {
				floor = math.NaN() // no sustained run: the bar cannot be shown to hold
			}
			add(r, "sustained_floor_tps", floor, ">=", t.MinSustainedTPS, "tok/s")
		}
		add(r, "file_mb", float64(a.Footprint.FileBytes)/mb, "<=", t.MaxFileMB, "MiB")
		if t.MaxPeakRSSMB > 0 {
			v := float64(a.Footprint.PeakRSSBytes) / mb
			if a.Footprint.PeakRSSBytes < 0 {
				v = math.NaN()
			}
			add(r, "peak_rss_mb", v, "<=", t.MaxPeakRSSMB, "MiB")
		}
		add(r, "kv_cache_mb", float64(a.Footprint.KVCacheBytes)/mb, "<=", t.MaxKVCacheMB, "MiB")
		if !a.Baseline {
			kldChecks(add, r, a.KLD[r], t.MaxKLDP99, t.MinSameTop)
		}
	}
	if !a.Baseline && cfg.HeldOut.Text != "" {
		kldChecks(add, HeldOutSet, a.KLD[HeldOutSet], cfg.HeldOut.MaxKLDP99, cfg.HeldOut.MinSameTop)
	}
	return cs
}
