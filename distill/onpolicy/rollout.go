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
	tokens  []int32   // [B*T] rows being sampled: prompt, completion so far, 0s
	targets []int32   // [B*T]
	onMask  []float32 // [B*T]
	chosen  []bool    // [B]
	cur     []int     // [B] tokens in the row so far
	limit   []int     // [B] most tokens the row may sample
	gen     []int     // [B] tokens sampled
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
	Forwards int // student forwards (one per sampling step, for all active rows)
}

// Split draws for every row of b that has a loss position whether the student
// completes it (probability λ, from rng). Chosen rows keep their prompt —
// the tokens up to and including the first loss position, which predicts the
// completion's first token — and the student samples the rest with the
// configured temperature and top-p (seeded from rng, so a run resumed with
// the same rng state samples the same tokens), up to max_new_tokens, EOS or
// the end of the row. Sampling is batched: one m.Logits forward over all B
// rows per step. It returns b with the chosen rows' loss masked out (nil when
// no loss position is left) and the sampled batch (nil when no row was
// chosen): its loss positions are the sampled tokens, its targets the tokens
// the student chose. b is not modified; both results are reused by the next
// call.
func (r *Rollout) Split(m LogitsModel, b *batch.Batch, rng *rand.Rand) (off, on *batch.Batch, st RolloutStats, err error) {
	B, T := b.B, b.T
	N := B * T
	r.offMask = grow(r.offMask, N)
	copy(r.offMask, b.LossMask)
	r.tokens = growI(r.tokens, N)
	r.targets = growI(r.targets, N)
	r.onMask = grow(r.onMask, N)
	clear(r.tokens)
	clear(r.targets)
	clear(r.onMask)
	r.chosen = resizeB(r.chosen, B)
	r.cur, r.limit, r.gen = resizeI(r.cur, B), resizeI(r.limit, B), resizeI(r.gen, B)
	offLeft := false
	for row := 0; row < B; row++ {
		first := -1
		for i := 0; i < T; i++ {
			if b.LossMask[row*T+i] != 0 {
				first = i
				break
			}
		}
		r.chosen[row] = false
		if first < 0 {
			continue
		}
		// Draw for every row with a loss position, chosen or not, so the
		// rng advances the same way whatever the outcome.
		if rng.Float64() >= r.cfg.Lambda {
			offLeft = true
			continue
		}
		r.chosen[row] = true
		st.Rows++
		copy(r.tokens[row*T:row*T+first+1], b.Tokens[row*T:row*T+first+1])
		clear(r.offMask[row*T : (row+1)*T])
		r.cur[row], r.gen[row] = first+1, 0
		// The last sampled token is only a target: it needs no input slot.
		r.limit[row] = min(r.cfg.MaxNewTokens, T-first)
	}
	if st.Rows == 0 {
		return b, nil, st, nil
	}
	smp := infer.NewSampler(infer.SamplerConfig{Temperature: r.cfg.Temperature, TopP: r.cfg.TopP, Seed: int64(rng.Uint64() >> 1)})
	V := r.vocab
	for {
		active := false
		for row := range B {
			active = active || (r.chosen[row] && r.gen[row] < r.limit[row])
		}
		if !active {
			break
		}
		logits, err := m.Logits(r.tokens, B, T) // [B*T*V]
		if err != nil {
			return nil, nil, st, fmt.Errorf("rollout: student forward: %w", err)
		}
		st.Forwards++
		for row := range B {
			if !r.chosen[row] || r.gen[row] >= r.limit[row] {
				continue
			}
			p := row*T + r.cur[row] - 1 // predicts the next token
			tok := smp.Sample(logits[p*V : (p+1)*V])
			if tok < 0 || int(tok) >= V {
				return nil, nil, st, fmt.Errorf("rollout: sampled token %d outside the vocabulary %d", tok, V)
			}
			r.targets[p], r.onMask[p] = tok, 1
			r.gen[row]++
			st.Tokens++
			if tok == r.eos {
				r.limit[row] = r.gen[row]
			}
			if r.gen[row] < r.limit[row] {
				r.tokens[row*T+r.cur[row]] = tok
				r.cur[row]++
			}
		}
	}
	r.on = batch.Batch{B: B, T: T, Tokens: r.tokens, Targets: r.targets, LossMask: r.onMask}
	if offLeft {
		r.off = batch.Batch{B: B, T: T, Tokens: b.Tokens, Targets: b.Targets, LossMask: r.offMask,
			K: b.K, TopKIDs: b.TopKIDs, TopKLogprobs: b.TopKLogprobs, TailMass: b.TailMass,
			TailTempered: b.TailTempered, TailTemperature: b.TailTemperature, TeacherValid: b.TeacherValid,
			HiddenLayers: b.HiddenLayers, HiddenDim: b.HiddenDim, Hidden: b.Hidden}
		off = &r.off
	}
	return off, &r.on, st, nil
}

func resizeB(b []bool, n int) []bool {
	if cap(b) < n {
		return make([]bool, n)
	}
	return b[:n]
}

func resizeI(b []int, n int) []int {
	if cap(b) < n {
		return make([]int, n)
	}
	return b[:n]
}
