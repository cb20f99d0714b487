package teacher

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distill-ml/distill/distill/collect/retry"
	"github.com/distill-ml/distill/distill/collect/teacher/teachertest"
)

// These tests never leave the machine: host names resolve through a
// teachertest.Resolver, and every server is an httptest server on 127.0.0.1.
// 203.0.113.0/24 (TEST-NET-3) stands for a remote host; no test dials it.

func openAIConfig(baseURL string) OpenAIConfig {
	return OpenAIConfig{Name: "t", BaseURL: baseURL, Model: "m", Mode: "chat", Timeout: time.Minute}
}

func TestUserInfoInBaseURLIsRefused(t *testing.T) {
	res := teachertest.NewResolver() // knows no host: a lookup would fail the test below
	for _, u := range []string{
		"http://127.0.0.1@teacher.example.com/v1",
		"http://localhost:80@teacher.example.com/v1",
		"https://user:pass@teacher.example.com/v1",
	} {
		_, err := NewOpenAIWith(openAIConfig(u), Env{Resolver: res})
		if err == nil || !strings.Contains(err.Error(), "user info") {
			t.Errorf("%s: got %v, want a refusal of user info", u, err)
		}
		if h, _ := url.Parse(u); res.Lookups(h.Hostname()) != 0 {
			t.Errorf("%s: host looked up before the URL was refused", u)
		}
	}
}

func TestRemoteIsDecidedOnResolvedAddresses(t *testing.T) {
	res := teachertest.NewResolver().
		Answer("127.teacher.example.com", "203.0.113.7").
		Answer("localhost", "127.0.0.1", "::1").
		Answer("half.example.com", "127.0.0.1", "203.0.113.8").
		Answer("loopback.example.com", "127.0.0.2")
	for _, c := range []struct {
		url    string
		remote bool
	}{
		{"http://127.teacher.example.com/v1", true},
		{"http://127.teacher.example.com:8080/v1", true},
		{"http://localhost:8080/v1", false},
		{"http://127.0.0.1:8080/v1", false},
		{"http://[::1]:8080/v1", false},
		{"http://[::ffff:127.0.0.1]:8080/v1", false},
		{"http://half.example.com/v1", true},         // one address elsewhere is remote
		{"http://loopback.example.com/v1", false},    // every address loopback
		{"http://unresolvable.example.com/v1", true}, // unknown: remote (fail closed)
		{"http://0.0.0.0:8080/v1", true},
		{"http://203.0.113.9/v1", true},
	} {
		tt, err := NewOpenAIWith(openAIConfig(c.url), Env{Resolver: res})
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if tt.Remote() != c.remote {
			t.Errorf("%s: remote %v, want %v", c.url, tt.Remote(), c.remote)
		}
	}
	// Declaring remote: false does not make a remote host local.
	local := false
	for _, u := range []string{"http://127.teacher.example.com/v1", "http://unresolvable.example.com/v1"} {
		cfg := openAIConfig(u)
		cfg.Remote = &local
		if _, err := NewOpenAIWith(cfg, Env{Resolver: res}); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s with remote: false: got %v, want a refusal", u, err)
		}
	}
}

// countingServer is a loopback teacher endpoint that answers every request
// with handler and counts them.
func countingServer(t *testing.T, handler http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func wantNotLoopback(t *testing.T, what string, err error) {
	t.Helper()
	var re *retry.Error
	if !errors.Is(err, ErrNotLoopback) || !errors.As(err, &re) || re.Reason != "not_loopback" || re.Transient {
		t.Errorf("%s: got %v, want a permanent not_loopback refusal", what, err)
	}
}

// TestLocalTeacherRefusesRebindingAtDial: the host resolves to loopback when
// the teacher is classified (local), then elsewhere: the request is refused
// at dial time and nothing is sent anywhere.
func TestLocalTeacherRefusesRebindingAtDial(t *testing.T) {
	srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	res := teachertest.NewResolver().Answer("teacher.test", "127.0.0.1").Answer("teacher.test", "203.0.113.7")
	tt, err := NewOpenAIWith(openAIConfig("http://teacher.test:"+port+"/v1"), Env{Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	if tt.Remote() {
		t.Fatal("teacher.test resolved to 127.0.0.1 at classification: want local")
	}
	_, err = tt.Complete(context.Background(), Request{Prompt: "local-only row", MaxTokens: 2})
	wantNotLoopback(t, "rebound host", err)
	if hits.Load() != 0 {
		t.Errorf("server got %d requests", hits.Load())
	}
	if res.Lookups("teacher.test") < 2 {
		t.Errorf("the dial did not resolve the host again (lookups %d)", res.Lookups("teacher.test"))
	}
}

// TestLocalTeacherRefusesRedirectsLeavingLoopback: a loopback endpoint that
// redirects to a remote host (by name or by address) gets the request
// refused before it leaves; a redirect within loopback is followed.
func TestLocalTeacherRefusesRedirectsLeavingLoopback(t *testing.T) {
	var final atomic.Int64
	inner, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		final.Add(1)
		w.WriteHeader(418)
	})
	res := teachertest.NewResolver().
		Answer("teacher.example.com", "203.0.113.7").
		Answer("rebind.test", "127.0.0.1").Answer("rebind.test", "203.0.113.8").
		Answer("localhost", "127.0.0.1")
	innerPort := inner.URL[strings.LastIndexByte(inner.URL, ':')+1:]
	for _, c := range []struct{ to, want string }{
		{"http://teacher.example.com/v1/chat/completions", "not_loopback"},
		{"http://203.0.113.9/v1/chat/completions", "not_loopback"},
		{"http://127.0.0.1@teacher.example.com/v1/chat/completions", "not_loopback"},
		{"http://rebind.test:" + innerPort + "/v1/chat/completions", "not_loopback"},
		{"http://localhost:" + innerPort + "/v1/chat/completions", "http_418"},
	} {
		final.Store(0)
		outer, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, c.to, http.StatusTemporaryRedirect)
		})
		tt, err := NewOpenAIWith(openAIConfig(outer.URL+"/v1"), Env{Resolver: res})
		if err != nil {
			t.Fatal(err)
		}
		_, err = tt.Complete(context.Background(), Request{Prompt: "local-only row", MaxTokens: 2})
		if c.want == "not_loopback" {
			wantNotLoopback(t, "redirect to "+c.to, err)
			if final.Load() != 0 {
				t.Errorf("redirect to %s reached the loopback server behind it", c.to)
			}
			continue
		}
		var re *retry.Error
		if !errors.As(err, &re) || re.Reason != c.want || final.Load() != 1 {
			t.Errorf("redirect to %s: got %v (reached %d), want %s from the loopback server", c.to, err, final.Load(), c.want)
		}
	}
}

// TestLoopbackControlRefusesOtherAddresses: the dialer's last check, on the
// address a socket is about to connect to.
func TestLoopbackControlRefusesOtherAddresses(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:80": true, "127.9.9.9:1": true, "[::1]:443": true, "203.0.113.7:80": false, "0.0.0.0:80": false, "[::]:80": false, "[2001:db8::1]:80": false} {
		if err := loopbackControl("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("%s: %v", addr, err)
		}
	}
}
