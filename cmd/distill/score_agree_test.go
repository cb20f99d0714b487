package main

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/distill-ml/distill/distill/engine"
	"github.com/distill-ml/distill/distill/gate"
	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/internal/testmodel"
	"github.com/distill-ml/distill/model/infer"
)

// tickClock advances one second per reading, so the gate's sustained run
// ends after a token or two whatever the machine's speed.
type tickClock struct{ t time.Time }

func (c *tickClock) Now() time.Time { c.t = c.t.Add(time.Second); return c.t }

// TestCLIGateServerScoreTextIdentically: `distill eval`, the gate and the
// server see one (prompt, completion) as the same tokens — BOS first, since
// the model's GGUF sets tokenizer.ggml.add_bos_token — and give it the same
// negative log-likelihood. The completion is the server's own greedy
// continuation, so the server's logprobs of the tokens it chose score it.
func TestCLIGateServerScoreTextIdentically(t *testing.T) {
	tok := testmodel.Tokenizer(t)
	path := testmodel.GGUFAddBOS(t, tok, "student.gguf", 7)
	const prompt = "Replace the scanner battery"

	// Server: greedy completion with the chosen tokens' logprobs.
	m, err := engine.Load(path, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h, err := serve.New(m, serve.Options{Parallel: 1, NewSampler: engine.Sampler})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	body, _ := json.Marshal(map[string]any{"model": m.ModelID(), "prompt": prompt, "max_tokens": 6, "temperature": 0, "logprobs": 0})
	resp, err := http.Post(srv.URL+"/v1/completions", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var cr struct {
		Choices []struct {
			Text     string `json:"text"`
			Logprobs struct {
				TokenLogprobs []float32 `json:"token_logprobs"`
			} `json:"logprobs"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&cr); err != nil || resp.StatusCode != http.StatusOK || len(cr.Choices) != 1 {
		t.Fatalf("completion: status %d, %v, %+v", resp.StatusCode, err, cr)
	}
	completion, lps := cr.Choices[0].Text, cr.Choices[0].Logprobs.TokenLogprobs
	if completion == "" || len(lps) == 0 {
		t.Fatalf("server completed %q with %d logprobs; want a non-empty completion", completion, len(lps))
	}
	var serverNLL float64
	for _, lp := range lps {
		serverNLL -= float64(lp)
	}
	serverMean := serverNLL / float64(len(lps))

	// CLI: distill eval on the same record.
	data := filepath.Join(t.TempDir(), "golden.jsonl")
	rec, _ := json.Marshal(map[string]string{"prompt": prompt, "completion": completion})
	if err := os.WriteFile(data, append(rec, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "eval", "--model", path, "--data", data, "--json")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	var rep struct {
		Tokens  int     `json:"tokens_scored"`
		MeanNLL float64 `json:"mean_nll"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Tokens != len(lps) {
		t.Fatalf("eval scored %d tokens of %q, the server generated %d", rep.Tokens, completion, len(lps))
	}

	// Gate: the baseline's perplexity on a one-item golden set.
	candidate := filepath.Join(t.TempDir(), "student-copy.gguf")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(candidate, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := gate.Config{Routes: map[string]gate.Route{"qa": {Golden: "inline"}}, MaxNewTokens: 2, WarmupPrompts: 1,
		Sustained: gate.Sustain{Seconds: 1, IntervalSeconds: 1}}
	items := []gate.Item{{ID: "q1", Prompt: prompt, Completion: completion, Score: func(string) gate.Grade { return gate.Grade{Correct: true, Partial: 1} }}}
	grep, err := gate.Run(cfg, gate.Options{Baseline: path, Candidates: []string{candidate},
		Routes: map[string][]gate.Item{"qa": items}, Engine: engine.GateEngine{}, Clock: &tickClock{}})
	if err != nil {
		t.Fatal(err)
	}
	gateMean := math.Log(grep.Artifacts[0].Quality["qa"].Perplexity)

	// Batched prompt evaluation and token-by-token decoding round differently
	// in the last float32 bits; a missing BOS moves the NLL by far more.
	const tol = 1e-4
	if math.Abs(rep.MeanNLL-serverMean) > tol || math.Abs(gateMean-serverMean) > tol {
		t.Fatalf("mean NLL of %q after %q: eval %.6f, gate %.6f, server %.6f; want them equal", completion, prompt, rep.MeanNLL, gateMean, serverMean)
	}
}
