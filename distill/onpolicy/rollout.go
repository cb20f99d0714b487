package onpolicy

import (
	"fmt"
	"math/rand/v2"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/model/infer"
)

// LogitsModel is the student's forward without gradients: the logits after
// every position of B token rows of length T ([B*T*V]); *student.Model is one.
type LogitsModel interface {
	Logits(tokens []int32, B, T int) ([]float32, error)
}

// Rollout turns training batches into their off-policy part and a batch of
// completions the student sampled itself. Its buffers are reused from call
// to call.
type Rollout struct {
	cfg   Config
	vocab int
	eos   int32 // end of a completion (-1: none)

	off, on batch.Batch
	offMask []float32 // [B*T]
	tokens  []int32   // [B*T] the sampled rows: prompt, completion, 0s
	targets []int32   // [B*T]
	onMask  []float32 // [B*T]
}

// NewRollout prepares sampling for a student of vocab tokens; eos ends a
// completion (-1: only max_new_tokens and the row length do).
func NewRollout(cfg Config, vocab int, eos int32) *Rollout {
	return &Rollout{cfg: cfg, vocab: vocab, eos: eos}
}

// RolloutStats describe one Split.
type RolloutStats struct {
	Rows     int // prompts the student completed
	Tokens   int // tokens it sampled
	Forwards int // sampler forwards (prefills and batched decode steps)
}

// Split draws for every row of b that has a loss position whether the student
// completes it (probability λ, from rng). Chosen rows keep their prompt —
// the tokens of the first loss position's document (batch.RowStart) up to
// and including that position, which predicts the completion's first token —
// and smp continues them with the configured
// temperature and top-p (its generator seeded from rng, so a run resumed with
// the same rng state samples the same tokens), up to max_new_tokens, EOS or
// the end of the row. It returns b with the chosen rows' loss masked out (nil
// when no loss position is left) and the sampled batch (nil when no row was
// chosen): its loss positions are the sampled tokens, its targets the tokens
// the student chose. b is not modified; both results are reused by the next
// call.
func (r *Rollout) Split(smp Sampler, b *batch.Batch, rng *rand.Rand) (off, on *batch.Batch, st RolloutStats, err error) {
	B, T := b.B, b.T
	N := B * T
	r.offMask = grow(r.offMask, N)
	copy(r.offMask, b.LossMask)
	var prompts [][]int32
	var limits, rows []int
	offLeft := false
	for row := 0; row < B; row++ {
		first, _ := lossSpan(b.LossMask[row*T : (row+1)*T])
		if first < 0 {
			continue
		}
		// Draw for every row with a loss position, so the rng advances the
		// same way whatever the outcome.
		if rng.Float64() >= r.cfg.Lambda {
			offLeft = true
			continue
		}
		// The prompt starts where its document does (batch.RowStart): a
		// row packed after others is completed from its own prompt alone.
		start := 0
		if b.RowStart != nil {
			start = int(b.RowStart[row*T+first])
		}
		prompts = append(prompts, b.Tokens[row*T+start:row*T+first+1])
		// The last sampled token is only a target: it needs no input slot.
		limits = append(limits, min(r.cfg.MaxNewTokens, T-(first-start)))
		rows = append(rows, row)
		clear(r.offMask[row*T : (row+1)*T])
	}
	if len(rows) == 0 {
		return b, nil, st, nil
	}
	sampler := infer.NewSampler(infer.SamplerConfig{Temperature: r.cfg.Temperature, TopP: r.cfg.TopP, Seed: int64(rng.Uint64() >> 1)})
	comps, forwards, err := smp.Sample(prompts, limits, sampler, r.eos)
	if err != nil {
		return nil, nil, st, fmt.Errorf("rollout: %w", err)
	}
	st.Rows, st.Forwards = len(rows), forwards
	r.tokens, r.targets, r.onMask = growI(r.tokens, N), growI(r.targets, N), grow(r.onMask, N)
	clear(r.tokens)
	clear(r.targets)
	clear(r.onMask)
	for j, row := range rows {
		p, c := prompts[j], comps[j]
		if len(c) == 0 || len(p)+len(c)-1 > T {
			return nil, nil, st, fmt.Errorf("rollout: row %d: %d sampled tokens after a %d-token prompt in a row of %d", row, len(c), len(p), T)
		}
		base := row * T
		copy(r.tokens[base:], p)
		copy(r.tokens[base+len(p):], c[:len(c)-1])
		for i, id := range c {
			if id < 0 || int(id) >= r.vocab {
				return nil, nil, st, fmt.Errorf("rollout: row %d: sampled token %d outside the vocabulary %d", row, id, r.vocab)
			}
			pos := base + len(p) - 1 + i
			r.targets[pos], r.onMask[pos] = id, 1
		}
		st.Tokens += len(c)
	}
	// One sampled sequence per window, from its start: RowStart nil.
	r.on = batch.Batch{B: B, T: T, Tokens: r.tokens, Targets: r.targets, LossMask: r.onMask}
	if offLeft {
		r.off = batch.Batch{B: B, T: T, Tokens: b.Tokens, Targets: b.Targets, LossMask: r.offMask, RowStart: b.RowStart,
			K: b.K, TopKIDs: b.TopKIDs, TopKLogprobs: b.TopKLogprobs, TailMass: b.TailMass,
			TailTempered: b.TailTempered, TailTemperature: b.TailTemperature, TeacherValid: b.TeacherValid,
			HiddenLayers: b.HiddenLayers, HiddenDim: b.HiddenDim, Hidden: b.Hidden}
		off = &r.off
	}
	return off, &r.on, st, nil
}
