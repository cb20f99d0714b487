package serve_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/distill/serve/servetest"
)

// countingModel is the scripted model counting the bytes it was asked to
// tokenize.
type countingModel struct {
	servetest.Model
	encoded *atomic.Int64
}

func (m countingModel) Encode(s string) []int32 {
	m.encoded.Add(int64(len(s)))
	return m.Model.Encode(s)
}

// apiErrorBody is OpenAI's error JSON.
type apiErrorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
	} `json:"error"`
}

func (e apiErrorBody) String() string {
	param := "null"
	if e.Error.Param != nil {
		param = *e.Error.Param
	}
	return fmt.Sprintf("%s (type %s, param %s)", e.Error.Message, e.Error.Type, param)
}

func post(t *testing.T, h http.Handler, path, body string, header ...string) (*httptest.ResponseRecorder, apiErrorBody) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var e apiErrorBody
	if rec.Code >= 400 {
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("%s: status %d, body not error JSON: %q", path, rec.Code, rec.Body.String())
		}
	}
	return rec, e
}

// TestBadBodiesNameTheField: each bad body gets a 400 with OpenAI-style error
// JSON whose param names the offending field, and an over-long prompt is
// refused by its byte length before anything tokenizes it.
func TestBadBodiesNameTheField(t *testing.T) {
	var encoded atomic.Int64
	m := countingModel{Model: servetest.Model{Default: "ok"}, encoded: &encoded}
	s, err := serve.New(m, serve.Options{NewSampler: servetest.GreedyFactory, MaxBodyBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	quoted := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	hugePrompt := strings.Repeat("x", 200<<10) // 200 KiB for a 1024-token context
	manyStops := strings.Repeat(`"a",`, 50000) + `"a"`
	for _, c := range []struct {
		name, path, body, param string
	}{
		{"five stops", "/v1/completions", `{"prompt":"x","stop":["a","b","c","d","e"]}`, "stop"},
		{"50001 stops", "/v1/completions", `{"prompt":"x","stop":[` + manyStops + `]}`, "stop"},
		{"long stop", "/v1/completions", `{"prompt":"x","stop":` + quoted(strings.Repeat("s", 4096)) + `}`, "stop"},
		{"empty stop", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"stop":["a",""]}`, "stop"},
		{"stop not strings", "/v1/completions", `{"prompt":"x","stop":[1]}`, "stop"},
		{"max_tokens a string", "/v1/completions", `{"prompt":"x","max_tokens":"5"}`, "max_tokens"},
		{"huge prompt", "/v1/completions", `{"prompt":` + quoted(hugePrompt) + `}`, "prompt"},
		{"huge prompt, streamed", "/v1/completions", `{"stream":true,"prompt":` + quoted(hugePrompt) + `}`, "prompt"},
		{"huge message", "/v1/chat/completions", `{"messages":[{"role":"user","content":` + quoted(hugePrompt) + `}]}`, "messages"},
	} {
		t.Run(c.name, func(t *testing.T) {
			encoded.Store(0)
			rec, e := post(t, s, c.path, c.body)
			if rec.Code != 400 || e.Error.Param == nil || *e.Error.Param != c.param || e.Error.Type != "invalid_request_error" {
				t.Fatalf("status %d, error %v, want 400 naming %q", rec.Code, e, c.param)
			}
			if n := encoded.Load(); n > 64 {
				t.Fatalf("tokenized %d bytes of a refused request", n)
			}
		})
	}
	// A body over MaxBodyBytes is refused while reading it, and says the limit.
	rec, e := post(t, s, "/v1/completions", `{"prompt":`+quoted(strings.Repeat("y", 300<<10))+`}`)
	if rec.Code != 400 || !strings.Contains(e.Error.Message, fmt.Sprint(256<<10)) {
		t.Fatalf("oversized body: status %d, error %v", rec.Code, e)
	}
	// The limits leave room for what OpenAI accepts.
	rec, _ = post(t, s, "/v1/completions", `{"prompt":`+quoted(strings.Repeat("z", 1000))+`,"stop":["a","b","c",`+quoted(strings.Repeat("d", 200))+`]}`)
	if rec.Code != 200 {
		t.Fatalf("four stops and a prompt that fits: status %d %s", rec.Code, rec.Body.String())
	}
}

// TestStreamingErrorBeforeFirstTokenIsHTTPError: a streamed request refused
// before anything was generated gets the error status, not a 200 stream.
func TestStreamingErrorBeforeFirstTokenIsHTTPError(t *testing.T) {
	s, err := serve.New(servetest.Model{Default: "ok"}, serve.Options{NewSampler: servetest.GreedyFactory})
	if err != nil {
		t.Fatal(err)
	}
	rec, e := post(t, s, "/v1/completions", `{"stream":true,"prompt":"`+strings.Repeat("p", 1024)+`"}`)
	if rec.Code != 400 || e.Error.Param == nil || *e.Error.Param != "prompt" {
		t.Fatalf("status %d body %s", rec.Code, rec.Body.String())
	}
}
