package collect

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"time"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/distill/collect/journal"
	"github.com/distill-ml/distill/distill/collect/ratelimit"
	"github.com/distill-ml/distill/distill/collect/retry"
	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/internal/progress"
)

// reorderWindowPerWorker bounds how far workers run ahead of the writer:
// with concurrency C, at most C·reorderWindowPerWorker prompts are in flight
// or finished but waiting for an earlier prompt, so a slow prompt stalls
// the others after that many instead of buffering without bound.
const reorderWindowPerWorker = 4

// slotted is a result with the position of its prompt in the pending list.
type slotted struct {
	slot int
	result
}

// collectPending asks the teacher for every pending prompt with
// cfg.Concurrency workers and writes the results in prompt order, whatever
// order they finish in: workers fill a bounded window of prompt slots and
// the writer commits slot after slot. Rows go into segments of
// cfg.SegmentRows; a segment is committed only when full, or at the end of
// the pending list, so an interrupted run keeps whole segments only (the
// rows of the unfinished one are asked again on resume) and a resumed run
// starts its segments where an uninterrupted run would: the dataset's bytes
// do not depend on concurrency, completion order or interruptions.
func collectPending(ctx context.Context, cfg *Config, opt *Options, meta dataset.Meta, j *journal.Journal, pending []Prompt, sum *Summary) error {
	if len(pending) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	limiter := ratelimit.New(cfg.Limits)
	rp := cfg.RetryPolicy()
	var prog *progress.Reporter
	if opt.Progress != nil {
		// The CLI prints the summary of a finished run (collect.Summary).
		prog = progress.NewWith(opt.Progress, progress.IsTerminal(opt.Progress), progress.Config{Desc: "collect", Total: int64(len(pending)), SummaryFollows: true})
	}
	window := cfg.Concurrency * reorderWindowPerWorker
	// freeSlots holds one token per prompt that may start: the dispatcher
	// takes one per prompt, the writer returns it when it writes that prompt.
	freeSlots := make(chan struct{}, window)
	for range window {
		freeSlots <- struct{}{}
	}
	jobs := make(chan int) // slot: index into pending
	results := make(chan slotted)
	var statsMu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(opt.Seed + int64(w)*7919))
			for slot := range jobs {
				r := askOne(ctx, cfg, opt, meta, limiter, rp, rng, pending[slot], func(e *retry.Error) {
					statsMu.Lock()
					sum.Retries[e.Reason]++
					statsMu.Unlock()
				})
				select {
				case results <- slotted{slot, r}:
				case <-ctx.Done():
					return
				}
			}
		}(w)
	}
	go func() {
		defer close(jobs)
		for slot := range pending {
			select {
			case <-freeSlots:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- slot:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	var seg []*dataset.Record
	var segIDs []string
	var firstErr error
	flush := func() error {
		if len(seg) == 0 {
			return nil
		}
		err := commitSegment(cfg.Out, j, meta, seg, segIDs)
		seg, segIDs = nil, nil
		return err
	}
	tokens, failed := 0, 0
	started := time.Now()
	// write settles one result; false stops writing (interrupted or failed).
	write := func(r result) bool {
		if r.fail != nil {
			if ctx.Err() != nil && errors.Is(r.fail, ctx.Err()) {
				return false // interrupted, not failed: collected again on resume
			}
			if errors.Is(r.fail, teacher.ErrNotLoopback) {
				// A local teacher's request would have left the machine: the
				// environment is wrong (or hostile), not the prompt. Stop,
				// settling nothing, so a fixed setup collects it on resume.
				firstErr = fmt.Errorf("collect: prompt %s: %w", r.p.ID, r.fail)
				return false
			}
			failed++
			if err := j.Fail(r.p.ID, r.fail.Reason, r.fail.Error()); err != nil {
				firstErr = err
				return false
			}
		} else {
			sum.Redactions += r.redacted
			if r.ceReason != "" {
				sum.CEOnlyReasons[r.ceReason]++
			}
			seg = append(seg, r.rec)
			segIDs = append(segIDs, r.p.ID)
			tokens += len(r.rec.Tokens)
			if len(seg) >= cfg.SegmentRows {
				if err := flush(); err != nil {
					firstErr = err
					return false
				}
			}
		}
		if prog != nil {
			statsMu.Lock()
			retries := 0
			for _, n := range sum.Retries {
				retries += n
			}
			statsMu.Unlock()
			tps := float64(tokens) / max(time.Since(started).Seconds(), 1e-9)
			prog.Add(1, fmt.Sprintf("%.0f tokens/s (%d tokens), retries %d, errors %d", tps, tokens, retries, failed))
		}
		return true
	}
	// waiting holds finished results of slots after next (at most window).
	waiting := make(map[int]result, window)
	next, writing := 0, true
	for r := range results {
		if !writing {
			continue // drain
		}
		waiting[r.slot] = r.result
		for writing {
			r, ok := waiting[next]
			if !ok {
				break
			}
			delete(waiting, next)
			next++
			freeSlots <- struct{}{} // never blocks: this slot's token was taken
			if writing = write(r); !writing {
				cancel()
			}
		}
	}
	// The last, partial segment is committed only when every pending prompt
	// was written; otherwise its prompts are asked again on resume.
	if next == len(pending) && firstErr == nil {
		firstErr = flush()
	}
	if prog != nil {
		prog.Finish()
	}
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
