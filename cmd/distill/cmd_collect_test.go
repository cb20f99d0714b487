package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/distill/collect/teacher/teachertest"
	"github.com/distill-ml/distill/distill/engine"
	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/model/student"
)

// The end-to-end collection test runs real processes over real HTTP on
// loopback: the distill binary serves a random-weight GGUF (`distill serve`),
// a fault-injecting proxy (teachertest.FaultProxy) sits in front of it, and
// `distill collect` (teacher kind openai, chat mode, through go-openai) is
// SIGKILLed mid-way and rerun. Then --shard /3 with JOB_COMPLETION_INDEX and
// `distill data merge`, as the Kubernetes Job in docs/collect-k8s-job.yaml runs them.

const e2eKey = "sk-e2e-SECRET-0123456789abcdef"

// e2ePolicy: the served teacher is treated as remote, so "sensitive" rows
// (local_only) must never reach it.
const e2ePolicy = `version: 1
teachers:
  served-teacher: {remote: true}
classes:
  public:    {teachers: [served-teacher], store: [text, logprobs]}
  internal:  {teachers: [served-teacher], store: [text]}
  sensitive: {teachers: [served-teacher], local_only: true, store: [text, logprobs]}
redactions:
  - {name: email, pattern: '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}', replace: '[EMAIL]'}
  - {name: serial, pattern: '\bSN-[0-9]{6}\b', replace: '[SERIAL]'}
`

type e2ePrompt struct {
	ID     string `json:"id,omitempty"`
	Prompt string `json:"prompt"`
	Class  string `json:"class,omitempty"`
}

// e2ePrompts: public questions (some with an email or a serial to redact),
// internal (text only), sensitive (refused before any I/O, marked
// SENSITIVE-RATE so the proxy can spot a leak), prompts the proxy always
// answers with 400 or with malformed logprobs, and two prompts that differ
// only in the redacted email (they would store the same row).
func e2ePrompts(n int) []e2ePrompt {
	var ps []e2ePrompt
	for i := 0; i < n; i++ {
		p := e2ePrompt{Prompt: fmt.Sprintf("Replace the scanner battery %d after how many cycles?", i), Class: "public"}
		switch {
		case i%9 == 4:
			p.Class, p.Prompt = "sensitive", fmt.Sprintf("SENSITIVE-RATE vendor %d pays 41.%02d per unit", i, i)
		case i%11 == 6:
			p.Class = "internal"
		case i%13 == 7:
			p.Prompt = fmt.Sprintf("FAULT-400 scanner %d", i)
		case i%17 == 8:
			p.Prompt = fmt.Sprintf("ALWAYS-BAD scanner %d", i)
		case i%5 == 2:
			p.Prompt = fmt.Sprintf("Mail tech%d@fleet.example.com about scanner %d, SN-%06d", i, i, 100000+i)
		}
		ps = append(ps, p)
	}
	ps = append(ps,
		e2ePrompt{ID: "dup-a", Prompt: "Ask alice@fleet.example.com about the policy", Class: "public"},
		e2ePrompt{ID: "dup-b", Prompt: "Ask bob@fleet.example.com about the policy", Class: "public"})
	return ps
}

// e2eFaults are the first-attempt faults the proxy injects in front of the
// served model: four transient ways to fail and, more often, none. The
// collector runs in a child process whose request deadlines the test does
// not hold, so there is no timeout fault here (distill/collect's tests end
// request deadlines in process); its client timeout is generous, so no
// outcome depends on the machine's speed.
var e2eFaults = []teachertest.Fault{teachertest.Fault429, teachertest.Fault500, teachertest.FaultTruncate,
	teachertest.FaultBadLogprobs, teachertest.NoFault, teachertest.NoFault, teachertest.NoFault}

// e2eModel exports a random-weight llama GGUF with a BPE tokenizer trained on
// the prompts' vocabulary, and saves the tokenizer as the student's.
func e2eModel(t *testing.T, dir string) (gguf, tokPath string, tok *tokenizer.Tokenizer) {
	t.Helper()
	var texts []string
	for i := 0; i < 100; i++ {
		texts = append(texts, fmt.Sprintf("Replace the scanner battery %d after 500 charge cycles [§3.2]. Mail the vendor about scanner policy.", i))
	}
	tok, err := tokenizer.TrainStrings(texts, tokenizer.TrainConfig{VocabSize: 384}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tokPath = filepath.Join(dir, "tokenizer.json")
	if err := tok.Save(tokPath); err != nil {
		t.Fatal(err)
	}
	cfg := student.Config{VocabSize: tok.VocabSize(), DModel: 64, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 128,
		ContextLength: 256, RopeBase: 10000, NormEps: 1e-5}
	m, err := export.RandomModel(cfg, 11)
	if err != nil {
		t.Fatal(err)
	}
	m.Vocab = export.TokenizerVocab(tok)
	m.Name, m.Version = "collect-e2e", "1"
	gguf = filepath.Join(dir, "teacher.gguf")
	if err := export.Write(gguf, m, export.Options{Type: quant.FileF32}); err != nil {
		t.Fatal(err)
	}
	return gguf, tokPath, tok
}

// e2eBinary builds cmd/distill once into dir.
func e2eBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "distill")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/distill")
	cmd.Dir = testpeers.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startServe runs `distill serve --addr 127.0.0.1:0` and returns its base URL
// (…/v1), parsed from the address it prints.
func startServe(t *testing.T, bin, gguf string) string {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--model", gguf, "--addr", "127.0.0.1:0", "--parallel", "2")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+/v1)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	select {
	case u := <-urls:
		return u
	case <-time.After(60 * time.Second):
		t.Fatalf("distill serve printed no address; stderr: %s", stderr.String())
	}
	return ""
}

func runCollect(t *testing.T, bin string, env []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"collect"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out, &errb
}

func countSegments(journal string) int {
	b, _ := os.ReadFile(journal)
	return bytes.Count(b, []byte(`"kind":"shard"`))
}

// readCollected maps prompt ids to stored rows (via provenance) and to
// failure reasons, failing on any prompt present twice.
func readCollected(t *testing.T, datasetDir string, errFiles ...string) (map[string]*dataset.Record, map[string]string) {
	t.Helper()
	rows := map[string]*dataset.Record{}
	if datasetDir != "" {
		d, err := dataset.Open(datasetDir)
		if err != nil {
			t.Fatal(err)
		}
		err = d.Each(func(_ int, _ int64, r *dataset.Record) error {
			var prov struct {
				PromptID string `json:"prompt_id"`
			}
			if err := json.Unmarshal([]byte(r.Provenance), &prov); err != nil || prov.PromptID == "" {
				t.Fatalf("row %s: provenance %q", r.ID, r.Provenance)
			}
			if _, dup := rows[prov.PromptID]; dup {
				t.Errorf("prompt %s stored twice", prov.PromptID)
			}
			rows[prov.PromptID] = r
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	fails := map[string]string{}
	for _, f := range errFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if line == "" {
				continue
			}
			var e struct{ ID, Reason string }
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if _, dup := fails[e.ID]; dup {
				t.Errorf("prompt %s failed twice", e.ID)
			}
			fails[e.ID] = e.Reason
		}
	}
	return rows, fails
}

// promptIDs reads the prompt file back through the collector's reader rules:
// the id is given, or dataset.RowID(source, prompt).
func promptIDs(ps []e2ePrompt, source string) []string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
		if ids[i] == "" {
			ids[i] = dataset.RowID(source, p.Prompt)
		}
	}
	return ids
}

func TestCollectEndToEndRealProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end collection with real processes: not in -short")
	}
	dir := t.TempDir()
	bin := e2eBinary(t, dir)
	gguf, tokPath, tok := e2eModel(t, dir)
	serveURL := startServe(t, bin, gguf)

	upstream, err := url.Parse(strings.TrimSuffix(serveURL, "/v1"))
	if err != nil {
		t.Fatal(err)
	}
	proxy := &teachertest.FaultProxy{Backend: httputil.NewSingleHostReverseProxy(upstream), Key: e2eKey, FirstAttempt: e2eFaults}
	hs := httptest.NewServer(proxy)
	defer hs.Close()

	prompts := e2ePrompts(60)
	var pb strings.Builder
	for _, p := range prompts {
		b, _ := json.Marshal(p)
		pb.Write(b)
		pb.WriteByte('\n')
	}
	promptsPath := filepath.Join(dir, "prompts.jsonl")
	os.WriteFile(promptsPath, []byte(pb.String()), 0o644)
	policyPath := filepath.Join(dir, "policy.yaml")
	os.WriteFile(policyPath, []byte(e2ePolicy), 0o644)
	out := filepath.Join(dir, "out")
	cfgPath := filepath.Join(dir, "collect.yaml")
	cfg := fmt.Sprintf(`prompts: %s
source: e2e
out: %s
policy: %s
tokenizer: %s
teacher:
  kind: openai
  tokenizer_hash: %s
  openai:
    name: served-teacher
    base_url: %s/v1
    model: teacher
    api_key_env: DISTILL_E2E_KEY
    mode: chat
    timeout: 2m
sampling: {max_tokens: 8, temperature: 0, top_p: 1}
top_k: 5
concurrency: 4
segment_rows: 3
limits: {requests_per_minute: 0, tokens_per_minute: 0}
retry: {max_attempts: 5, base_delay: 10ms, max_delay: 2s}
`, promptsPath, out, policyPath, tokPath, tok.Hash(), hs.URL)
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	env := []string{"DISTILL_E2E_KEY=" + e2eKey}
	journal := filepath.Join(out, "journal.jsonl")

	// Run, SIGKILL after two committed segments, run again to the end. Once
	// the journal names two segments the proxy answers nothing more, so the
	// collector cannot finish before the kill however slowly this test polls.
	var logs []string
	var holding atomic.Bool
	holding.Store(true)
	proxy.HoldWhile(func() bool { return holding.Load() && countSegments(journal) >= 2 })
	cmd, o, e := runCollect(t, bin, env, "--config", cfgPath)
	deadline := time.Now().Add(5 * time.Minute) // a backstop against a hang, not a pass/fail timing
	for countSegments(journal) < 2 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("collector made no progress; stderr: %s", e.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	logs = append(logs, o.String(), e.String())
	atKill := countSegments(journal)
	holding.Store(false)
	resumed := time.Now()
	cmd, o, e = runCollect(t, bin, env, "--config", cfgPath)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("resumed collect: %v\nstdout: %s\nstderr: %s", err, o.String(), e.String())
	}
	logs = append(logs, o.String(), e.String())
	if final := countSegments(journal); final <= atKill {
		t.Fatalf("the kill came after the work was done (%d segments at the kill, %d at the end)", atKill, final)
	}
	t.Logf("resumed run:\n%s", o.String())

	ids := promptIDs(prompts, "e2e")
	rows, fails := readCollected(t, filepath.Join(out, "dataset"), filepath.Join(out, "errors.jsonl"))
	for i, p := range prompts {
		r, stored := rows[ids[i]]
		reason, failed := fails[ids[i]]
		if stored == failed {
			t.Errorf("prompt %q: stored %v, failed %v (%s)", p.Prompt, stored, failed, reason)
			continue
		}
		var want string
		switch {
		case p.Class == "sensitive":
			want = "policy_refused"
		case strings.HasPrefix(p.Prompt, "FAULT-400"):
			want = "http_400"
		case strings.HasPrefix(p.Prompt, "ALWAYS-BAD"):
			want = "bad_logprobs"
		case p.ID == "dup-b":
			want = "duplicate_row"
		}
		if reason != want {
			t.Errorf("prompt %q: failure %q, want %q", p.Prompt, reason, want)
		}
		if !stored {
			continue
		}
		if strings.Contains(r.Prompt, "@") || strings.Contains(r.Prompt, "SN-") {
			t.Errorf("stored prompt not redacted: %q", r.Prompt)
		}
		if p.Class == "internal" && r.TopKIDs != nil {
			t.Errorf("internal prompt %q stored logprobs against the policy", p.Prompt)
		}
		if p.Class == "public" && r.TopKIDs == nil {
			t.Errorf("public prompt %q stored without top-k (%s)", p.Prompt, r.Provenance)
		}
	}

	// What the server saw: no sensitive row, nothing unredacted, the right key.
	faults := proxy.Faults()
	var retried429 []string
	for got, times := range proxy.Attempts() {
		if strings.Contains(got, "SENSITIVE-RATE") {
			t.Errorf("the teacher received a sensitive row: %q", got)
		}
		if strings.Contains(got, "@") || strings.Contains(got, "SN-") {
			t.Errorf("the teacher received an unredacted prompt: %q", got)
		}
		if faults[got] == teachertest.Fault429 && len(times) > 1 && times[0].After(resumed) {
			retried429 = append(retried429, got)
			// Retry-After: 1 is honoured (max_delay 2s does not cut it)
			// within one process (the killed run's 429s are retried at once on resume).
			if gap := times[1].Sub(times[0]); gap < time.Second {
				t.Errorf("prompt %q retried %v after a 429 with Retry-After: 1", got, gap)
			}
		}
	}
	seen := map[teachertest.Fault]bool{}
	for _, f := range faults {
		seen[f] = true
	}
	if n := proxy.BadAuth(); n > 0 {
		t.Errorf("%d requests without the API key", n)
	}
	for _, f := range e2eFaults {
		if f == teachertest.NoFault {
			continue
		}
		if !seen[f] {
			t.Errorf("fault %s was never injected", f)
		}
	}
	if len(retried429) == 0 {
		t.Error("no prompt was retried after a 429")
	}

	// The key is in no output file and no log.
	filepath.Walk(out, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(e2eKey)) {
				t.Errorf("%s contains the API key", path)
			}
		}
		return nil
	})
	for _, l := range logs {
		if strings.Contains(l, e2eKey) {
			t.Errorf("collect output contains the API key")
		}
	}

	// Stored top-k equals the runtime's distribution at those positions.
	checkTopKAgainstRuntime(t, gguf, rows, 5)

	t.Run("ShardsAndMerge", func(t *testing.T) {
		// Three jobs as the Indexed Job runs them: --shard /3 with JOB_COMPLETION_INDEX,
		// straight to the server, then distill data merge.
		var wg sync.WaitGroup
		var shardDirs, errFiles []string
		errs := make([]error, 3)
		outs := make([]string, 3)
		for i := 0; i < 3; i++ {
			so := filepath.Join(dir, fmt.Sprintf("shard-%d", i))
			shardDirs = append(shardDirs, filepath.Join(so, "dataset"))
			errFiles = append(errFiles, filepath.Join(so, "errors.jsonl"))
			wg.Add(1)
			go func(i int, so string) {
				defer wg.Done()
				cmd, o, e := runCollect(t, bin, append(env, fmt.Sprintf("JOB_COMPLETION_INDEX=%d", i)),
					"--config", cfgPath, "--shard", "/3", "--set", "out="+so, "--set", "teacher.openai.base_url="+serveURL)
				errs[i] = cmd.Wait()
				outs[i] = o.String() + e.String()
			}(i, so)
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("shard %d: %v\n%s", i, err, outs[i])
			}
		}
		merged := filepath.Join(dir, "merged")
		code, stdout, stderr := runCLI(t, append([]string{"data", "merge", "--out", merged}, shardDirs...)...)
		if code != 0 {
			t.Fatalf("merge: exit %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, " 0 duplicate rows") {
			t.Errorf("shards overlap: %s", stdout)
		}
		rows, fails := readCollected(t, merged, errFiles...)
		perShard := make([]int, 3)
		for i, p := range prompts {
			_, stored := rows[ids[i]]
			reason, failed := fails[ids[i]]
			if stored == failed {
				t.Errorf("prompt %q: stored %v, failed %v (%s)", p.Prompt, stored, failed, reason)
			}
		}
		for i := range shardDirs {
			m, err := dataset.ReadManifest(shardDirs[i])
			if err != nil {
				t.Fatal(err)
			}
			perShard[i] = int(m.Rows)
		}
		for i, n := range perShard {
			if n == 0 {
				t.Errorf("shard %d stored nothing (rows per shard %v)", i, perShard)
			}
		}
		if len(rows)+len(fails) != len(prompts) {
			t.Errorf("merged %d rows + %d failures for %d prompts", len(rows), len(fails), len(prompts))
		}
	})
}

// checkTopKAgainstRuntime recomputes, with the runtime in this process, the
// teacher's distribution at every stored completion position (the chat
// prompt the server built, then the completion) and compares the stored
// top-k: each stored logprob within the storage quantization (1/256 nat) of
// the runtime's, no token outside the stored set more likely than the least
// likely stored one, the stored tail mass, and the greedy choice.
func checkTopKAgainstRuntime(t *testing.T, gguf string, rows map[string]*dataset.Record, k int) {
	t.Helper()
	m, err := engine.Load(gguf, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Stored logprobs are fixed-point with step 1/LogprobScale nat.
	tol := 0.5/dataset.LogprobScale + 1e-4
	checked := 0
	keys := make([]string, 0, len(rows))
	for id := range rows {
		keys = append(keys, id)
	}
	sort.Strings(keys)
	for _, id := range keys {
		r := rows[id]
		if r.TopKIDs == nil {
			continue
		}
		chat, err := m.FormatChat([]serve.Message{{Role: "user", Content: r.Prompt}})
		if err != nil {
			t.Fatal(err)
		}
		prompt := m.Encode(chat)
		comp := r.Tokens[r.PromptLen:]
		full := append(append([]int32{}, prompt...), comp...)
		lps, err := m.LogProbs(full, len(prompt)-1)
		if err != nil {
			t.Fatal(err)
		}
		for j := range comp {
			row := lps[j]
			top := r.TopKIDs[j*k : (j+1)*k]
			tlp := r.TopKLogprobs[j*k : (j+1)*k]
			in := map[int32]bool{}
			mass := 0.0
			for q, tid := range top {
				in[tid] = true
				if d := math.Abs(float64(tlp[q] - row[tid])); d > tol {
					t.Fatalf("row %s position %d: stored logprob of token %d is %v, the runtime's %v", id, j, tid, tlp[q], row[tid])
				}
				mass += math.Exp(float64(row[tid]))
			}
			minStored := tlp[k-1]
			best := int32(0)
			for v, lp := range row {
				if lp > row[best] {
					best = int32(v)
				}
				if !in[int32(v)] && float64(lp) > float64(minStored)+tol {
					t.Fatalf("row %s position %d: token %d (logprob %v) is missing from the stored top-%d %v", id, j, v, lp, k, top)
				}
			}
			if d := math.Abs(float64(r.TailMass[j]) - (1 - mass)); d > 0.02 {
				t.Fatalf("row %s position %d: tail mass %v, runtime %v", id, j, r.TailMass[j], 1-mass)
			}
			if comp[j] != best && row[comp[j]] < row[best]-1e-4 {
				t.Fatalf("row %s position %d: greedy completion token %d, runtime argmax %d", id, j, comp[j], best)
			}
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d rows with top-k to check", checked)
	}
}

// TestCollectLocalTeacherCLI runs `distill collect` in-process with a local
// GGUF teacher (reference completions, hidden states), then refuses a student
// tokenizer that is not the teacher's.
func TestCollectLocalTeacherCLI(t *testing.T) {
	dir := t.TempDir()
	gguf, tokPath, tok := e2eModel(t, dir)
	var pb strings.Builder
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&pb, `{"prompt":"Replace the scanner battery %d","completion":" after 500 charge cycles [§3.2]."}`+"\n", i)
	}
	promptsPath := filepath.Join(dir, "prompts.jsonl")
	os.WriteFile(promptsPath, []byte(pb.String()), 0o644)
	policyPath := filepath.Join(dir, "policy.yaml")
	pol := strings.Replace(e2ePolicy, "served-teacher: {remote: true}", "served-teacher: {remote: true}\n  local-teacher: {remote: false}", 1)
	pol = strings.Replace(pol, "public:    {teachers: [served-teacher], store: [text, logprobs]}", "public:    {teachers: [local-teacher], store: [text, logprobs, hidden_states]}", 1)
	os.WriteFile(policyPath, []byte(pol), 0o644)
	cfg := fmt.Sprintf(`prompts: %s
out: %s
policy: %s
tokenizer: %s
teacher:
  kind: local
  local: {name: local-teacher, model: %s, completion: reference, hidden_layers: [1, 3]}
sampling: {max_tokens: 32, temperature: 1}
top_k: 6
concurrency: 2
segment_rows: 5
`, promptsPath, filepath.Join(dir, "out"), policyPath, tokPath, gguf)
	cfgPath := filepath.Join(dir, "local.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	code, stdout, stderr := runCLI(t, "collect", "--config", cfgPath)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	d, err := dataset.Open(filepath.Join(dir, "out", "dataset"))
	if err != nil {
		t.Fatal(err)
	}
	meta := d.Meta()
	if meta.TopK != 6 || len(meta.HiddenLayers) != 2 || meta.HiddenDim != 64 || meta.TokenizerHash != tok.Hash() || meta.Temperature != 1 {
		t.Fatalf("meta %+v", meta)
	}
	if d.Manifest.Rows != 12 {
		t.Fatalf("%d rows, want 12", d.Manifest.Rows)
	}
	// The finished total is reported once, by the summary, not also by a
	// progress line just above it (issue 17, item 11).
	if strings.Contains(stderr, "collect: 12/12") || strings.Count(stdout, "12 prompts") != 1 {
		t.Fatalf("final collect line twice:\nstderr:\n%s\nstdout:\n%s", stderr, stdout)
	}

	// A student tokenizer that is not the teacher's is refused.
	_, otherPath := writeTrainedTokenizer(t, filepath.Join(dir, "other-tokenizer.json"), 300, "something entirely different, again and again and again")
	code, _, stderr = runCLI(t, "collect", "--config", cfgPath, "--set", "tokenizer="+otherPath, "--set", "out="+filepath.Join(dir, "out2"))
	if code != 1 || !strings.Contains(stderr, "must share the student's tokenizer") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestCollectUsageErrors(t *testing.T) {
	t.Setenv("JOB_COMPLETION_INDEX", "")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"collect"}, 2, "--config"},
		{[]string{"collect", "--config", "collect-local", "--shard", "3/3"}, 2, "0 <= i < N"},
		{[]string{"collect", "--config", "collect-local", "--shard", "/3"}, 2, "JOB_COMPLETION_INDEX"},
		{[]string{"collect", "--config", "collect-local", "--set", "top_k=999"}, 1, "top_k 999"},
		{[]string{"collect", "--config", "collect-local", "--set", "no_such_key=1"}, 1, "no_such_key"},
		{[]string{"serve"}, 2, "--model"},
	} {
		code, _, stderr := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr, c.code, c.want)
		}
	}
}
