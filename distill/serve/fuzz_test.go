package serve_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/distill/serve/servetest"
)

// FuzzRequests sends arbitrary bodies to both generation endpoints: the
// server never panics, never answers 5xx to a bad request, and every answer
// is JSON (or an event stream when streaming was asked for).
func FuzzRequests(f *testing.F) {
	for _, seed := range []string{
		`{"model":"byte-model","messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":3,"max_tokens":4}`,
		`{"prompt":"abc","logprobs":2,"max_tokens":3,"stop":["b"]}`,
		`{"prompt":["x"],"stream":true,"max_tokens":2}`,
		`{"messages":[{"role":"tool","content":"x"}]}`,
		`{"prompt":"a","max_tokens":-1,"temperature":9,"top_p":0}`,
		`{"messages":[],"n":2}`, `[]`, `{"prompt":1}`, ``,
	} {
		f.Add(seed)
	}
	s, err := serve.New(servetest.Model{Default: "ok é"}, serve.Options{NewSampler: servetest.GreedyFactory, MaxTokens: 16})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/v1/chat/completions", "/v1/completions"} {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
			if rec.Code >= 500 {
				t.Fatalf("%s %q: status %d: %s", path, body, rec.Code, rec.Body.String())
			}
			if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/event-stream") {
				continue
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %q: status %d, body not JSON: %q", path, body, rec.Code, rec.Body.String())
			}
		}
	})
}
