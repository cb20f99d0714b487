package retry

import (
	"context"
	"errors"
	"math/rand"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestClassification(t *testing.T) {
	for _, c := range []struct {
		status    int
		transient bool
	}{{429, true}, {500, true}, {503, true}, {408, true}, {400, false}, {401, false}, {404, false}, {422, false}} {
		if got := FromHTTP(c.status, "", nil).Transient; got != c.transient {
			t.Errorf("status %d: transient %v, want %v", c.status, got, c.transient)
		}
	}
	if !Classify(context.DeadlineExceeded).Transient {
		t.Error("deadline not transient")
	}
	if Classify(errors.New("schema violation")).Transient {
		t.Error("plain error transient")
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if d := ParseRetryAfter("3", now); d != 3*time.Second {
		t.Errorf("seconds: %v", d)
	}
	if d := ParseRetryAfter(now.Add(7*time.Second).Format(http.TimeFormat), now); d != 7*time.Second {
		t.Errorf("date: %v", d)
	}
	for _, bad := range []string{"", "-1", "soon", "NaN"} {
		if d := ParseRetryAfter(bad, now); d != 0 {
			t.Errorf("%q: %v", bad, d)
		}
	}
}

func TestBackoffBoundsAndRetryAfterFloor(t *testing.T) {
	p := Policy{MaxAttempts: 10, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	rng := rand.New(rand.NewSource(1))
	for attempt := 1; attempt <= 8; attempt++ {
		ceil := 100 * time.Millisecond << (attempt - 1)
		if ceil > time.Second {
			ceil = time.Second
		}
		for i := 0; i < 200; i++ {
			if d := p.Backoff(attempt, 0, rng); d < 0 || d > ceil {
				t.Fatalf("attempt %d: %v outside [0, %v]", attempt, d, ceil)
			}
		}
	}
	if d := p.Backoff(1, 700*time.Millisecond, rng); d < 700*time.Millisecond {
		t.Fatalf("Retry-After not honoured: %v", d)
	}
	if d := p.Backoff(1, time.Hour, rng); d != time.Second {
		t.Fatalf("Retry-After not capped: %v", d)
	}
}

func TestDoRetriesTransientOnlyAndGivesUp(t *testing.T) {
	p := Policy{MaxAttempts: 4, BaseDelay: time.Microsecond, MaxDelay: time.Millisecond}
	rng := rand.New(rand.NewSource(2))
	calls, retries := 0, 0
	err := p.Do(context.Background(), rng, func(context.Context) error {
		calls++
		if calls < 3 {
			return FromHTTP(503, "", errors.New("busy"))
		}
		return nil
	}, func(*Error, time.Duration) { retries++ })
	if err != nil || calls != 3 || retries != 2 {
		t.Fatalf("err %v calls %d retries %d", err, calls, retries)
	}
	calls = 0
	err = p.Do(context.Background(), rng, func(context.Context) error { calls++; return FromHTTP(400, "", errors.New("bad")) }, nil)
	var e *Error
	if !errors.As(err, &e) || e.Transient || calls != 1 || e.Reason != "http_400" {
		t.Fatalf("permanent: %v calls %d", err, calls)
	}
	calls = 0
	err = p.Do(context.Background(), rng, func(context.Context) error { calls++; return FromHTTP(429, "0", nil) }, nil)
	if calls != 4 || err == nil || !strings.Contains(err.Error(), "gave up after 4 attempts") {
		t.Fatalf("exhaustion: %v calls %d", err, calls)
	}
}

func TestDoStopsOnCancel(t *testing.T) {
	p := Policy{MaxAttempts: 100, BaseDelay: time.Hour, MaxDelay: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- p.Do(ctx, rand.New(rand.NewSource(3)), func(context.Context) error { return FromHTTP(500, "", nil) }, nil)
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}
