package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/distill/collect/journal"
	"github.com/distill-ml/distill/distill/collect/retry"
	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/distill/policy"
	"github.com/distill-ml/distill/internal/atomicfile"
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
