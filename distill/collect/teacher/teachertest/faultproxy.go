package teachertest

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Fault is what FaultProxy does to one request instead of forwarding it
// as is.
type Fault string

// The faults FaultProxy injects.
const (
	NoFault Fault = ""
	// Fault429 answers 429 with Retry-After: 1.
	Fault429 Fault = "429"
	// Fault500 answers 500.
	Fault500 Fault = "500"
	// FaultTimeout ends the request's own deadline in Deadlines and holds
	// the request until the client has gone: a timeout that does not
	// depend on the machine's speed. A request whose deadline Deadlines
	// does not hold (e.g. a child process's) is forwarded unharmed.
	FaultTimeout Fault = "timeout"
	// FaultTruncate forwards and cuts the answer's JSON in half.
	FaultTruncate Fault = "truncate"
	// FaultBadLogprobs forwards and makes one log-probability positive.
	FaultBadLogprobs Fault = "logprobs"
)

// FaultProxy sits between an OpenAI-compatible client and Backend and
// injects faults chosen by the request's last message (the prompt):
//   - a prompt containing "FAULT-400" always gets a permanent 400;
//   - a prompt containing "ALWAYS-BAD" always gets malformed logprobs;
//   - the first attempt of any other prompt gets FirstAttempt[h % n], h the
//     prompt's FNV-1a hash, n = len(FirstAttempt) (none when empty).
//
// Requests without "Authorization: Bearer Key" get 401. It records every
// attempt of every prompt and the faults it injected. Set the exported
// fields before the first request.
type FaultProxy struct {
	Backend      http.Handler
	Key          string
	Deadlines    *Deadlines // where FaultTimeout ends a request's deadline; nil: none does
	FirstAttempt []Fault

	mu        sync.Mutex
	holdWhile func() bool
	attempts  map[string][]time.Time
	faults    map[string]Fault
	received  []string
	badAuth   int
}

// ServeHTTP implements http.Handler.
func (p *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body) // first: the server notices a client gone only once the body is read
	p.mu.Lock()
	holdWhile := p.holdWhile
	p.mu.Unlock()
	if holdWhile != nil && holdWhile() {
		<-r.Context().Done()
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+p.Key {
		p.mu.Lock()
		p.badAuth++
		p.mu.Unlock()
		http.Error(w, `{"error":{"message":"bad key","type":"invalid_request_error"}}`, http.StatusUnauthorized)
		return
	}
	var req struct {
		Messages []struct{ Content string } `json:"messages"`
	}
	json.Unmarshal(body, &req)
	prompt := ""
	if len(req.Messages) > 0 {
		prompt = req.Messages[len(req.Messages)-1].Content
	}
	p.mu.Lock()
	if p.attempts == nil {
		p.attempts, p.faults = map[string][]time.Time{}, map[string]Fault{}
	}
	p.attempts[prompt] = append(p.attempts[prompt], time.Now())
	attempt := len(p.attempts[prompt])
	p.received = append(p.received, prompt)
	p.mu.Unlock()
	fault := NoFault
	switch {
	case strings.Contains(prompt, "FAULT-400"):
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"unsupported prompt","type":"invalid_request_error"}}`)
		return
	case strings.Contains(prompt, "ALWAYS-BAD"):
		fault = FaultBadLogprobs
	case attempt == 1 && len(p.FirstAttempt) > 0:
		h := fnv.New32a()
		h.Write([]byte(prompt))
		fault = p.FirstAttempt[h.Sum32()%uint32(len(p.FirstAttempt))]
		if fault != NoFault {
			// Recorded before a timeout ends the client's deadline: once
			// the client sees its request end, Faults already says why.
			p.mu.Lock()
			p.faults[prompt] = fault
			p.mu.Unlock()
		}
		if fault == FaultTimeout && (p.Deadlines == nil || !p.Deadlines.Expire(prompt)) {
			// No deadline of this request to end: forwarded unharmed, and
			// unrecorded before the client can see its answer.
			p.mu.Lock()
			delete(p.faults, prompt)
			p.mu.Unlock()
			fault = NoFault
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	switch fault {
	case Fault429:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"message":"rate limited","type":"rate_limit"}}`)
	case Fault500:
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":{"message":"internal","type":"server_error"}}`)
	case FaultTimeout:
		<-r.Context().Done() // the client gave up: its deadline ended
	case FaultTruncate, FaultBadLogprobs:
		rec := httptest.NewRecorder()
		p.Backend.ServeHTTP(rec, r)
		out := rec.Body.Bytes()
		if fault == FaultTruncate {
			out = out[:len(out)/2] // truncated JSON
		} else {
			out = bytes.Replace(out, []byte(`"logprob":-`), []byte(`"logprob":`), 1) // a positive logprob
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		w.Write(out)
	default:
		p.Backend.ServeHTTP(w, r)
	}
}

// HoldWhile makes the proxy hold every request that arrives while cond is
// true until its client goes away: a collector can be frozen at a point of
// the test's choosing (before a kill, say) whatever the machine's speed.
// nil holds nothing.
func (p *FaultProxy) HoldWhile(cond func() bool) {
	p.mu.Lock()
	p.holdWhile = cond
	p.mu.Unlock()
}

// Received is every prompt the proxy received with the right key, in
// order of arrival (retries included).
func (p *FaultProxy) Received() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.received...)
}

// Attempts maps each prompt received with the right key to the arrival
// times of its attempts.
func (p *FaultProxy) Attempts() map[string][]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string][]time.Time, len(p.attempts))
	for k, v := range p.attempts {
		out[k] = append([]time.Time(nil), v...)
	}
	return out
}

// Faults maps each prompt whose first attempt got a fault to that fault.
func (p *FaultProxy) Faults() map[string]Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.faults)
}

// BadAuth is the number of requests refused for a missing or wrong key.
func (p *FaultProxy) BadAuth() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.badAuth
}
