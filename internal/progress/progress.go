// Package progress shows progress of long work: a progressbar/v3 bar when
// the output is a terminal, and plain lines otherwise (CI logs, pipes),
// throttled so logs stay readable. It is the repository's one wrapper
// around progressbar/v3: collection and training both report through it.
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

// Config describes what is reported and how plain lines are paced.
type Config struct {
	Desc  string // "collect", "train": the bar's label and the plain line's prefix
	Total int64  // units of work in all; < 0 means unknown
	// Start is the work done before this run (a resumed run): the bar
	// starts there, and the rate and ETA count only what is done from it.
	Start int64
	// Every, when > 0, prints a plain line each time the work done reaches
	// a multiple of Every; otherwise lines come at most every Interval
	// (0 means 5 s). The line for the finished total is always printed.
	Every    int64
	Interval time.Duration
	Now      func() time.Time // the clock; nil means time.Now
	// Line formats a plain line (without the newline); nil means
	// "desc: done/total (rate/s, ETA eta) extra".
	Line func(Status) string
	// SummaryFollows says the caller prints its own summary when the work
	// is done: plain output then has no line for the finished total (it
	// would say the same thing twice); an unfinished run still gets its line.
	SummaryFollows bool
}

// Status is the state a plain line reports.
type Status struct {
	Done, Total int64
	Rate        float64       // units per second since the reporter started, counted from Config.Start
	ETA         time.Duration // rounded to the second; < 0 when unknown (no progress yet, or no total)
	Extra       string        // the text of the latest update
}

// Reporter tracks progress toward a total. Its methods may be called from
// several goroutines.
type Reporter struct {
	mu       sync.Mutex
	w        io.Writer
	cfg      Config
	done     int64
	start    time.Time
	last     time.Time
	printed  bool // the current state has had its plain line
	finished bool
	bar      *progressbar.ProgressBar
	extra    string
}

// New starts a reporter that draws a bar when w is a terminal. total < 0
// means unknown.
func New(w io.Writer, desc string, total int64) *Reporter {
	return NewWith(w, IsTerminal(w), Config{Desc: desc, Total: total})
}

// IsTerminal reports whether w is a terminal (a bar) rather than a pipe or
// file (plain lines).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// NewWith starts a reporter configured by c that draws a bar when terminal
// is true and writes plain lines otherwise.
func NewWith(w io.Writer, terminal bool, c Config) *Reporter {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	r := &Reporter{w: w, cfg: c, done: c.Start, start: c.Now(), printed: true}
	if terminal {
		r.bar = progressbar.NewOptions64(c.Total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(c.Desc),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetWidth(24),
			progressbar.OptionSetPredictTime(true), progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(100*time.Millisecond))
		if c.Start > 0 {
			r.bar.Set64(c.Start)
		}
	}
	return r
}

// Add advances by n and sets the extra status text (e.g. "loss 2.31, 4,812 tok/s").
func (r *Reporter) Add(n int64, extra string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.update(r.done+n, extra)
}

// Set sets the work done so far (e.g. the step just finished) and the extra
// status text.
func (r *Reporter) Set(done int64, extra string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.update(done, extra)
}

func (r *Reporter) update(done int64, extra string) {
	prev := r.done
	r.done, r.extra, r.printed = done, extra, false
	if r.bar != nil {
		if extra != "" {
			r.bar.Describe(r.cfg.Desc + " " + extra)
		}
		r.bar.Set64(done)
		return
	}
	now := r.cfg.Now()
	due := now.Sub(r.last) >= r.cfg.Interval
	if r.cfg.Every > 0 {
		due = done/r.cfg.Every != prev/r.cfg.Every
	}
	finished := r.cfg.Total >= 0 && done >= r.cfg.Total
	if finished && r.cfg.SummaryFollows {
		r.printed = true // the caller's summary reports it
		return
	}
	if due || finished {
		r.last = now
		r.line(now)
	}
}

// status is the current state as of now.
func (r *Reporter) status(now time.Time) Status {
	s := Status{Done: r.done, Total: r.cfg.Total, ETA: -1, Extra: r.extra}
	el := now.Sub(r.start).Seconds()
	work := r.done - r.cfg.Start
	if el > 0 {
		s.Rate = float64(work) / el
	}
	if r.cfg.Total >= 0 && work > 0 {
		s.ETA = (time.Duration(el/float64(work)*float64(r.cfg.Total-r.done)) * time.Second).Round(time.Second)
	}
	return s
}

func (r *Reporter) line(now time.Time) {
	r.printed = true
	s := r.status(now)
	if r.cfg.Line != nil {
		fmt.Fprintln(r.w, r.cfg.Line(s))
		return
	}
	eta := ""
	if s.Total > 0 && s.Rate > 0 && s.Done < s.Total && s.ETA >= 0 {
		eta = fmt.Sprintf(", ETA %s", s.ETA)
	}
	tot := "?"
	if s.Total >= 0 {
		tot = fmt.Sprint(s.Total)
	}
	fmt.Fprintf(r.w, "%s: %d/%s (%.1f/s%s) %s\n", r.cfg.Desc, s.Done, tot, s.Rate, eta, s.Extra)
}

// Writer is where whole lines go while the reporter runs (evaluation
// results, checkpoints): on a terminal the bar is cleared first and redrawn
// at the next update.
func (r *Reporter) Writer() io.Writer {
	if r.bar == nil {
		return r.w
	}
	return clearingWriter{r}
}

type clearingWriter struct{ r *Reporter }

func (c clearingWriter) Write(b []byte) (int, error) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	c.r.bar.Clear()
	return c.r.w.Write(b)
}

// Finish ends the report: the bar is left as it stands on its own line, or
// the last state gets its plain line if it has not had one. Later calls do
// nothing.
func (r *Reporter) Finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return
	}
	r.finished = true
	if r.bar != nil {
		r.bar.Exit()
		fmt.Fprintln(r.w)
		return
	}
	if !r.printed {
		r.line(r.cfg.Now())
	}
}
