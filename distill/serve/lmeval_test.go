package serve_test

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/distill-ml/distill/distill/engine"
	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/distill/serve/servetest"
	"github.com/distill-ml/distill/internal/testmodel"
	"github.com/distill-ml/distill/model/infer"
)

// legacyCompletion is the part of a /v1/completions answer lm-eval reads.
type legacyCompletion struct {
	Choices []struct {
		Index    int    `json:"index"`
		Text     string `json:"text"`
		Logprobs struct {
			Tokens        []string             `json:"tokens"`
			TokenLogprobs []*float64           `json:"token_logprobs"`
			TopLogprobs   []map[string]float64 `json:"top_logprobs"`
			TextOffset    []int                `json:"text_offset"`
		} `json:"logprobs"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

func postJSON(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestLmEvalLoglikelihoodSequence replays the requests lm-evaluation-harness's
// local-completions model sends for loglikelihood tasks (LocalCompletionsAPI.
// _create_payload with generate=False: prompt = context + continuation as
// token ids — or as text with tokenized_requests=False — echo true,
// logprobs 1, max_tokens 1, temperature 0, seed 1234), parses the answers
// as its parse_logprobs does (token_logprobs[ctxlen:-1], greedy when each
// equals the max of its top_logprobs) and checks every prompt logprob
// against the runtime's own scoring of the same tokens (engine LogProbs).
// max_tokens 0 (prompt only) is accepted too.
func TestLmEvalLoglikelihoodSequence(t *testing.T) {
	tok := testmodel.Tokenizer(t)
	m, err := engine.Load(testmodel.GGUF(t, tok, "student-f32.gguf", 11), infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := serve.New(m, serve.Options{NewSampler: engine.Sampler})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()

	pairs := []struct{ context, continuation string }{
		{"Question: when is the scanner battery replaced?\nAnswer:", " after 500 charge cycles [§3.2]."},
		{"Replace the scanner", " battery"},
		{"Is this covered?", " Not covered by the policy."},
	}
	for _, pair := range pairs {
		ctx := m.Tokenize(pair.context)
		full := m.Tokenize(pair.context + pair.continuation)
		ctxlen := len(ctx)
		for ctxlen > 0 && (ctxlen > len(full) || full[ctxlen-1] != ctx[ctxlen-1]) {
			ctxlen-- // a merge across the boundary belongs to the continuation, as in lm-eval
		}
		// The runtime's scoring: rows[k] predicts full[k+1].
		rows, err := m.LogProbs(full, 0)
		if err != nil {
			t.Fatal(err)
		}
		idsJSON, _ := json.Marshal([][]int32{full})
		textJSON, _ := json.Marshal([]string{pair.context + pair.continuation})
		for _, req := range []struct {
			name, prompt string
			maxTokens    int
		}{
			{"token ids", string(idsJSON), 1},
			{"text", string(textJSON), 1},
			{"prompt only", string(idsJSON), 0},
		} {
			body := `{"model": "` + m.ModelID() + `", "prompt": ` + req.prompt + `, "temperature": 0, "max_tokens": ` +
				map[int]string{0: "0", 1: "1"}[req.maxTokens] + `, "logprobs": 1, "seed": 1234, "echo": true}`
			code, b := postJSON(t, srv.URL+"/v1/completions", body)
			if code != 200 {
				t.Fatalf("%s: %d %s", req.name, code, b)
			}
			var out legacyCompletion
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatalf("%s: %v: %s", req.name, err, b)
			}
			if len(out.Choices) != 1 {
				t.Fatalf("%s: %d choices", req.name, len(out.Choices))
			}
			lp := out.Choices[0].Logprobs
			n := len(full) + req.maxTokens
			if len(lp.Tokens) != n || len(lp.TokenLogprobs) != n || len(lp.TopLogprobs) != n || len(lp.TextOffset) != n {
				t.Fatalf("%s: %d tokens, %d logprobs, %d tops, %d offsets; want %d each", req.name, len(lp.Tokens), len(lp.TokenLogprobs), len(lp.TopLogprobs), len(lp.TextOffset), n)
			}
			if lp.TokenLogprobs[0] != nil || lp.TopLogprobs[0] != nil {
				t.Fatalf("%s: the first prompt token has logprob %v, top %v; want null, null", req.name, lp.TokenLogprobs[0], lp.TopLogprobs[0])
			}
			offset := 0
			for k := range full {
				if lp.TextOffset[k] != offset || lp.Tokens[k] != string(tok.Decode([]int32{full[k]})) {
					t.Fatalf("%s: token %d is %q at offset %d; want %q at %d", req.name, k, lp.Tokens[k], lp.TextOffset[k], tok.Decode([]int32{full[k]}), offset)
				}
				offset += len(tok.Decode([]int32{full[k]}))
				if k == 0 {
					continue
				}
				row := rows[k-1]
				want := float64(row[full[k]])
				if got := lp.TokenLogprobs[k]; got == nil || math.Abs(*got-want) > 1e-4 {
					t.Fatalf("%s: token %d logprob %v, runtime %v", req.name, k, got, want)
				}
				best := math.Inf(-1)
				for _, v := range row {
					best = math.Max(best, float64(v))
				}
				if len(lp.TopLogprobs[k]) != 1 {
					t.Fatalf("%s: token %d has %d alternatives, want 1", req.name, k, len(lp.TopLogprobs[k]))
				}
				for _, v := range lp.TopLogprobs[k] {
					if math.Abs(v-best) > 1e-4 {
						t.Fatalf("%s: token %d top logprob %v, runtime max %v", req.name, k, v, best)
					}
				}
			}
			if !strings.HasPrefix(out.Choices[0].Text, pair.context+pair.continuation) {
				t.Fatalf("%s: echoed text %q", req.name, out.Choices[0].Text)
			}
			// lm-eval's parse_logprobs (it drops the one generated token with [:-1]).
			end := len(lp.TokenLogprobs) - req.maxTokens
			var sum, wantSum float64
			greedy, wantGreedy := true, true
			for k := ctxlen; k < end; k++ {
				sum += *lp.TokenLogprobs[k]
				top := math.Inf(-1)
				for _, v := range lp.TopLogprobs[k] {
					top = math.Max(top, v)
				}
				greedy = greedy && *lp.TokenLogprobs[k] == top
				row := rows[k-1]
				wantSum += float64(row[full[k]])
				best := 0
				for i, v := range row {
					if v > row[best] {
						best = i
					}
				}
				wantGreedy = wantGreedy && int32(best) == full[k]
			}
			if math.Abs(sum-wantSum) > 1e-3 || greedy != wantGreedy {
				t.Fatalf("%s: loglikelihood %v greedy %v; runtime %v greedy %v", req.name, sum, greedy, wantSum, wantGreedy)
			}
			if out.Usage.PromptTokens != len(full) || out.Usage.CompletionTokens != req.maxTokens {
				t.Fatalf("%s: usage %+v", req.name, out.Usage)
			}
		}
	}
}

// TestLmEvalBatchOfPrompts: several token-id prompts in one request (lm-eval
// with batch_size > 1) get one choice each, in order.
func TestLmEvalBatchOfPrompts(t *testing.T) {
	srv, _ := newTestServer(t, "ok")
	code, b := postJSON(t, srv.URL+"/v1/completions", `{"prompt": [[65, 66], [67, 68, 69]], "echo": true, "logprobs": 1, "max_tokens": 0, "temperature": 0}`)
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	var out legacyCompletion
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Choices) != 2 || out.Choices[0].Text != "AB" || out.Choices[1].Text != "CDE" || out.Choices[1].Index != 1 ||
		len(out.Choices[1].Logprobs.Tokens) != 3 || out.Usage.PromptTokens != 5 {
		t.Fatalf("%s", b)
	}
}

// TestUnsupportedFieldsAreRefused: a field the server does not implement is
// a 400 naming it, on both endpoints, instead of being silently ignored.
func TestUnsupportedFieldsAreRefused(t *testing.T) {
	s, err := serve.New(servetest.Model{Default: "ok"}, serve.Options{NewSampler: servetest.GreedyFactory})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	chat := `"messages": [{"role": "user", "content": "hi"}]`
	cmpl := `"prompt": "hi"`
	for _, c := range []struct{ path, base, extra, param string }{
		{"/v1/chat/completions", chat, `"tools": [{"type": "function", "function": {"name": "f"}}]`, "tools"},
		{"/v1/chat/completions", chat, `"response_format": {"type": "json_object"}`, "response_format"},
		{"/v1/chat/completions", chat, `"tool_choice": "auto"`, "tool_choice"},
		{"/v1/chat/completions", chat, `"frobnicate": 1`, "frobnicate"},
		{"/v1/completions", cmpl, `"suffix": "x"`, "suffix"},
		{"/v1/completions", cmpl, `"best_of": 2`, "best_of"},
		{"/v1/completions", cmpl, `"response_format": {"type": "json_object"}`, "response_format"},
		{"/v1/completions", cmpl, `"presence_penalty": 0.5`, "presence_penalty"},
		{"/v1/completions", cmpl, `"logit_bias": {"65": 10}`, "logit_bias"},
	} {
		code, b := postJSON(t, srv.URL+c.path, "{"+c.base+", "+c.extra+"}")
		var e struct {
			Error struct {
				Message string `json:"message"`
				Param   string `json:"param"`
			} `json:"error"`
		}
		json.Unmarshal(b, &e)
		if code != 400 || e.Error.Param != c.param || !strings.Contains(e.Error.Message, c.param) {
			t.Errorf("%s with %s: %d %s", c.path, c.extra, code, bytes.TrimSpace(b))
		}
	}
	// Neutral values of the penalties and metadata are accepted.
	if code, b := postJSON(t, srv.URL+"/v1/completions", `{"prompt": "hi", "presence_penalty": 0, "frequency_penalty": 0, "logit_bias": {}, "user": "u1"}`); code != 200 {
		t.Errorf("neutral fields: %d %s", code, b)
	}
}

// TestStreamingEcho: streamed, the echoed prompt is the first chunk (its
// first token unscored), then the completion.
func TestStreamingEcho(t *testing.T) {
	srv, _ := newTestServer(t, "ok")
	code, b := postJSON(t, srv.URL+"/v1/completions", `{"prompt": "Hi", "echo": true, "logprobs": 0, "max_tokens": 4, "stream": true}`)
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	var texts []string
	var first legacyCompletion
	for i, line := range strings.Split(string(b), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var ev legacyCompletion
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if len(texts) == 0 {
			first = ev
		}
		texts = append(texts, ev.Choices[0].Text)
	}
	if strings.Join(texts, "") != "Hiok" || texts[0] != "Hi" {
		t.Fatalf("chunks %q", texts)
	}
	lp := first.Choices[0].Logprobs
	// The scripted model is uniform inside its prompt: "i" has logprob −ln 257.
	if len(lp.Tokens) != 2 || lp.TokenLogprobs[0] != nil || lp.TokenLogprobs[1] == nil || math.Abs(*lp.TokenLogprobs[1]+math.Log(257)) > 1e-5 || lp.TextOffset[1] != 1 {
		t.Fatalf("echo chunk logprobs %+v", lp)
	}
}
