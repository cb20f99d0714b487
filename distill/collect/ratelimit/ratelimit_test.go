package ratelimit

import (
	"context"
	"testing"
	"time"
)

// fake time: sleeping advances the clock.
type fake struct{ t time.Time }

func (f *fake) now() time.Time { return f.t }
func (f *fake) sleep(_ context.Context, d time.Duration) error {
	f.t = f.t.Add(d)
	return nil
}

func TestRequestsPerMinuteSpacing(t *testing.T) {
	f := &fake{t: time.Unix(0, 0)}
	l := newWithClock(Limits{RequestsPerMinute: 60}, f.now, f.sleep)
	start := f.t
	for i := 0; i < 180; i++ {
		if err := l.Wait(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
	}
	// 60 from the full bucket, then 120 more at one per second.
	if el := f.t.Sub(start); el < 119*time.Second || el > 121*time.Second {
		t.Fatalf("180 requests at 60/min took %v, want ~120s", el)
	}
}

func TestTokensPerMinuteAndAdjust(t *testing.T) {
	f := &fake{t: time.Unix(0, 0)}
	l := newWithClock(Limits{TokensPerMinute: 1000}, f.now, f.sleep)
	start := f.t
	for i := 0; i < 10; i++ { // 10 × 200 = 2000 tokens: 1000 immediately, 1000 over 60 s
		l.Wait(context.Background(), 200)
	}
	if el := f.t.Sub(start); el < 59*time.Second || el > 61*time.Second {
		t.Fatalf("took %v, want ~60s", el)
	}
	// Under-estimated usage pushes the next request further out.
	l.Adjust(200, 700)
	before := f.t
	l.Wait(context.Background(), 100)
	if el := f.t.Sub(before); el < 35*time.Second {
		t.Fatalf("adjust ignored: waited %v", el)
	}
	if err := l.Wait(context.Background(), 5000); err == nil {
		t.Fatal("request larger than the per-minute budget accepted")
	}
}

func TestUnlimitedNeverWaits(t *testing.T) {
	f := &fake{t: time.Unix(0, 0)}
	l := newWithClock(Limits{}, f.now, f.sleep)
	for i := 0; i < 1000; i++ {
		l.Wait(context.Background(), 1e6)
	}
	if !f.t.Equal(time.Unix(0, 0)) {
		t.Fatal("unlimited limiter waited")
	}
}
