package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/distill/collect/teacher/teachertest"
	"github.com/distill-ml/distill/distill/policy"
	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/distill/serve/servetest"
)

const testKey = "sk-collect-test-KEY-9876543210"

const testPolicy = `
version: 1
teachers:
  remote-teacher: {remote: true}
classes:
  public:
    teachers: [remote-teacher]
    store: [text, logprobs]
  internal:
    teachers: [remote-teacher]
    store: [text]
  sensitive:
    teachers: [remote-teacher]
    local_only: true
    store: [text, logprobs]
redactions:
  - {name: email, pattern: '[a-z0-9.]+@[a-z0-9.]+\.[a-z]{2,}', replace: '[EMAIL]'}
`

// collectFaults are the first-attempt faults of the in-process tests: five
// transient ways to fail, and no fault, by the prompt's hash.
var collectFaults = []teachertest.Fault{teachertest.Fault429, teachertest.Fault500, teachertest.FaultTimeout,
	teachertest.FaultTruncate, teachertest.FaultBadLogprobs, teachertest.NoFault}

func writePrompts(t *testing.T, path string, n int) []Prompt {
	var ps []Prompt
	var b strings.Builder
	for i := 0; i < n; i++ {
		p := Prompt{Prompt: fmt.Sprintf("Question %d about policy §%d.%d?", i, i%7, i%3), Class: "public"}
		switch {
		case i%17 == 3:
			p.Class = "sensitive"
		case i%13 == 5:
			p.Class = "internal"
		case i%19 == 7:
			p.Prompt = fmt.Sprintf("FAULT-400 question %d", i)
		case i%23 == 11:
			p.Prompt = fmt.Sprintf("ALWAYS-BAD question %d", i)
		case i%11 == 2:
			p.Prompt = fmt.Sprintf("Mail tech%d@fleet.example.com about scanner %d", i, i)
		}
		ps = append(ps, p)
		line, _ := json.Marshal(p)
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return ps
}

type env struct {
	cfg       Config
	proxy     *teachertest.FaultProxy
	pol       *policy.Policy
	url       string
	resolver  *teachertest.Resolver // resolves host names in teacher URLs (none by default)
	deadlines *teachertest.Deadlines
}

func newEnv(t *testing.T, n int) *env {
	t.Helper()
	dir := t.TempDir()
	srv, err := serve.New(servetest.Model{Script: func(p []byte) string {
		return fmt.Sprintf(" Answer for %d bytes [§1.%d].", len(p), len(p)%9)
	}}, serve.Options{NewSampler: servetest.GreedyFactory, MaxTopLogprobs: 8})
	if err != nil {
		t.Fatal(err)
	}
	deadlines := teachertest.NewDeadlines()
	fp := &teachertest.FaultProxy{Backend: srv, Key: testKey, Deadlines: deadlines, FirstAttempt: collectFaults}
	hs := httptest.NewServer(fp)
	t.Cleanup(hs.Close)
	pp := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pp, []byte(testPolicy), 0o644)
	var pol policy.Policy
	if err := configs.Decode(pp, []byte(testPolicy), &pol); err != nil {
		t.Fatal(err)
	}
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	writePrompts(t, filepath.Join(dir, "prompts.jsonl"), n)
	remote := true
	t.Setenv("DISTILL_COLLECT_TEST_KEY", testKey)
	cfg := Config{
		Prompts: filepath.Join(dir, "prompts.jsonl"), Out: filepath.Join(dir, "out"), Policy: pp, Tokenizer: "bytes",
		Teacher: TeacherConfig{Kind: "openai", TokenizerHash: servetest.Tokenizer{}.Hash(), OpenAI: &teacher.OpenAIConfig{
			Name: "remote-teacher", BaseURL: hs.URL + "/v1", Model: "byte-model", APIKeyEnv: "DISTILL_COLLECT_TEST_KEY",
			Mode: "chat", Timeout: time.Minute, Remote: &remote}},
		Sampling:    Sampling{MaxTokens: 64},
		TopK:        4,
		Concurrency: 4,
		SegmentRows: 10,
		Retry:       RetryConfig{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond},
	}
	return &env{cfg: cfg, proxy: fp, pol: &pol, url: hs.URL, resolver: teachertest.NewResolver(), deadlines: deadlines}
}

// teacher is the configured OpenAI teacher, resolving names through
// e.resolver, with request deadlines the fault proxy ends.
func (e *env) teacher(t *testing.T, cfg Config) *teacher.OpenAI {
	t.Helper()
	tt, err := e.newTeacher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

func (e *env) newTeacher(cfg Config) (*teacher.OpenAI, error) {
	return teacher.NewOpenAIWith(*cfg.Teacher.OpenAI, teacher.Env{Resolver: e.resolver,
		Deadline: func(ctx context.Context, req teacher.Request, timeout time.Duration) (context.Context, context.CancelFunc) {
			return e.deadlines.Deadline(ctx, req.Prompt, timeout)
		}})
}

func (e *env) run(t *testing.T, ctx context.Context, logs io.Writer) (*Summary, error) {
	cfg := e.cfg
	cfg.Defaults()
	return Run(ctx, Options{Config: cfg, Teacher: e.teacher(t, cfg), Tokenizer: servetest.Tokenizer{}, EOS: servetest.EOS, Policy: e.pol, Progress: logs, Seed: 1})
}

func readDataset(t *testing.T, dir string) map[string]*dataset.Record {
	t.Helper()
	d, err := dataset.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dataset.Record{}
	err = d.Each(func(_ int, _ int64, r *dataset.Record) error {
		var prov map[string]any
		json.Unmarshal([]byte(r.Provenance), &prov)
		id := prov["prompt_id"].(string)
		if _, dup := out[id]; dup {
			t.Errorf("prompt %s stored twice", id)
		}
		out[id] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readErrors(t *testing.T, path string) map[string]string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var e map[string]string
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[e["id"]]; dup {
			t.Errorf("prompt %s failed twice", e["id"])
		}
		out[e["id"]] = e["reason"]
	}
	return out
}

// outcome reads what e's collection settled: its prompts, the stored rows
// by prompt id and the failure reasons (errors file) by prompt id.
func (e *env) outcome(t *testing.T) ([]Prompt, map[string]*dataset.Record, map[string]string) {
	t.Helper()
	prompts, err := ReadPrompts(e.cfg.Prompts, "prompts")
	if err != nil {
		t.Fatal(err)
	}
	return prompts, readDataset(t, filepath.Join(e.cfg.Out, DatasetDir)), readErrors(t, filepath.Join(e.cfg.Out, ErrorsFile))
}

func TestCollectThroughFaultsEveryPromptExactlyOnce(t *testing.T) {
	e := newEnv(t, 120)
	var logs bytes.Buffer
	sum, err := e.run(t, context.Background(), &logs)
	if err != nil {
		t.Fatal(err)
	}
	prompts, rows, fails := e.outcome(t)
	for _, p := range prompts {
		_, stored := rows[p.ID]
		reason, failed := fails[p.ID]
		if stored == failed {
			t.Errorf("prompt %q: stored %v, failed %v (%s)", p.Prompt, stored, failed, reason)
		}
		class := p.Class
		switch {
		case class == "sensitive" && reason != "policy_refused":
			t.Errorf("sensitive prompt %q: %q", p.Prompt, reason)
		case strings.Contains(p.Prompt, "FAULT-400") && reason != "http_400":
			t.Errorf("400 prompt: %q", reason)
		case strings.Contains(p.Prompt, "ALWAYS-BAD") && class == "public" && reason != "bad_logprobs":
			t.Errorf("always-bad prompt: %q", reason)
		}
		if r, ok := rows[p.ID]; ok {
			if class == "internal" && r.TopKIDs != nil {
				t.Errorf("internal prompt stored logprobs against the policy")
			}
			if class == "public" && r.TopKIDs == nil {
				t.Errorf("public prompt %q stored without top-k", p.Prompt)
			}
			if strings.Contains(r.Prompt, "@") {
				t.Errorf("unredacted prompt stored: %q", r.Prompt)
			}
		}
	}
	// The server never saw a sensitive row nor an unredacted email.
	for _, got := range e.proxy.Received() {
		if strings.Contains(got, "@fleet") {
			t.Errorf("server received an unredacted email: %q", got)
		}
		for _, p := range prompts {
			if p.Class == "sensitive" && got == p.Prompt {
				t.Errorf("server received a sensitive prompt: %q", got)
			}
		}
	}
	if sum.Retries["http_429"] == 0 || sum.Retries["http_500"] == 0 || sum.Retries["timeout"] == 0 || sum.Retries["bad_json"] == 0 || sum.Retries["bad_logprobs"] == 0 {
		t.Errorf("not every fault was exercised: %v", sum.Retries)
	}
	if !sum.Complete || int(sum.Rows)+sum.Failed != len(prompts) {
		t.Errorf("summary %+v", sum)
	}
	// Stored top-k equals the scripted model's distribution (quantized storage aside).
	for _, r := range rows {
		if r.TopKIDs == nil {
			continue
		}
		if math.Abs(float64(r.TopKLogprobs[0])-servetest.ScriptedLogprob) > 1.0/256 {
			t.Fatalf("stored logprob %v, scripted %v", r.TopKLogprobs[0], servetest.ScriptedLogprob)
		}
		break
	}
	for _, f := range []string{SummaryFile, ErrorsFile, JournalFile} {
		b, _ := os.ReadFile(filepath.Join(e.cfg.Out, f))
		if bytes.Contains(b, []byte(testKey)) {
			t.Errorf("%s contains the API key", f)
		}
	}
	if strings.Contains(logs.String(), testKey) {
		t.Error("progress output contains the API key")
	}
	// The progress lines carry rows/s, ETA, tokens/s, retries and errors;
	// the finished total has none (the CLI's summary reports it once).
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	progressLine := regexp.MustCompile(`^collect: (\d+)/(\d+) \([0-9.]+/s(, ETA \S+)?\) [0-9]+ tokens/s \(\d+ tokens\), retries \d+, errors \d+$`)
	seen := 0
	for _, l := range lines {
		if m := progressLine.FindStringSubmatch(l); m != nil {
			seen++
			if m[1] == m[2] {
				t.Errorf("progress line for the finished total: %q", l)
			}
		}
	}
	if seen == 0 {
		t.Errorf("no progress line in %q", logs.String())
	}
	// The stored distribution is the server's at temperature 1; the request's 0 is a setting.
	m, err := dataset.ReadManifest(filepath.Join(e.cfg.Out, DatasetDir))
	if err != nil || m.Meta.Temperature != 1 || m.Meta.TeacherSettings["sampling_temperature"] != "0" {
		t.Errorf("meta temperature %v, settings %v (%v)", m.Meta.Temperature, m.Meta.TeacherSettings, err)
	}
	// The assembled dataset passes the dataset layer's full validation
	// (every shard's sha256, schema, every row).
	if probs := dataset.Validate(filepath.Join(e.cfg.Out, DatasetDir), dataset.ValidateOptions{TokenizerHash: servetest.Tokenizer{}.Hash(), VocabSize: 257}); len(probs) > 0 {
		t.Errorf("dataset problems: %v", probs)
	}
	if m.Rows != sum.Rows || sum.TeacherRows+sum.CEOnlyRows != sum.Rows || sum.TeacherRows == 0 || sum.CEOnlyRows == 0 {
		t.Errorf("summary rows %d (teacher %d, CE-only %d), manifest %d", sum.Rows, sum.TeacherRows, sum.CEOnlyRows, m.Rows)
	}
	// The policy itself travels with the dataset, and hashes to the stored hash.
	var stored policy.Policy
	if err := json.Unmarshal([]byte(m.Meta.TeacherSettings["policy"]), &stored); err != nil || stored.Hash() != m.Meta.PolicyHash || m.Meta.PolicyHash != e.pol.Hash() {
		t.Errorf("stored policy %q (%v) does not hash to %s", m.Meta.TeacherSettings["policy"], err, m.Meta.PolicyHash)
	}

	// A second run has nothing to do and changes nothing (but clears what a
	// dataset build killed half-way leaves behind).
	for _, d := range []string{"." + DatasetDir + ".tmp-12345", DatasetDir + ".old"} {
		os.MkdirAll(filepath.Join(e.cfg.Out, d, "x"), 0o755)
	}
	before := len(e.proxy.Received())
	sum2, err := e.run(t, context.Background(), nil)
	for _, d := range []string{"." + DatasetDir + ".tmp-12345", DatasetDir + ".old"} {
		if _, err := os.Stat(filepath.Join(e.cfg.Out, d)); err == nil {
			t.Errorf("%s left behind", d)
		}
	}
	if err != nil || sum2.AlreadySettled != len(prompts) || len(e.proxy.Received()) != before || sum2.Rows != sum.Rows {
		t.Fatalf("rerun: %+v %v (requests %d → %d)", sum2, err, before, len(e.proxy.Received()))
	}
}

func TestCollectRefusesUnacknowledgedTerms(t *testing.T) {
	e := newEnv(t, 3)
	e.pol = policyDeclaring(t, "{remote: true, restricts_training: true}")
	if _, err := e.run(t, context.Background(), nil); err == nil || !strings.Contains(err.Error(), "acknowledge_terms") {
		t.Fatalf("got %v", err)
	}
	if len(e.proxy.Received()) != 0 {
		t.Fatal("requests were sent before the terms check")
	}
}

func TestConfigRefusesTokenBudgetBelowMaxTokens(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.cfg
	cfg.Limits.TokensPerMinute = 100
	cfg.Sampling.MaxTokens = 256
	cfg.Defaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "tokens_per_minute") {
		t.Fatalf("got %v", err)
	}
	cfg.Limits.TokensPerMinute = 10000
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestDuplicateAfterRedactionIsRecorded: two prompts that differ only in a
// redacted email store the same row; the second is settled as duplicate_row
// (named in errors.jsonl) instead of vanishing in the dataset build, and the
// same holds when the prompts are split into shards.
func TestDuplicateAfterRedactionIsRecorded(t *testing.T) {
	e := newEnv(t, 1)
	lines := `{"id":"a","prompt":"Mail ann@fleet.example.com now","class":"public"}
{"id":"b","prompt":"Mail bob@fleet.example.com now","class":"public"}
{"id":"c","prompt":"Something else","class":"public"}
`
	os.WriteFile(e.cfg.Prompts, []byte(lines), 0o644)
	for _, n := range []int{1, 2, 3} {
		stored, failed := map[string]bool{}, map[string]string{}
		for i := 0; i < n; i++ {
			e2 := *e
			e2.cfg.Out = filepath.Join(t.TempDir(), fmt.Sprint(i))
			cfg := e2.cfg
			cfg.Defaults()
			if _, err := Run(context.Background(), Options{Config: cfg, Shard: Shard{i, n}, Teacher: e.teacher(t, cfg), Tokenizer: servetest.Tokenizer{}, EOS: servetest.EOS, Policy: e.pol}); err != nil {
				t.Fatal(err)
			}
			for id := range readDataset(t, filepath.Join(cfg.Out, DatasetDir)) {
				stored[id] = true
			}
			for id, r := range readErrors(t, filepath.Join(cfg.Out, ErrorsFile)) {
				failed[id] = r
			}
		}
		if !stored["a"] || !stored["c"] || stored["b"] || failed["b"] != "duplicate_row" || len(failed) != 1 {
			t.Fatalf("%d shards: stored %v, failed %v", n, stored, failed)
		}
	}
}

// TestRemoteTeacherDeclaredLocalIsRefused: a policy that calls a network
// teacher local would let local-only classes reach it; collection refuses
// before any request.
func TestRemoteTeacherDeclaredLocalIsRefused(t *testing.T) {
	e := newEnv(t, 3)
	e.pol = localPolicy(t)
	if _, err := e.run(t, context.Background(), nil); err == nil || !strings.Contains(err.Error(), "declares it local") {
		t.Fatalf("got %v", err)
	}
	if len(e.proxy.Received()) != 0 {
		t.Fatal("requests were sent")
	}
}

// localPolicy is testPolicy with the teacher declared local (remote: false),
// so the local_only class "sensitive" may be sent to it.
func localPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	return policyDeclaring(t, "{remote: false}")
}

// policyDeclaring is testPolicy, decoded and validated, with remote-teacher
// declared as decl (YAML) instead of {remote: true}.
func policyDeclaring(t *testing.T, decl string) *policy.Policy {
	t.Helper()
	var p policy.Policy
	if err := configs.Decode("p.yaml", []byte(strings.Replace(testPolicy, "remote-teacher: {remote: true}", "remote-teacher: "+decl, 1)), &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return &p
}

// TestLoopbackLookalikeTeacherNeverGetsLocalOnlyRows: with a policy that
// declares the teacher local (so local_only rows may go to it), a base_url
// that only looks like loopback is refused before any request — by user
// info, by resolving to a remote address, or at dial time when the name is
// rebound after the check — while a name that resolves to loopback keeps
// working. No prompt is settled by a refusal, and nothing leaves the machine
// (names resolve through a table; the one server is on 127.0.0.1).
func TestLoopbackLookalikeTeacherNeverGetsLocalOnlyRows(t *testing.T) {
	e := newEnv(t, 30)
	e.pol = localPolicy(t)
	port := e.url[strings.LastIndexByte(e.url, ':')+1:]
	e.resolver.Answer("127.teacher.example.com", "203.0.113.7").
		Answer("rebind.test", "127.0.0.1").Answer("rebind.test", "203.0.113.7").
		Answer("teacher.test", "127.0.0.1")
	for _, c := range []struct{ url, want string }{
		{"http://127.0.0.1@teacher.example.com:" + port + "/v1", "user info"},
		{"http://localhost:80@teacher.example.com:" + port + "/v1", "user info"},
		{"http://127.teacher.example.com:" + port + "/v1", "declares it local"},
		{"http://rebind.test:" + port + "/v1", "loopback"},
		{"http://teacher.test:" + port + "/v1", ""},
	} {
		cfg := e.cfg
		cfg.Out = filepath.Join(t.TempDir(), "out")
		oc := *cfg.Teacher.OpenAI
		oc.BaseURL, oc.Remote = c.url, nil
		cfg.Teacher.OpenAI = &oc
		cfg.Defaults()
		before := len(e.proxy.Received())
		tt, err := e.newTeacher(cfg)
		if err == nil {
			_, err = Run(context.Background(), Options{Config: cfg, Teacher: tt, Tokenizer: servetest.Tokenizer{}, EOS: servetest.EOS, Policy: e.pol, Seed: 1})
		}
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.url, err)
				continue
			}
			stored := 0
			for id := range readDataset(t, filepath.Join(cfg.Out, DatasetDir)) {
				if p := promptByID(t, e, id); p.Class == "sensitive" {
					stored++
				}
			}
			if stored == 0 {
				t.Errorf("%s: no local-only row reached the loopback teacher", c.url)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error about %s", c.url, err, c.want)
		}
		if n := len(e.proxy.Received()) - before; n != 0 {
			t.Errorf("%s: %d requests reached the server", c.url, n)
		}
		if b, _ := os.ReadFile(filepath.Join(cfg.Out, ErrorsFile)); bytes.Contains(b, []byte("not_loopback")) {
			t.Errorf("%s: a refusal settled a prompt as failed: %s", c.url, b)
		}
	}
}

func promptByID(t *testing.T, e *env, id string) Prompt {
	t.Helper()
	ps, err := ReadPrompts(e.cfg.Prompts, "prompts")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("no prompt %s", id)
	return Prompt{}
}
