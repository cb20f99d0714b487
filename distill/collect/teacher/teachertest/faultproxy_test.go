package teachertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const proxyKey = "sk-proxy-test"

// backend answers every request with one fixed, well-formed body.
var backend = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"choices":[{"logprobs":{"content":[{"token":"a","logprob":-1.5}]}}]}`)
})

// ask posts a chat request for prompt through the proxy at url.
func ask(t *testing.T, ctx context.Context, url, key, prompt string) (int, string, error) {
	t.Helper()
	body := fmt.Sprintf(`{"model":"m","messages":[{"role":"user","content":%q}]}`, prompt)
	req, err := http.NewRequestWithContext(ctx, "POST", url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestFaultProxyInjectsByPrompt(t *testing.T) {
	p := &FaultProxy{Backend: backend, Key: proxyKey, FirstAttempt: []Fault{Fault500}}
	hs := httptest.NewServer(p)
	defer hs.Close()
	ctx := context.Background()
	const good = `{"choices":[{"logprobs":{"content":[{"token":"a","logprob":-1.5}]}}]}`
	for _, c := range []struct {
		prompt string
		code   int
		body   string // "" means: not the backend's body unharmed
	}{
		{"hello", 500, ""},        // the first attempt: FirstAttempt's only fault
		{"hello", 200, good},      // the retry passes
		{"FAULT-400 x", 400, ""},  // always
		{"FAULT-400 x", 400, ""},  //
		{"ALWAYS-BAD y", 200, ""}, // always malformed
		{"ALWAYS-BAD y", 200, ""}, //
	} {
		code, body, err := ask(t, ctx, hs.URL, proxyKey, c.prompt)
		if err != nil {
			t.Fatal(err)
		}
		if code != c.code || (c.body != "" && body != c.body) || (c.body == "" && body == good) {
			t.Errorf("%q: %d %s, want %d %s", c.prompt, code, body, c.code, c.body)
		}
		if strings.HasPrefix(c.prompt, "ALWAYS-BAD") && !strings.Contains(body, `"logprob":1.5`) {
			t.Errorf("%q: logprob not made positive: %s", c.prompt, body)
		}
	}
	if code, _, _ := ask(t, ctx, hs.URL, "sk-wrong", "hello"); code != 401 || p.BadAuth() != 1 {
		t.Errorf("wrong key: %d, %d refused", code, p.BadAuth())
	}
	if got := strings.Join(p.Received(), "|"); got != "hello|hello|FAULT-400 x|FAULT-400 x|ALWAYS-BAD y|ALWAYS-BAD y" {
		t.Errorf("received %s", got)
	}
	if f := p.Faults(); len(f) != 1 || f["hello"] != Fault500 {
		t.Errorf("faults %v, want hello: 500 only", f)
	}
	if n := len(p.Attempts()["hello"]); n != 2 {
		t.Errorf("%d attempts of hello, want 2", n)
	}
}

// TestFaultProxyTimeoutEndsTheRequestsDeadline: a timeout fault ends the
// deadline Deadlines holds for the prompt; the client sees its context end
// (no wall-clock timeout is involved). Without a deadline to end, the
// request passes unharmed and no fault is recorded.
func TestFaultProxyTimeoutEndsTheRequestsDeadline(t *testing.T) {
	d := NewDeadlines()
	p := &FaultProxy{Backend: backend, Key: proxyKey, Deadlines: d, FirstAttempt: []Fault{FaultTimeout}}
	hs := httptest.NewServer(p)
	defer hs.Close()
	ctx, cancel := d.Deadline(context.Background(), "slow", 2*time.Minute) // the backstop ends it as DeadlineExceeded
	defer cancel()
	if _, _, err := ask(t, ctx, hs.URL, proxyKey, "slow"); err == nil || !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("request with a timeout fault: err %v, context %v (want its deadline ended by the proxy)", err, ctx.Err())
	}
	if code, _, err := ask(t, context.Background(), hs.URL, proxyKey, "no deadline"); err != nil || code != 200 {
		t.Fatalf("request without a deadline to end: %d %v", code, err)
	}
	if f := p.Faults(); len(f) != 1 || f["slow"] != FaultTimeout {
		t.Errorf("faults %v, want slow: timeout only", f)
	}
}

// TestFaultProxyHoldWhile: while the condition holds, a request is held
// until its client goes away; afterwards requests pass again.
func TestFaultProxyHoldWhile(t *testing.T) {
	p := &FaultProxy{Backend: backend, Key: proxyKey}
	hs := httptest.NewServer(p)
	defer hs.Close()
	arrived := make(chan struct{}, 1)
	p.HoldWhile(func() bool { arrived <- struct{}{}; return true })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, _, err := ask(t, ctx, hs.URL, proxyKey, "held"); errc <- err }()
	// Once the request is at the proxy it can only end by the client's
	// cancel: cancel it and see that it had not been answered.
	<-arrived
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("a held request was answered")
	}
	p.HoldWhile(nil)
	if code, _, err := ask(t, context.Background(), hs.URL, proxyKey, "free"); err != nil || code != 200 {
		t.Fatalf("after the hold: %d %v", code, err)
	}
	if got := p.Received(); len(got) != 1 || got[0] != "free" {
		t.Errorf("received %q, want only the request after the hold", got)
	}
}
