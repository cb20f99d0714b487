// Package ratelimit holds a client to a teacher's published limits:
// requests per minute and tokens per minute, as two token buckets that refill
// continuously. A request reserves one request and its estimated tokens
// before it is sent; Adjust corrects the token bucket once the true usage is
// known. Zero limits disable the corresponding bucket.
package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Limits per minute.
type Limits struct {
	RequestsPerMinute float64 `yaml:"requests_per_minute" json:"requests_per_minute"`
	TokensPerMinute   float64 `yaml:"tokens_per_minute" json:"tokens_per_minute"`
}

// Limiter enforces Limits. Safe for concurrent use.
type Limiter struct {
	mu      sync.Mutex
	lim     Limits
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
	reqs    float64 // available requests
	toks    float64 // available tokens (may go negative after Adjust)
	updated time.Time
}

// New returns a limiter starting with full buckets (one minute's worth).
func New(l Limits) *Limiter {
	return newWithClock(l, time.Now, sleepCtx)
}

func newWithClock(l Limits, now func() time.Time, sleep func(context.Context, time.Duration) error) *Limiter {
	return &Limiter{lim: l, now: now, sleep: sleep, reqs: l.RequestsPerMinute, toks: l.TokensPerMinute, updated: now()}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (l *Limiter) refill() {
	now := l.now()
	dt := now.Sub(l.updated).Minutes()
	l.updated = now
	if l.lim.RequestsPerMinute > 0 {
		l.reqs = min(l.lim.RequestsPerMinute, l.reqs+dt*l.lim.RequestsPerMinute)
	}
	if l.lim.TokensPerMinute > 0 {
		l.toks = min(l.lim.TokensPerMinute, l.toks+dt*l.lim.TokensPerMinute)
	}
}

// Wait blocks until one request and tokens estimated tokens are available,
// then takes them. A request estimated above the per-minute token limit is
// refused rather than waiting forever.
func (l *Limiter) Wait(ctx context.Context, tokens int) error {
	if l.lim.TokensPerMinute > 0 && float64(tokens) > l.lim.TokensPerMinute {
		return fmt.Errorf("ratelimit: a request of ~%d tokens exceeds tokens_per_minute %g", tokens, l.lim.TokensPerMinute)
	}
	for {
		l.mu.Lock()
		l.refill()
		var wait time.Duration
		if l.lim.RequestsPerMinute > 0 && l.reqs < 1 {
			wait = max(wait, time.Duration((1-l.reqs)/l.lim.RequestsPerMinute*float64(time.Minute)))
		}
		if l.lim.TokensPerMinute > 0 && l.toks < float64(tokens) {
			wait = max(wait, time.Duration((float64(tokens)-l.toks)/l.lim.TokensPerMinute*float64(time.Minute)))
		}
		if wait == 0 {
			if l.lim.RequestsPerMinute > 0 {
				l.reqs--
			}
			if l.lim.TokensPerMinute > 0 {
				l.toks -= float64(tokens)
			}
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		if err := l.sleep(ctx, wait+time.Millisecond); err != nil {
			return err
		}
	}
}

// Adjust corrects the token bucket by actual − estimated tokens once a
// response reports its usage.
func (l *Limiter) Adjust(estimated, actual int) {
	if l.lim.TokensPerMinute <= 0 {
		return
	}
	l.mu.Lock()
	l.refill()
	l.toks -= float64(actual - estimated)
	l.mu.Unlock()
}
