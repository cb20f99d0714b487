package train

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows the run: a progress bar with loss, tokens/s and ETA on a
// terminal, otherwise one plain line every logEvery updates.
type progress struct {
	w         io.Writer
	bar       *progressbar.ProgressBar
	logEvery  int
	total     int
	startStep int
	begin     time.Time
	now       func() time.Time
	tokens    int64
	done      bool
}

func newProgress(w io.Writer, terminal bool, startStep, total, logEvery int, now func() time.Time) *progress {
	p := &progress{w: w, logEvery: logEvery, total: total, startStep: startStep, begin: now(), now: now}
	if terminal {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetWidth(24),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetDescription("train"),
		)
		p.bar.Set(startStep)
	}
	return p
}

func (p *progress) update(step int, loss, lr, gradNorm float64, tokens int) {
	p.tokens += int64(tokens)
	elapsed := p.now().Sub(p.begin).Seconds()
	tps := 0.0
	if elapsed > 0 {
		tps = float64(p.tokens) / elapsed
	}
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("loss %.4f  %.0f tok/s", loss, tps))
		p.bar.Set(step)
		return
	}
	if step%p.logEvery != 0 && step != p.total {
		return
	}
	eta := "?"
	if done := step - p.startStep; done > 0 {
		eta = (time.Duration(elapsed/float64(done)*float64(p.total-step)) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "step %d/%d  loss %.4f  lr %.3g  |g| %.3g  %.0f tok/s  eta %s\n", step, p.total, loss, lr, gradNorm, tps, eta)
}

// lineWriter is where whole lines go (eval results, checkpoints): on a
// terminal the bar is cleared first and redrawn at the next update.
func (p *progress) lineWriter() io.Writer {
	if p.bar == nil {
		return p.w
	}
	return clearingWriter{p}
}

type clearingWriter struct{ p *progress }

func (c clearingWriter) Write(b []byte) (int, error) {
	c.p.bar.Clear()
	return c.p.w.Write(b)
}

func (p *progress) finish() {
	if p.done {
		return
	}
	p.done = true
	if p.bar != nil {
		p.bar.Exit()
		fmt.Fprintln(p.w)
	}
}
