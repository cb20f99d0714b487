// Package retry decides whether a failed teacher request is tried again and
// when: exponential backoff with full jitter, capped, honouring a server's
// Retry-After. Transient failures (HTTP 429, 5xx, timeouts, connection
// resets, truncated or unparseable responses from an overloaded server) are
// retried up to a budget; permanent ones (other 4xx, policy refusals,
// malformed requests) are not, and carry a reason for the errors file.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Policy configures retries.
type Policy struct {
	MaxAttempts int           `yaml:"max_attempts" json:"max_attempts"` // total tries, >= 1
	BaseDelay   time.Duration `yaml:"base_delay" json:"base_delay"`     // first backoff ceiling
	MaxDelay    time.Duration `yaml:"max_delay" json:"max_delay"`       // cap on any single wait, Retry-After included
}

// Default is 6 attempts, 500 ms base, 30 s cap.
func Default() Policy {
	return Policy{MaxAttempts: 6, BaseDelay: 500 * time.Millisecond, MaxDelay: 30 * time.Second}
}

// Validate checks the policy.
func (p Policy) Validate() error {
	if p.MaxAttempts < 1 || p.BaseDelay <= 0 || p.MaxDelay < p.BaseDelay {
		return fmt.Errorf("retry: max_attempts %d must be >= 1 and 0 < base_delay %v <= max_delay %v", p.MaxAttempts, p.BaseDelay, p.MaxDelay)
	}
	return nil
}

// Error classifies a failure.
type Error struct {
	Transient  bool
	Reason     string        // short, stable, for counting: "http_429", "http_500", "timeout", "bad_json", ...
	RetryAfter time.Duration // from the server, 0 if none
	Err        error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}
func (e *Error) Unwrap() error { return e.Err }

// Transient wraps err as retryable.
func Transient(reason string, err error) *Error {
	return &Error{Transient: true, Reason: reason, Err: err}
}

// Permanent wraps err as not retryable.
func Permanent(reason string, err error) *Error { return &Error{Reason: reason, Err: err} }

// FromHTTP classifies an HTTP status (with its Retry-After header value).
func FromHTTP(status int, retryAfter string, err error) *Error {
	e := &Error{Reason: fmt.Sprintf("http_%d", status), Err: err}
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
		e.Transient = true
	}
	e.RetryAfter = ParseRetryAfter(retryAfter, time.Now())
	return e
}

// ParseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || math.IsNaN(secs) || math.IsInf(secs, 0) {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Classify turns any error into an *Error: already classified errors pass
// through; timeouts and network errors are transient; the rest permanent.
func Classify(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Transient("timeout", err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Transient("timeout", err)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return Transient("network", err)
	}
	if strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "EOF") {
		return Transient("network", err)
	}
	return Permanent("error", err)
}

// Backoff is the wait before attempt number attempt+1 (attempt counts from 1):
// full jitter over min(MaxDelay, BaseDelay·2^(attempt-1)), but never less than
// the server's Retry-After (itself capped at MaxDelay).
func (p Policy) Backoff(attempt int, retryAfter time.Duration, rng *rand.Rand) time.Duration {
	ceil := float64(p.BaseDelay) * math.Pow(2, float64(attempt-1))
	if ceil > float64(p.MaxDelay) {
		ceil = float64(p.MaxDelay)
	}
	d := time.Duration(rng.Float64() * ceil)
	if retryAfter > p.MaxDelay {
		retryAfter = p.MaxDelay
	}
	if d < retryAfter {
		d = retryAfter
	}
	return d
}

// Do calls fn until it succeeds, fails permanently, the attempts run out, or
// ctx ends. onRetry (optional) is told about each retry before the wait. The
// returned error is the last *Error.
func (p Policy) Do(ctx context.Context, rng *rand.Rand, fn func(ctx context.Context) error, onRetry func(e *Error, wait time.Duration)) error {
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		e := Classify(err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !e.Transient || attempt >= p.MaxAttempts {
			if e.Transient {
				return &Error{Reason: e.Reason, Err: fmt.Errorf("gave up after %d attempts: %w", attempt, e.Err), RetryAfter: e.RetryAfter}
			}
			return e
		}
		wait := p.Backoff(attempt, e.RetryAfter, rng)
		if onRetry != nil {
			onRetry(e, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
