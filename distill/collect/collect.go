package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/distill/collect/journal"
	"github.com/distill-ml/distill/distill/collect/ratelimit"
	"github.com/distill-ml/distill/distill/collect/retry"
	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/distill/policy"
	"github.com/distill-ml/distill/internal/atomicfile"
	"github.com/distill-ml/distill/internal/progress"
)

// Tokenizer is what collection needs of the student tokenizer (data/tokenizer).
type Tokenizer interface {
	Encode(text string) []int32
	Hash() string
	VocabSize() int
	IDForBytes(b []byte) (int32, bool)
}

// Options are the inputs of one collection run.
type Options struct {
	Config    Config // defaulted and validated by Run
	Shard     Shard
	Teacher   teacher.Teacher
	Tokenizer Tokenizer
	EOS       int32 // student end-of-sequence id, -1 for none
	Policy    *policy.Policy
	// HiddenLayers/HiddenDim describe the hidden states the teacher returns (local teacher).
	HiddenLayers []int
	HiddenDim    int
	Progress     io.Writer // nil: quiet
	Seed         int64     // jitter seed
}

// Summary is what a run did; it is also written to OUT/summary.json.
type Summary struct {
	Shard            string         `json:"shard"`
	Prompts          int            `json:"prompts"`         // in this shard
	AlreadySettled   int            `json:"already_settled"` // from earlier runs
	Rows             int64          `json:"rows"`            // stored in the final dataset
	Tokens           int64          `json:"tokens"`
	TeacherRows      int64          `json:"teacher_rows"` // with top-k
	CEOnlyRows       int64          `json:"ce_only_rows"` // text only
	CEOnlyReasons    map[string]int `json:"ce_only_reasons,omitempty"`
	Failed           int            `json:"failed"`
	FailuresByReason map[string]int `json:"failures_by_reason"`
	Retries          map[string]int `json:"retries_by_reason"`
	Redactions       int            `json:"redactions"`
	DatasetBytes     int64          `json:"dataset_bytes"`
	BytesPerToken    float64        `json:"bytes_per_token"`
	Seconds          float64        `json:"seconds"`
	Complete         bool           `json:"complete"` // every prompt of the shard settled
	Notes            []string       `json:"notes,omitempty"`
}

// Layout of OUT.
const (
	JournalFile = "journal.jsonl"
	ErrorsFile  = "errors.jsonl"
	SummaryFile = "summary.json"
	SegmentsDir = "segments"
	DatasetDir  = "dataset"
)

type result struct {
	p        Prompt
	rec      *dataset.Record
	ceReason string
	fail     *retry.Error
	redacted int
}

// Run collects every unsettled prompt of the shard and (re)builds OUT/dataset
// from all committed segments. Killed at any moment and run again, it stores
// every prompt exactly once.
func Run(ctx context.Context, opt Options) (*Summary, error) {
	start := time.Now()
	cfg := opt.Config
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opt.Teacher == nil || opt.Tokenizer == nil || opt.Policy == nil {
		return nil, errors.New("collect: teacher, tokenizer and policy are required")
	}
	if err := opt.Policy.CheckTerms(opt.Teacher.Name(), cfg.AcknowledgeTerms); err != nil {
		return nil, err
	}
	// Fail closed: a teacher that sends prompts over the network is remote
	// whatever the policy file says, or local-only classes would reach it.
	if pt := opt.Policy.Teachers[opt.Teacher.Name()]; opt.Teacher.Remote() && !pt.Remote {
		return nil, fmt.Errorf("collect: teacher %q sends prompts over the network, but the policy declares it local (remote: false); declare it remote: true (a teacher is local only when every address of its base_url host is loopback and teacher.openai.remote is not true)", opt.Teacher.Name())
	}
	prompts, err := ReadPrompts(cfg.Prompts, cfg.Source)
	if err != nil {
		return nil, err
	}
	// A prompt's stored row id is dataset.RowID(source, redacted prompt).
	// Shards split on it, so prompts that store the same row (identical after
	// redaction) land in the same shard, where all but the first are settled
	// as "duplicate_row" instead of being dropped silently by the merge.
	var mine []Prompt
	rowIDs := map[string]string{} // prompt id → stored row id
	classes := map[string]bool{}
	for _, p := range prompts {
		if p.Class == "" {
			p.Class = cfg.DefaultClass
		}
		if p.Split == "" {
			p.Split = "train"
		}
		redacted, _ := opt.Policy.Redact(p.Prompt)
		rid := dataset.RowID(p.Source, redacted)
		if opt.Shard.Owns(rid) {
			mine = append(mine, p)
			rowIDs[p.ID] = rid
			classes[p.Class] = true
		}
	}
	sum := &Summary{Shard: opt.Shard.String(), Prompts: len(mine), FailuresByReason: map[string]int{}, Retries: map[string]int{}, CEOnlyReasons: map[string]int{}}

	meta, notes := datasetMeta(&cfg, &opt, classes)
	sum.Notes = append(sum.Notes, notes...)

	if err := os.MkdirAll(filepath.Join(cfg.Out, SegmentsDir), 0o755); err != nil {
		return nil, fmt.Errorf("collect: %w", err)
	}
	j, err := journal.Open(filepath.Join(cfg.Out, JournalFile))
	if err != nil {
		return nil, err
	}
	defer j.Close()
	if err := removeOrphans(cfg.Out, j); err != nil {
		return nil, err
	}
	// Leftovers of a dataset build killed half-way (rebuilt below).
	if leftovers, err := filepath.Glob(filepath.Join(cfg.Out, "."+DatasetDir+".tmp-*")); err == nil {
		for _, l := range append(leftovers, filepath.Join(cfg.Out, DatasetDir+".old")) {
			if err := os.RemoveAll(l); err != nil {
				return nil, fmt.Errorf("collect: remove %s: %w", l, err)
			}
		}
	}
	if err := checkSegmentsMeta(cfg.Out, j, &meta); err != nil {
		return nil, err
	}

	var pending []Prompt
	rowOwner := map[string]string{} // stored row id → the first prompt id (file order) that stores it
	for _, p := range mine {
		rid := rowIDs[p.ID]
		first, dup := rowOwner[rid]
		if !dup {
			rowOwner[rid] = p.ID
		}
		if j.Settled(p.ID) {
			sum.AlreadySettled++
			continue
		}
		if dup {
			if err := j.Fail(p.ID, "duplicate_row", fmt.Sprintf("prompt %s stores the same row %s (same source and prompt after redaction)", first, rid)); err != nil {
				return nil, err
			}
			continue
		}
		// Refused by policy: settled as failed before any I/O.
		if err := opt.Policy.CheckSend(p.Class, opt.Teacher.Name()); err != nil {
			if err := j.Fail(p.ID, "policy_refused", err.Error()); err != nil {
				return nil, err
			}
			continue
		}
		if err := opt.Policy.CheckStore(p.Class, policy.SignalText); err != nil {
			if err := j.Fail(p.ID, "policy_no_text", err.Error()); err != nil {
				return nil, err
			}
			continue
		}
		pending = append(pending, p)
	}

	runErr := collectPending(ctx, &cfg, &opt, meta, j, pending, sum)

	// Rebuild the final dataset and reports from everything committed so far.
	settled := 0
	for _, p := range mine {
		if j.Settled(p.ID) {
			settled++
		}
	}
	sum.Complete = settled == len(mine)
	if err := buildDataset(cfg.Out, j, meta, sum); err != nil && runErr == nil {
		runErr = err
	}
	for _, f := range j.Failures() {
		sum.Failed++
		sum.FailuresByReason[f.Reason]++
	}
	if err := writeErrors(cfg.Out, j); err != nil && runErr == nil {
		runErr = err
	}
	sum.Seconds = time.Since(start).Seconds()
	b, _ := json.MarshalIndent(sum, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(cfg.Out, SummaryFile), append(b, '\n'), 0o644); err != nil && runErr == nil {
		runErr = err
	}
	return sum, runErr
}

// datasetMeta decides what the dataset stores: top-k only when the teacher's
// tokens map exactly to student ids and some class may store logprobs; hidden
// states only when every class that stores logprobs may also store them.
func datasetMeta(cfg *Config, opt *Options, classes map[string]bool) (dataset.Meta, []string) {
	var notes []string
	// Meta.Temperature is the temperature of the stored distribution: the local
	// teacher's softmax at the sampling temperature (1 when sampling greedily),
	// an OpenAI-compatible server's logprobs at 1 (distill serve reports the
	// model's distribution; OpenAI's logprobs do not depend on the request's
	// temperature). The sampling temperature is kept in the settings.
	distT := 1.0
	if cfg.Teacher.Kind == "local" && cfg.Sampling.Temperature > 0 {
		distT = cfg.Sampling.Temperature
	}
	meta := dataset.Meta{
		TokenizerHash: opt.Tokenizer.Hash(), VocabSize: opt.Tokenizer.VocabSize(), Teacher: opt.Teacher.Name(),
		Temperature: distT, PolicyHash: opt.Policy.Hash(),
		TeacherSettings: map[string]string{"kind": cfg.Teacher.Kind, "top_p": fmt.Sprint(cfg.Sampling.TopP), "max_tokens": fmt.Sprint(cfg.Sampling.MaxTokens),
			"sampling_temperature": fmt.Sprint(cfg.Sampling.Temperature), "policy": string(opt.Policy.Canonical())},
	}
	if cfg.Teacher.OpenAI != nil {
		meta.TeacherSettings["base_url"] = cfg.Teacher.OpenAI.BaseURL
		meta.TeacherSettings["model"] = cfg.Teacher.OpenAI.Model
		meta.TeacherSettings["mode"] = cfg.Teacher.OpenAI.Mode
	}
	if cfg.Teacher.Local != nil {
		meta.TeacherSettings["model"] = cfg.Teacher.Local.Model
		meta.TeacherSettings["completion"] = cfg.Teacher.Local.Completion
	}
	exact := cfg.Teacher.Kind == "local" || (cfg.Teacher.TokenizerHash != "" && cfg.Teacher.TokenizerHash == meta.TokenizerHash)
	anyLogprobs, allHidden := false, true
	for c := range classes {
		if opt.Policy.CheckStore(c, policy.SignalLogprobs) == nil {
			anyLogprobs = true
			if opt.Policy.CheckStore(c, policy.SignalHidden) != nil {
				allHidden = false
			}
		}
	}
	switch {
	case cfg.TopK == 0:
		notes = append(notes, "top_k is 0: text only")
	case !exact:
		notes = append(notes, "the teacher's tokenizer is not the student's (teacher.tokenizer_hash differs or is unset): rows are text only (CE-only)")
	case !anyLogprobs:
		notes = append(notes, "the policy allows storing logprobs for none of the prompts' classes: text only")
	default:
		meta.TopK = cfg.TopK
		meta.TailTemperature = cfg.KDTemperature
	}
	if meta.TopK > 0 && len(opt.HiddenLayers) > 0 {
		if allHidden {
			meta.HiddenLayers = append([]int(nil), opt.HiddenLayers...)
			meta.HiddenDim = opt.HiddenDim
		} else {
			notes = append(notes, "hidden states dropped: the policy forbids storing them for some class that stores logprobs")
		}
	}
	return meta, notes
}

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
		prog = progress.New(opt.Progress, "collect", int64(len(pending)))
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

// askOne sends one prompt to the teacher with rate limiting and retries, and
// builds its dataset record.
func askOne(ctx context.Context, cfg *Config, opt *Options, meta dataset.Meta, lim *ratelimit.Limiter, rp retry.Policy, rng *rand.Rand, p Prompt, onRetry func(*retry.Error)) result {
	prompt, n1 := opt.Policy.Redact(p.Prompt)
	ref, n2 := opt.Policy.Redact(p.Completion)
	req := teacher.Request{ID: p.ID, Prompt: prompt, Reference: ref, System: cfg.Sampling.System, MaxTokens: cfg.Sampling.MaxTokens,
		Temperature: cfg.Sampling.Temperature, TopP: cfg.Sampling.TopP, Seed: cfg.Sampling.Seed, Stop: cfg.Sampling.Stop}
	if meta.TopK > 0 {
		req.TopLogprobs, req.KDTemperature = meta.TopK, meta.TailTemperature
	}
	estimate := len(prompt)/4 + cfg.Sampling.MaxTokens
	var resp *teacher.Response
	err := rp.Do(ctx, rng, func(ctx context.Context) error {
		if err := lim.Wait(ctx, estimate); err != nil {
			return retry.Permanent("exceeds_tokens_per_minute", err)
		}
		r, err := opt.Teacher.Complete(ctx, req)
		if err != nil {
			return err
		}
		lim.Adjust(estimate, r.PromptTokens+r.CompletionTokens)
		resp = r
		return nil
	}, func(e *retry.Error, _ time.Duration) { onRetry(e) })
	if err != nil {
		return result{p: p, fail: retry.Classify(err)}
	}
	rec, ceReason, err := buildRecord(opt, meta, p, prompt, resp)
	if err != nil {
		return result{p: p, fail: retry.Permanent("bad_row", err)}
	}
	return result{p: p, rec: rec, ceReason: ceReason, redacted: n1 + n2}
}

// buildRecord maps a teacher response to a dataset row. Rows whose teacher
// signals cannot be stored exactly become text-only, with the reason.
func buildRecord(opt *Options, meta dataset.Meta, p Prompt, prompt string, resp *teacher.Response) (*dataset.Record, string, error) {
	rec := &dataset.Record{Split: p.Split, Source: p.Source, Teacher: opt.Teacher.Name(), Prompt: prompt, Completion: resp.Text}
	prov := map[string]any{"class": p.Class, "finish_reason": resp.FinishReason, "prompt_id": p.ID}
	promptIDs := resp.PromptIDs
	if !resp.IDs {
		promptIDs = opt.Tokenizer.Encode(prompt)
	}
	if len(promptIDs) == 0 {
		return nil, "", errors.New("prompt encodes to no tokens")
	}
	storeLogprobs := meta.TopK > 0 && opt.Policy.CheckStore(p.Class, policy.SignalLogprobs) == nil
	k := meta.TopK
	var compIDs, topIDs []int32
	var topLPs, tails, tailsT []float32
	ceReason := ""
	if storeLogprobs {
		n := len(resp.Positions)
		compIDs = make([]int32, 0, n)
		topIDs = make([]int32, 0, n*k)
		topLPs = make([]float32, 0, n*k)
		tails = make([]float32, 0, n)
		mapID := func(a teacher.Alt) (int32, bool) {
			if resp.IDs {
				return a.ID, a.ID >= 0 && int(a.ID) < meta.VocabSize
			}
			return opt.Tokenizer.IDForBytes(a.RawBytes())
		}
		for i, pos := range resp.Positions {
			id, ok := mapID(pos.Alt)
			if !ok {
				ceReason = "unmappable_token"
				break
			}
			if len(pos.Top) < k {
				ceReason = "short_top_logprobs"
				break
			}
			mass := 0.0
			for _, a := range pos.Top[:k] {
				aid, ok := mapID(a)
				if !ok {
					ceReason = "unmappable_token"
					break
				}
				topIDs = append(topIDs, aid)
				topLPs = append(topLPs, float32(a.Logprob))
				mass += math.Exp(a.Logprob)
			}
			if ceReason != "" {
				break
			}
			tail := 1 - mass
			if resp.TailMass != nil {
				tail = resp.TailMass[i]
			}
			tails = append(tails, float32(math.Min(1, math.Max(0, tail))))
			if meta.TailTemperature > 0 {
				if len(resp.TailTempered) != len(resp.Positions) {
					return nil, "", fmt.Errorf("the dataset stores tails tempered at %g, the teacher returned %d for %d positions", meta.TailTemperature, len(resp.TailTempered), len(resp.Positions))
				}
				tailsT = append(tailsT, float32(math.Min(1, math.Max(0, resp.TailTempered[i]))))
			}
			compIDs = append(compIDs, id)
		}
		if ceReason == "" && len(compIDs) == 0 {
			ceReason = "empty_completion"
		}
	} else if meta.TopK > 0 {
		ceReason = "policy_no_logprobs"
	}
	if !storeLogprobs || ceReason != "" {
		// Text-only row: the completion as the student tokenizes it.
		if resp.IDs && ceReason == "" {
			compIDs = compIDs[:0]
			for _, pos := range resp.Positions {
				compIDs = append(compIDs, pos.ID)
			}
		} else {
			compIDs = opt.Tokenizer.Encode(resp.Text)
			if opt.EOS >= 0 && resp.FinishReason == "stop" {
				compIDs = append(compIDs, opt.EOS)
			}
		}
		topIDs, topLPs, tails, tailsT = nil, nil, nil, nil
	}
	if len(compIDs) == 0 {
		return nil, "", errors.New("the teacher's completion is empty")
	}
	rec.Tokens = append(append([]int32{}, promptIDs...), compIDs...)
	rec.PromptLen = len(promptIDs)
	if topIDs != nil {
		rec.TopKIDs, rec.TopKLogprobs, rec.TailMass, rec.TailTempered = topIDs, topLPs, tails, tailsT
		if len(meta.HiddenLayers) > 0 {
			if len(resp.Hidden) != len(meta.HiddenLayers) || resp.HiddenDim != meta.HiddenDim {
				return nil, "", fmt.Errorf("teacher returned %d hidden layers of width %d, dataset declares %d of %d", len(resp.Hidden), resp.HiddenDim, len(meta.HiddenLayers), meta.HiddenDim)
			}
			rec.Hidden = resp.Hidden
		}
	}
	if ceReason != "" {
		prov["ce_only"] = ceReason
	}
	pb, _ := json.Marshal(prov)
	rec.Provenance = string(pb)
	return rec, ceReason, nil
}

// commitSegment writes recs as a complete mini-dataset under a temporary
// name, renames it into place, then journals it.
func commitSegment(out string, j *journal.Journal, meta dataset.Meta, recs []*dataset.Record, ids []string) error {
	segs := filepath.Join(out, SegmentsDir)
	name := fmt.Sprintf("seg-%06d", len(j.Shards()))
	for {
		if _, err := os.Stat(filepath.Join(segs, name)); errors.Is(err, os.ErrNotExist) {
			break
		}
		name += "b" // an orphan that survived removal (should not happen): never overwrite
	}
	tmp, err := atomicfile.MkdirTemp(segs, name)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	w, err := dataset.Create(tmp, meta, dataset.WriterOptions{})
	if err != nil {
		return err
	}
	for i, r := range recs {
		if err := w.Write(r); err != nil {
			return fmt.Errorf("segment %s prompt %s: %w", name, ids[i], err)
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(segs, name)); err != nil {
		return err
	}
	if err := syncDir(segs); err != nil {
		return err
	}
	h, err := fileSHA(filepath.Join(segs, name, dataset.ManifestName))
	if err != nil {
		return err
	}
	teacherRows := 0
	for _, r := range recs {
		if r.TopKIDs != nil {
			teacherRows++
		}
	}
	return j.CommitShard(name, h, ids, teacherRows)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeOrphans deletes segment directories no journal record names (written
// but never acknowledged) and leftover temporaries, so their prompts are
// collected again.
func removeOrphans(out string, j *journal.Journal) error {
	segs := filepath.Join(out, SegmentsDir)
	entries, err := os.ReadDir(segs)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			if err := os.RemoveAll(filepath.Join(segs, e.Name())); err != nil {
				return err
			}
			continue
		}
		names = append(names, e.Name())
	}
	for _, o := range j.Orphans(names) {
		if err := os.RemoveAll(filepath.Join(segs, o)); err != nil {
			return err
		}
	}
	for _, s := range j.Shards() {
		if _, err := os.Stat(filepath.Join(segs, s.File, dataset.ManifestName)); err != nil {
			return fmt.Errorf("collect: journal names segment %s but it is missing or incomplete (%v); restore it or start a new output directory", s.File, err)
		}
	}
	return nil
}

// checkSegmentsMeta refuses to resume into an output whose committed
// segments were collected with different settings.
func checkSegmentsMeta(out string, j *journal.Journal, meta *dataset.Meta) error {
	shards := j.Shards()
	if len(shards) == 0 {
		return nil
	}
	m, err := dataset.ReadManifest(filepath.Join(out, SegmentsDir, shards[0].File))
	if err != nil {
		return err
	}
	want := *meta
	want.SchemaVersion, want.LogprobScale = m.Meta.SchemaVersion, m.Meta.LogprobScale
	if want.WriterVersion == "" {
		want.WriterVersion = m.Meta.WriterVersion
	}
	a, _ := json.Marshal(m.Meta)
	b, _ := json.Marshal(want)
	if string(a) != string(b) {
		return fmt.Errorf("collect: %s holds segments collected with other settings (%s); this run would write %s: use a new output directory", out, a, b)
	}
	return nil
}

// buildDataset assembles OUT/dataset from every committed segment, in commit
// order, replacing the previous build: the segments' Parquet files are
// hard-linked (copied where links are not possible) under names prefixed
// with their segment, and one manifest lists them all. Nothing is
// re-encoded, and the data is on disk once. A prompt is in at most one
// segment (the journal settles it once), so rows are unique.
func buildDataset(out string, j *journal.Journal, meta dataset.Meta, sum *Summary) error {
	final := filepath.Join(out, DatasetDir)
	tmp, err := atomicfile.MkdirTemp(out, DatasetDir)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	shards := j.Shards()
	if len(shards) == 0 {
		w, err := dataset.Create(tmp, meta, dataset.WriterOptions{})
		if err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	} else {
		var m dataset.Manifest
		var first []byte
		for i, s := range shards {
			dir := filepath.Join(out, SegmentsDir, s.File)
			sm, err := dataset.ReadManifest(dir)
			if err != nil {
				return fmt.Errorf("segment %s: %w", s.File, err)
			}
			mb, _ := json.Marshal(sm.Meta)
			if i == 0 {
				m.Meta, first = sm.Meta, mb
			} else if string(mb) != string(first) {
				return fmt.Errorf("segment %s was written with other settings (%s) than segment %s (%s)", s.File, mb, shards[0].File, first)
			}
			if sm.Rows != int64(len(s.IDs)) {
				return fmt.Errorf("segment %s holds %d rows, the journal names %d prompts", s.File, sm.Rows, len(s.IDs))
			}
			for _, sh := range sm.Shards {
				name := s.File + "-" + sh.File
				if err := linkOrCopy(filepath.Join(dir, sh.File), filepath.Join(tmp, name)); err != nil {
					return fmt.Errorf("segment %s: %w", s.File, err)
				}
				sh.File = name
				m.Shards = append(m.Shards, sh)
				sum.DatasetBytes += sh.Bytes
			}
			m.Rows += sm.Rows
			m.Tokens += sm.Tokens
			sum.TeacherRows += int64(s.TeacherRows)
		}
		if err := dataset.WriteManifest(tmp, &m); err != nil {
			return err
		}
		sum.Rows, sum.Tokens = m.Rows, m.Tokens
		sum.CEOnlyRows = sum.Rows - sum.TeacherRows
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	old := ""
	if _, err := os.Stat(final); err == nil {
		old = final + ".old"
		os.RemoveAll(old)
		if err := os.Rename(final, old); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if err := syncDir(out); err != nil {
		return err
	}
	if old != "" {
		os.RemoveAll(old)
	}
	if sum.Tokens > 0 {
		sum.BytesPerToken = float64(sum.DatasetBytes) / float64(sum.Tokens)
	}
	return nil
}

// linkOrCopy hard-links src to dst, or copies it (fsynced) where the file
// system cannot link.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Write(dst, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

func writeErrors(out string, j *journal.Journal) error {
	fails := j.Failures()
	sort.SliceStable(fails, func(a, b int) bool { return fails[a].ID < fails[b].ID })
	var sb strings.Builder
	for _, f := range fails {
		b, _ := json.Marshal(map[string]string{"id": f.ID, "reason": f.Reason, "detail": f.Detail})
		sb.Write(b)
		sb.WriteByte('\n')
	}
	return atomicfile.WriteFile(filepath.Join(out, ErrorsFile), []byte(sb.String()), 0o644)
}
