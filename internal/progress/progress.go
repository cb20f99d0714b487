// Package progress shows progress of long work: a progressbar/v3 bar when
// the output is a terminal, and plain timestamped lines at most every
// Interval otherwise (CI logs, pipes), so logs stay readable.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Reporter tracks progress toward a total.
type Reporter struct {
	mu       sync.Mutex
	w        io.Writer
	desc     string
	total    int64
	done     int64
	start    time.Time
	last     time.Time
	interval time.Duration
	bar      *progressbar.ProgressBar
	extra    string
}

// New starts a reporter. total < 0 means unknown.
func New(w io.Writer, desc string, total int64) *Reporter {
	r := &Reporter{w: w, desc: desc, total: total, start: time.Now(), interval: 5 * time.Second}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		r.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetWidth(24),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }))
	}
	return r
}

// Add advances by n and sets the extra status text (e.g. "loss 2.31, 4,812 tok/s").
func (r *Reporter) Add(n int64, extra string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done += n
	r.extra = extra
	if r.bar != nil {
		if extra != "" {
			r.bar.Describe(r.desc + " " + extra)
		}
		r.bar.Add64(n)
		return
	}
	now := time.Now()
	if now.Sub(r.last) >= r.interval || (r.total >= 0 && r.done >= r.total) {
		r.last = now
		r.line(now)
	}
}

func (r *Reporter) line(now time.Time) {
	el := now.Sub(r.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(r.done) / el
	}
	eta := ""
	if r.total > 0 && rate > 0 && r.done < r.total {
		eta = fmt.Sprintf(", ETA %s", (time.Duration(float64(r.total-r.done)/rate) * time.Second).Round(time.Second))
	}
	tot := "?"
	if r.total >= 0 {
		tot = fmt.Sprint(r.total)
	}
	fmt.Fprintf(r.w, "%s: %d/%s (%.1f/s%s) %s\n", r.desc, r.done, tot, rate, eta, r.extra)
}

// Finish prints the final state.
func (r *Reporter) Finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bar != nil {
		r.bar.Finish()
		return
	}
	r.line(time.Now())
}
