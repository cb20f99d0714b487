package teacher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distill-ml/distill/distill/collect/retry"
	"github.com/distill-ml/distill/distill/collect/teacher/teachertest"
)

const secret = "sk-test-SECRET-0123456789"

// server answers chat and completion requests; behaviour (a string, set by
// the test between requests while a stalled handler may still run) picks a
// fault, read once per request. The "stall" fault ends the request's
// deadline (the prompt is its key) and answers nothing until the client
// gives up: a timeout that does not depend on the machine's speed.
func server(t *testing.T, behaviour *atomic.Value, deadlines *teachertest.Deadlines) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+secret {
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"error":{"message":"bad key %s","type":"auth"}}`, got)
			return
		}
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		fault := behaviour.Load().(string)
		switch fault {
		case "429":
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(429)
			fmt.Fprint(w, `{"error":{"message":"slow down","type":"rate_limit"}}`)
			return
		case "500":
			w.WriteHeader(500)
			fmt.Fprint(w, `{"error":{"message":"boom","type":"server"}}`)
			return
		case "400-echo-key":
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":{"message":"invalid request from key %s","type":"invalid"}}`, secret)
			return
		case "truncated":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":"x","choices":[{"message":{"role":"assistant","content":"Hel`)
			return
		case "stall":
			if !deadlines.Expire(promptOf(body)) {
				t.Errorf("stall: no live deadline for prompt %q", promptOf(body))
			}
			<-r.Context().Done()
			return
		}
		lp := -0.1
		if fault == "positive-logprob" {
			lp = 0.5
		}
		if strings.HasSuffix(r.URL.Path, "/chat/completions") {
			if body["logprobs"] != true || body["top_logprobs"] != float64(2) {
				w.WriteHeader(400)
				fmt.Fprintf(w, `{"error":{"message":"logprobs not requested: %v"}}`, body)
				return
			}
			if temp, ok := body["temperature"].(float64); !ok || temp > 1e-30 {
				w.WriteHeader(400)
				fmt.Fprintf(w, `{"error":{"message":"temperature 0 was not sent: %v"}}`, body["temperature"])
				return
			}
			fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Hi!"},
			"logprobs":{"content":[
			 {"token":"Hi","logprob":%g,"bytes":[72,105],"top_logprobs":[{"token":"Hello","logprob":-2.5,"bytes":[72,101,108,108,111]},{"token":"Hi","logprob":%g,"bytes":[72,105]}]},
			 {"token":"!","logprob":-0.01,"bytes":[33],"top_logprobs":[{"token":"!","logprob":-0.01,"bytes":[33]},{"token":".","logprob":-4.7,"bytes":[46]}]}]}}],
			"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`, lp, lp)
			return
		}
		fmt.Fprintf(w, `{"id":"p1","object":"text_completion","choices":[{"index":0,"finish_reason":"length","text":" ok","logprobs":{"tokens":[" ok"],"token_logprobs":[%g],"top_logprobs":[{" ok":%g," no":-3.0}],"text_offset":[0]}}],
		"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`, lp, lp)
	}))
}

// promptOf is a request body's prompt: the last chat message or the completion prompt.
func promptOf(body map[string]any) string {
	if msgs, ok := body["messages"].([]any); ok && len(msgs) > 0 {
		if m, ok := msgs[len(msgs)-1].(map[string]any); ok {
			s, _ := m["content"].(string)
			return s
		}
	}
	s, _ := body["prompt"].(string)
	return s
}

// newTeacher is a teacher at url whose request deadlines end only when
// deadlines expires them (a minute is the backstop).
func newTeacher(t *testing.T, url, mode string, deadlines *teachertest.Deadlines) *OpenAI {
	t.Setenv("DISTILL_TEST_KEY", secret)
	tt, err := NewOpenAIWith(OpenAIConfig{Name: "t", BaseURL: url + "/v1", Model: "m", APIKeyEnv: "DISTILL_TEST_KEY", Mode: mode, Timeout: time.Minute},
		Env{Deadline: func(ctx context.Context, req Request, timeout time.Duration) (context.Context, context.CancelFunc) {
			return deadlines.Deadline(ctx, req.Prompt, timeout)
		}})
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

// fakeAPI starts server with behaviour initial; it returns the server's URL,
// the behaviour to change between requests and the deadlines its stall
// fault ends. The server closes with t.
func fakeAPI(t *testing.T, initial string) (string, *atomic.Value, *teachertest.Deadlines) {
	t.Helper()
	behaviour := new(atomic.Value)
	behaviour.Store(initial)
	deadlines := teachertest.NewDeadlines()
	srv := server(t, behaviour, deadlines)
	t.Cleanup(srv.Close)
	return srv.URL, behaviour, deadlines
}

func TestChatAndCompletionLogprobs(t *testing.T) {
	url, _, deadlines := fakeAPI(t, "ok")
	chat := newTeacher(t, url, "chat", deadlines)
	if chat.Remote() {
		t.Error("loopback teacher reported remote")
	}
	r, err := chat.Complete(context.Background(), Request{Prompt: "hi", MaxTokens: 4, TopLogprobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Text != "Hi!" || len(r.Positions) != 2 || r.CompletionTokens != 2 {
		t.Fatalf("%+v", r)
	}
	top := r.Positions[0].Top
	if top[0].Token != "Hi" || top[1].Token != "Hello" || string(top[1].Bytes) != "Hello" {
		t.Fatalf("top not sorted descending / bytes lost: %+v", top)
	}
	comp := newTeacher(t, url, "completion", deadlines)
	r, err = comp.Complete(context.Background(), Request{Prompt: "x", MaxTokens: 1, TopLogprobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Positions) != 1 || r.Positions[0].Top[0].Token != " ok" || r.Positions[0].Top[1].Logprob != -3 {
		t.Fatalf("%+v", r.Positions)
	}
}

func TestFaultsAreClassifiedAndKeyNeverLeaks(t *testing.T) {
	url, b, deadlines := fakeAPI(t, "")
	tt := newTeacher(t, url, "chat", deadlines)
	cases := []struct {
		behaviour, reason string
		transient         bool
		retryAfter        time.Duration
	}{
		{"429", "http_429", true, 2 * time.Second},
		{"500", "http_500", true, 0},
		{"400-echo-key", "http_400", false, 0},
		{"truncated", "bad_json", true, 0},
		{"stall", "timeout", true, 0},
		{"positive-logprob", "bad_logprobs", true, 0},
	}
	for _, c := range cases {
		b.Store(c.behaviour)
		_, err := tt.Complete(context.Background(), Request{Prompt: "p", MaxTokens: 2, TopLogprobs: 2})
		var re *retry.Error
		if !errors.As(err, &re) {
			t.Errorf("%s: unclassified error %v", c.behaviour, err)
			continue
		}
		if re.Reason != c.reason || re.Transient != c.transient || re.RetryAfter != c.retryAfter {
			t.Errorf("%s: got reason %s transient %v retry-after %v; want %s %v %v (%v)", c.behaviour, re.Reason, re.Transient, re.RetryAfter, c.reason, c.transient, c.retryAfter, err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: API key leaked into error: %v", c.behaviour, err)
		}
	}
}

func TestValidateRejectsMalformed(t *testing.T) {
	bad := []*Response{
		{CompletionTokens: 2},
		{Positions: []Position{{Alt: Alt{Token: "a", Logprob: -1}}}},
		{Positions: []Position{{Alt: Alt{Token: "a", Logprob: -1}, Top: []Alt{{Token: "a", Logprob: -0.1}, {Token: "a", Logprob: -0.2}}}}},
		{Positions: []Position{{Alt: Alt{Token: "a", Logprob: -0.1}, Top: []Alt{{Token: "a", Logprob: -0.1}, {Token: "b", Logprob: -0.2}}}}}, // mass > 1
		// logprobs cut short: "ab" does not spell "abc"
		{Text: "abc", Positions: []Position{{Alt: Alt{Token: "a", Logprob: -0.1}, Top: []Alt{{Token: "a", Logprob: -0.1}}}, {Alt: Alt{Token: "b", Logprob: -0.1}, Top: []Alt{{Token: "b", Logprob: -0.1}}}}},
	}
	good := &Response{Text: " a\xff", Positions: []Position{
		{Alt: Alt{Token: " a", Logprob: -0.1}, Top: []Alt{{Token: " a", Logprob: -0.1}}},
		{Alt: Alt{Token: "bytes:\\xff", Logprob: -0.1}, Top: []Alt{{Token: "bytes:\\xff", Logprob: -0.1}}},
		{Alt: Alt{Token: "STOP", Logprob: -0.1}, Top: []Alt{{Token: "STOP", Logprob: -0.1}}}, // a stop string past the text
	}}
	if err := good.Validate(1); err != nil {
		t.Errorf("valid response refused: %v", err)
	}
	for i, r := range bad {
		if err := r.Validate(2); err == nil {
			t.Errorf("case %d accepted", i)
		}
	}
}

func TestMissingKeyEnvIsAConfigError(t *testing.T) {
	_, err := NewOpenAI(OpenAIConfig{Name: "t", BaseURL: "https://api.example.invalid/v1", Model: "m", APIKeyEnv: "DISTILL_SURELY_UNSET_VAR", Mode: "chat", Timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "DISTILL_SURELY_UNSET_VAR") {
		t.Fatalf("got %v", err)
	}
}
