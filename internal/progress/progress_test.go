package progress

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeClock advances only when the test says so.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestPlainLinesWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1000, 0)}
	r := NewWith(&buf, false, Config{Desc: "collect", Total: 3, Now: clock.now})
	clock.t = clock.t.Add(6 * time.Second) // past the 5 s default interval
	r.Add(1, "retries 0")
	r.Add(1, "retries 1") // within the interval: no line
	r.Add(1, "retries 1") // the total: always a line
	r.Finish()
	out := buf.String()
	want := "collect: 1/3 (0.2/s, ETA 12s) retries 0\ncollect: 3/3 (0.5/s) retries 1\n"
	if out != want {
		t.Fatalf("output:\n%q\nwant\n%q", out, want)
	}
	if strings.Contains(out, "\r") {
		t.Fatal("carriage returns in non-terminal output")
	}
}

// TestEveryFromAResumedStart: a run resumed at step 20 of 60 with a line
// every 10 steps prints at 30, 40, 50 and 60, and its ETA counts only the
// steps of this run (1 s each on the fake clock).
func TestEveryFromAResumedStart(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1000, 0)}
	r := NewWith(&buf, false, Config{Desc: "train", Total: 60, Start: 20, Every: 10, Now: clock.now,
		Line: func(s Status) string { return fmt.Sprintf("step %d/%d %s eta %v", s.Done, s.Total, s.Extra, s.ETA) }})
	for step := int64(21); step <= 60; step++ {
		clock.t = clock.t.Add(time.Second)
		r.Set(step, fmt.Sprintf("loss %d", step))
	}
	r.Finish() // the last state already has its line
	want := "step 30/60 loss 30 eta 30s\nstep 40/60 loss 40 eta 20s\nstep 50/60 loss 50 eta 10s\nstep 60/60 loss 60 eta 0s\n"
	if buf.String() != want {
		t.Fatalf("output:\n%q\nwant\n%q", buf.String(), want)
	}
}

// TestFinishPrintsTheLastState: a run stopped between lines gets one line
// for where it stopped, once.
func TestFinishPrintsTheLastState(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1000, 0)}
	r := NewWith(&buf, false, Config{Desc: "train", Total: 60, Every: 10, Now: clock.now})
	r.Set(7, "loss 3")
	r.Finish()
	r.Finish()
	if want := "train: 7/60 (0.0/s) loss 3\n"; buf.String() != want {
		t.Fatalf("output %q, want %q", buf.String(), want)
	}
}

// TestSummaryFollowsSkipsTheFinishedLine: a caller that prints its own
// summary when done (collect) gets no plain line for the finished total, but
// still one for where an interrupted run stopped.
func TestSummaryFollowsSkipsTheFinishedLine(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1000, 0)}
	r := NewWith(&buf, false, Config{Desc: "collect", Total: 3, Every: 1, SummaryFollows: true, Now: clock.now})
	r.Add(1, "a")
	r.Add(1, "b")
	r.Add(1, "c")
	r.Finish()
	if want := "collect: 1/3 (0.0/s) a\ncollect: 2/3 (0.0/s) b\n"; buf.String() != want {
		t.Fatalf("output %q, want %q", buf.String(), want)
	}
	buf.Reset()
	r = NewWith(&buf, false, Config{Desc: "collect", Total: 30, Every: 10, SummaryFollows: true, Now: clock.now})
	r.Add(4, "stopped")
	r.Finish()
	if want := "collect: 4/30 (0.0/s) stopped\n"; buf.String() != want {
		t.Fatalf("interrupted: output %q, want %q", buf.String(), want)
	}
}
