package onpolicy

import (
	"context"
	"fmt"
	"math"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/distill/collect/teacher"
)

// IDMapper maps a token's bytes to the student's id; *tokenizer.Tokenizer is one.
type IDMapper interface {
	IDForBytes(b []byte) (int32, bool)
}

// Remote is an OpenAI-compatible teacher asked for every training batch
// through /v1/completions with echo and logprobs (teacher.OpenAI.Echo): each
// row, up to its last loss position and that position's target, is sent as
// token ids and the endpoint's top-k over the prompt are the teacher's
// distribution at the row's positions (top-k + tail; an endpoint gives no
// tempered tail, so the loss must be at T = 1, which Prepare checks). Which
// rows may be sent is the dataset policy's decision, checked before
// training (train.CheckSend); the student's samples are sent only for rows
// whose prompts may be.
type Remote struct {
	t     *teacher.OpenAI
	ids   IDMapper
	vocab int
	topK  int

	out batch.Batch
	seq []int32
}

// NewRemote scores with t, mapping its token strings to student ids by ids,
// for a student of vocab tokens, with topK alternatives per position.
func NewRemote(t *teacher.OpenAI, ids IDMapper, vocab, topK int) *Remote {
	return &Remote{t: t, ids: ids, vocab: vocab, topK: topK}
}

// Score implements train.Teacher: one echo request per row with a loss
// position. The sent ids must come back as the same tokens (a teacher that
// re-tokenizes differently is refused, naming the position).
func (r *Remote) Score(b *batch.Batch) (*batch.Batch, []float32, Stats, error) {
	var st Stats
	N, k := b.B*b.T, r.topK
	o := &r.out
	*o = batch.Batch{B: b.B, T: b.T, Tokens: b.Tokens, Targets: b.Targets, LossMask: b.LossMask, RowStart: b.RowStart, K: k,
		TeacherValid: grow(o.TeacherValid, N), TopKIDs: growI(o.TopKIDs, N*k), TopKLogprobs: grow(o.TopKLogprobs, N*k), TailMass: grow(o.TailMass, N)}
	clear(o.TeacherValid)
	clear(o.TopKIDs)
	clear(o.TopKLogprobs)
	clear(o.TailMass)
	for row := 0; row < b.B; row++ {
		base := row * b.T
		for s, last := range lossDocuments(b, row) {
			if err := r.scoreDocument(b, o, base+s, base+last, &st); err != nil {
				return nil, nil, st, fmt.Errorf("batch row %d document at %d: %w", row, s, err)
			}
		}
	}
	return o, nil, st, nil
}

// scoreDocument sends batch positions [first, last] (one document up to its
// last loss position) in one echo request and stores the teacher's
// alternatives at every loss position there.
func (r *Remote) scoreDocument(b, o *batch.Batch, first, last int, st *Stats) error {
	k := r.topK
	// Position p's distribution is the one over token p+1, so the
	// sequence runs to the last loss position's target.
	r.seq = append(append(r.seq[:0], b.Tokens[first:last+1]...), b.Targets[last])
	pos, err := r.t.Echo(context.Background(), r.seq, k)
	if err != nil {
		return err
	}
	for i, want := range r.seq {
		if id, ok := r.ids.IDForBytes(pos[i].RawBytes()); !ok || id != want {
			return fmt.Errorf("the teacher's token %d is %q, the student's id %d: the endpoint does not read the student's token ids as sent (another tokenizer?)", i, pos[i].Token, want)
		}
	}
	for i := 0; i <= last-first; i++ {
		p := first + i
		if b.LossMask[p] == 0 {
			continue
		}
		at := pos[i+1]
		mass, n := 0.0, 0
		for _, a := range at.Top {
			if n == k {
				break
			}
			id, ok := r.ids.IDForBytes(a.RawBytes())
			if !ok || int(id) >= r.vocab {
				continue // not a student token: its mass stays in the tail
			}
			o.TopKIDs[p*k+n], o.TopKLogprobs[p*k+n] = id, float32(a.Logprob)
			mass += math.Exp(a.Logprob)
			n++
		}
		for ; n < k; n++ { // fewer student tokens than k: empty buckets
			o.TopKIDs[p*k+n], o.TopKLogprobs[p*k+n] = o.TopKIDs[p*k], float32(math.Inf(-1))
		}
		o.TailMass[p] = float32(math.Min(1, math.Max(0, 1-mass)))
		o.TeacherValid[p] = 1
		st.Positions++
		st.Logprob += at.Logprob
	}
	return nil
}
