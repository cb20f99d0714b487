package serve_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/distill/serve/servetest"
)

// blockingModel is the scripted model whose sessions block in their first
// Eval (the prompt) until release is closed; entered receives one value per
// session that got there.
type blockingModel struct {
	servetest.Model
	entered chan struct{}
	release chan struct{}
}

func newBlockingModel(script string) blockingModel {
	return blockingModel{Model: servetest.Model{Default: script}, entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (m blockingModel) NewSession(n int) serve.Session {
	return &blockingSession{Session: m.Model.NewSession(n), m: m}
}

type blockingSession struct {
	serve.Session
	m       blockingModel
	started bool
}

func (s *blockingSession) Eval(tokens []int32) ([]float32, error) {
	if !s.started {
		s.started = true
		s.m.entered <- struct{}{}
		<-s.m.release
	}
	return s.Session.Eval(tokens)
}

// waitFor polls cond (no deadline: the test binary's timeout is the bound).
func waitFor(cond func() bool) {
	for !cond() {
		time.Sleep(time.Millisecond)
	}
}

// TestQueueCapAnswers429WithRetryAfter: with one slot busy and the one queue
// place taken, the next request is refused at once with 429 and Retry-After
// instead of waiting.
func TestQueueCapAnswers429WithRetryAfter(t *testing.T) {
	m := newBlockingModel("ok")
	s, err := serve.New(m, serve.Options{NewSampler: servetest.GreedyFactory, Parallel: 1, MaxQueue: 1, RetryAfter: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"prompt":"x","max_tokens":4}`
	send := func() chan *httptest.ResponseRecorder {
		out := make(chan *httptest.ResponseRecorder, 1)
		go func() {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/completions", strings.NewReader(body)))
			out <- rec
		}()
		return out
	}
	a := send()
	<-m.entered // a decodes
	b := send()
	waitFor(func() bool { return s.Queued() == 1 })
	c := send()
	var rc *httptest.ResponseRecorder
	waitFor(func() bool {
		select {
		case rc = <-c:
			return true
		default:
			return s.Queued() > 1
		}
	})
	close(m.release)
	if rc == nil {
		rc = <-c
		t.Fatalf("the third request queued behind a full queue (then got %d)", rc.Code)
	}
	if rc.Code != http.StatusTooManyRequests || rc.Header().Get("Retry-After") != "3" || !strings.Contains(rc.Body.String(), `"error"`) {
		t.Fatalf("third request: status %d, Retry-After %q, body %s", rc.Code, rc.Header().Get("Retry-After"), rc.Body.String())
	}
	for i, ch := range []chan *httptest.ResponseRecorder{a, b} {
		if rec := <-ch; rec.Code != 200 {
			t.Errorf("request %d: status %d %s", i, rec.Code, rec.Body.String())
		}
	}
}

// fakeClock advances by step at every reading.
type fakeClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.step)
	return c.now
}

// countingEvals counts Eval calls of the scripted model's sessions.
type countingEvals struct {
	servetest.Model
	evals *atomic.Int64
}

func (m countingEvals) NewSession(n int) serve.Session {
	return countedSession{m.Model.NewSession(n), m.evals}
}

type countedSession struct {
	serve.Session
	evals *atomic.Int64
}

func (s countedSession) Eval(t []int32) ([]float32, error) { s.evals.Add(1); return s.Session.Eval(t) }

// TestRequestDeadlineStopsDecoding: a generation that outlives the request
// deadline (a clock that advances 10 s per reading, a 1 minute deadline) is
// stopped after a few tokens and answered 504, or an error event when
// streaming; it does not decode its 300 tokens.
func TestRequestDeadlineStopsDecoding(t *testing.T) {
	for _, stream := range []bool{false, true} {
		var evals atomic.Int64
		clock := &fakeClock{now: time.Now(), step: 10 * time.Second}
		s, err := serve.New(countingEvals{servetest.Model{Default: strings.Repeat("a", 300)}, &evals},
			serve.Options{NewSampler: servetest.GreedyFactory, RequestTimeout: time.Minute, Clock: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		body := `{"prompt":"x","max_tokens":300,"stream":false}`
		if stream {
			body = strings.Replace(body, "false", "true", 1)
		}
		rec, e := post(t, s, "/v1/completions", body)
		if n := evals.Load(); n >= 300 {
			t.Fatalf("stream %v: decoded %d tokens past the deadline", stream, n)
		}
		if !stream && (rec.Code != http.StatusGatewayTimeout || !strings.Contains(e.Error.Message, "deadline")) {
			t.Fatalf("status %d, error %v", rec.Code, e)
		}
		if stream && (!strings.Contains(rec.Body.String(), `"error"`) || strings.Contains(rec.Body.String(), "[DONE]")) {
			t.Fatalf("stream: %s", rec.Body.String())
		}
	}
}

// startHTTP serves s on loopback with its HTTPServer settings.
func startHTTP(t *testing.T, s *serve.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := s.HTTPServer()
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// readUntilClosed reads conn (through r) until the server closes it. The read deadline is
// a safety net near the test binary's timeout (when the server never closes),
// not a measure of how fast it closes.
func readUntilClosed(t *testing.T, conn net.Conn, r io.Reader) string {
	t.Helper()
	safety := time.Now().Add(2 * time.Minute)
	if d, ok := t.Deadline(); ok {
		safety = d.Add(-10 * time.Second)
	}
	conn.SetReadDeadline(safety)
	b, err := io.ReadAll(r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open (read so far: %q)", b)
	}
	return string(b)
}

// dialShortTimeouts connects to a server whose read and idle timeouts are
// 100 ms; the connection is closed at the test's end.
func dialShortTimeouts(t *testing.T) net.Conn {
	t.Helper()
	s, err := serve.New(servetest.Model{Default: "ok"}, serve.Options{NewSampler: servetest.GreedyFactory,
		ReadTimeout: 100 * time.Millisecond, IdleTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", startHTTP(t, s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestSlowBodyConnectionIsClosed: a client that sends headers and part of a
// body, then stalls, is answered 408 and disconnected after ReadTimeout.
func TestSlowBodyConnectionIsClosed(t *testing.T) {
	conn := dialShortTimeouts(t)
	io.WriteString(conn, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"prompt\":\"")
	got := readUntilClosed(t, conn, conn)
	if !strings.HasPrefix(got, "HTTP/1.1 408") {
		t.Fatalf("answer %q, want 408", got)
	}
}

// TestIdleConnectionIsClosed: a keep-alive connection that sends nothing
// after its request is closed after IdleTimeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	conn := dialShortTimeouts(t)
	io.WriteString(conn, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("status %d, close %v", resp.StatusCode, resp.Close)
	}
	if rest := readUntilClosed(t, conn, br); rest != "" {
		t.Fatalf("unexpected bytes %q", rest)
	}
}

// TestGenerationOutlivesReadTimeout: ReadTimeout bounds reading the request,
// not the generation: a decode held for many ReadTimeouts still completes.
func TestGenerationOutlivesReadTimeout(t *testing.T) {
	m := newBlockingModel("done")
	s, err := serve.New(m, serve.Options{NewSampler: servetest.GreedyFactory, ReadTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	addr := startHTTP(t, s)
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Post("http://"+addr+"/v1/completions", "application/json", strings.NewReader(`{"prompt":"x","max_tokens":8}`))
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{code: resp.StatusCode, body: string(b)}
	}()
	<-m.entered
	time.Sleep(25 * 20 * time.Millisecond) // at least 25 read timeouts pass (sleep never returns early)
	close(m.release)
	r := <-res
	if r.err != nil || r.code != 200 || !strings.Contains(r.body, `"text":"done"`) {
		t.Fatalf("status %d, body %s, err %v", r.code, r.body, r.err)
	}
}

// TestBearerAuth: with an API key every endpoint but /health needs it as a
// bearer token; a missing or wrong key gets 401 with WWW-Authenticate and an
// error that does not echo the key.
func TestBearerAuth(t *testing.T) {
	const key = "sk-test-123"
	s, err := serve.New(servetest.Model{Default: "ok"}, serve.Options{NewSampler: servetest.GreedyFactory, APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	body := `{"prompt":"x","max_tokens":2}`
	for _, auth := range []string{"", "Bearer sk-test-124", "Bearer sk-test-12", "Bearer " + key + "x", "Basic " + key, key} {
		rec, e := post(t, s, "/v1/completions", body, "Authorization", auth)
		if rec.Code != 401 || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") || e.Error.Message == "" {
			t.Errorf("Authorization %q: status %d, WWW-Authenticate %q, error %v", auth, rec.Code, rec.Header().Get("WWW-Authenticate"), e)
		}
		if strings.Contains(rec.Body.String(), key) {
			t.Errorf("Authorization %q: the answer echoes the key: %s", auth, rec.Body.String())
		}
		if rec := get("/v1/models", auth); rec.Code != 401 {
			t.Errorf("models with Authorization %q: status %d", auth, rec.Code)
		}
	}
	if rec, _ := post(t, s, "/v1/completions", body, "Authorization", "Bearer "+key); rec.Code != 200 {
		t.Fatalf("right key: status %d %s", rec.Code, rec.Body.String())
	}
	if rec := get("/health", ""); rec.Code != 200 {
		t.Fatalf("health without a key: status %d", rec.Code)
	}
	// Through an OpenAI client with the key.
	_, c := servetest.Client(t, s, key)
	if _, err := c.CreateCompletion(context.Background(), openai.CompletionRequest{Model: "byte-model", Prompt: "x", MaxTokens: 2}); err != nil {
		t.Fatal(err)
	}
	// A key that cannot travel in a header is refused at construction.
	for _, bad := range []string{"has space", "tab\tkey", "new\nline"} {
		if _, err := serve.New(servetest.Model{}, serve.Options{NewSampler: servetest.GreedyFactory, APIKey: bad}); err == nil {
			t.Errorf("APIKey %q accepted", bad)
		}
	}
}
