package train

import (
	"fmt"
	"io"
	"time"

	"github.com/distill-ml/distill/internal/progress"
)

// runProgress shows the run through internal/progress: a bar with loss,
// tokens/s and ETA on a terminal, otherwise one plain line every logEvery
// steps (and at the last).
type runProgress struct {
	r      *progress.Reporter
	begin  time.Time
	now    func() time.Time
	tokens int64
	// the latest step's figures, for the plain line
	loss, lr, gradNorm, tps float64
}

func newProgress(w io.Writer, terminal bool, startStep, total, logEvery int, now func() time.Time) *runProgress {
	p := &runProgress{begin: now(), now: now}
	p.r = progress.NewWith(w, terminal, progress.Config{Desc: "train", Total: int64(total), Start: int64(startStep),
		Every: int64(logEvery), Now: now, Line: p.line})
	return p
}

// line is the plain line of a step; it runs inside update's r.Set.
func (p *runProgress) line(s progress.Status) string {
	eta := "?"
	if s.ETA >= 0 {
		eta = s.ETA.String()
	}
	return fmt.Sprintf("step %d/%d  loss %.4f  lr %.3g  |g| %.3g  %.0f tok/s  eta %s", s.Done, s.Total, p.loss, p.lr, p.gradNorm, p.tps, eta)
}

func (p *runProgress) update(step int, loss, lr, gradNorm float64, tokens int) {
	p.tokens += int64(tokens)
	p.tps = 0
	if elapsed := p.now().Sub(p.begin).Seconds(); elapsed > 0 {
		p.tps = float64(p.tokens) / elapsed
	}
	p.loss, p.lr, p.gradNorm = loss, lr, gradNorm
	p.r.Set(int64(step), fmt.Sprintf("loss %.4f  %.0f tok/s", loss, p.tps))
}

// lineWriter is where whole lines go (eval results, checkpoints): on a
// terminal the bar is cleared first and redrawn at the next update.
func (p *runProgress) lineWriter() io.Writer { return p.r.Writer() }

func (p *runProgress) finish() { p.r.Finish() }
