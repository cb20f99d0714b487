package onpolicy

import (
	"fmt"
	"iter"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/num/fastmath"
)

// Local is a GGUF teacher run in-process by the runtime, asked for every
// training batch. It shares the student's token ids (Prepare checks the
// tokenizers), so it reads the student's rows as they are.
type Local struct {
	m     *infer.Model
	vocab int     // the student's
	dense bool    // full distributions (teacher vocabulary = the student's)
	topK  int     // alternatives per position otherwise
	temp  float64 // the loss temperature: the sparse form stores the tail tempered at it

	sess   *infer.Session
	out    batch.Batch // the scored copy of the caller's batch
	logits []float32   // [B*T*V] dense teacher logits
	ids    []int32     // [k]
	lps    []float64   // [k]
}

// NewLocal wraps a loaded teacher for a student of vocab tokens trained at
// loss temperature temp; the teacher's vocabulary must be the student's (the
// caller checks the tokenizers are the same). dense asks for the full
// distributions, else the top-k + tail (and the tail tempered at temp).
func NewLocal(m *infer.Model, vocab int, dense bool, topK int, temp float64) (*Local, error) {
	tv := m.Hyper.VocabSize
	if tv != vocab {
		return nil, fmt.Errorf("teacher %s: vocabulary of %d tokens, the student's has %d: an online teacher must read the student's token ids", m.Path(), tv, vocab)
	}
	if topK > vocab {
		topK = vocab
	}
	return &Local{m: m, vocab: vocab, dense: dense, topK: topK, temp: temp,
		ids: make([]int32, topK), lps: make([]float64, topK)}, nil
}

// Dense reports whether Score returns full distributions.
func (t *Local) Dense() bool { return t.dense }

// Stats describe one Score call.
type Stats struct {
	Positions int     // loss positions scored
	Logprob   float64 // the teacher's summed natural-log probability of the batch's targets there
}

// Score asks the teacher about every loss position (LossMask ≠ 0) of b: one
// forward per document (a packed row of a window, batch.RowStart; the whole
// window without one) that has a loss position, over the document up to its
// last one — the teacher, like the student's masked attention, never reads
// the rows packed before it. It returns a
// copy of b carrying the teacher (TeacherValid 1 at every loss position, and
// for the sparse form the top-k, tail and tempered tail) and, for the dense
// form, the teacher logits [B*T*V] (temperature 1) for the student's
// ForwardBackwardDense. b is not modified; the copy and the logits are
// reused by the next call.
func (t *Local) Score(b *batch.Batch) (*batch.Batch, []float32, Stats, error) {
	var st Stats
	N, V := b.B*b.T, t.vocab
	o := &t.out
	*o = batch.Batch{B: b.B, T: b.T, Tokens: b.Tokens, Targets: b.Targets, LossMask: b.LossMask, RowStart: b.RowStart,
		TeacherValid: grow(o.TeacherValid, N)}
	clear(o.TeacherValid)
	var dense []float32
	if t.dense {
		t.logits = grow(t.logits, N*V)
		dense = t.logits
	} else {
		k := t.topK
		o.K = k
		o.TopKIDs = growI(t.out.TopKIDs, N*k)
		o.TopKLogprobs = grow(t.out.TopKLogprobs, N*k)
		o.TailMass = grow(t.out.TailMass, N)
		clear(o.TopKIDs)
		clear(o.TopKLogprobs)
		clear(o.TailMass)
		if t.temp != 1 {
			o.TailTempered, o.TailTemperature = grow(t.out.TailTempered, N), t.temp
			clear(o.TailTempered)
		}
	}
	if t.sess == nil || t.sess.ContextLength() < b.T {
		t.sess = t.m.NewSession(b.T)
	}
	kdT := 0.0
	if t.temp != 1 {
		kdT = t.temp
	}
	for r := 0; r < b.B; r++ {
		row := r * b.T
		for s, last := range lossDocuments(b, r) {
			if err := t.scoreDocument(b, o, dense, row, s, last, kdT, &st); err != nil {
				return nil, nil, st, fmt.Errorf("teacher %s: batch row %d document at %d: %w", t.m.Path(), r, s, err)
			}
		}
	}
	return o, dense, st, nil
}

// scoreDocument runs the teacher over window positions [s, last] of the
// window starting at position row and stores its distribution at every loss
// position there.
func (t *Local) scoreDocument(b, o *batch.Batch, dense []float32, row, s, last int, kdT float64, st *Stats) error {
	V, tv := t.vocab, t.m.Hyper.VocabSize
	t.sess.Reset()
	logits, err := t.sess.EvalAll(b.Tokens[row+s : row+last+1]) // [last+1-s, tv]
	if err != nil {
		return err
	}
	for i := s; i <= last; i++ {
		p := row + i
		if b.LossMask[p] == 0 {
			continue
		}
		z := logits[(i-s)*tv : (i-s+1)*tv]
		o.TeacherValid[p] = 1
		st.Positions++
		if dense != nil {
			copy(dense[p*V:(p+1)*V], z)
			st.Logprob += float64(z[b.Targets[p]]) - fastmath.LogSumExp(z)
			continue
		}
		lse, tail, tailT := teacher.TopKTail(z, 1, kdT, t.ids, t.lps)
		st.Logprob += float64(z[b.Targets[p]]) - lse
		k := o.K
		copy(o.TopKIDs[p*k:(p+1)*k], t.ids)
		for j, lp := range t.lps {
			o.TopKLogprobs[p*k+j] = float32(lp)
		}
		o.TailMass[p] = float32(tail)
		if o.TailTempered != nil {
			o.TailTempered[p] = float32(tailT)
		}
	}
	return nil
}

// documents yields the [start, end) window indices of the documents of
// window w of b (batch.RowStart; one document, the whole window, without).
func documents(b *batch.Batch, w int) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		T := b.T
		if b.RowStart == nil {
			yield(0, T)
			return
		}
		rs := b.RowStart[w*T : (w+1)*T]
		s := 0
		for t := 1; t <= T; t++ {
			if t == T || int(rs[t]) == t {
				if !yield(s, t) {
					return
				}
				s = t
			}
		}
	}
}

// lossDocuments yields, for each document of batch row w that has a loss
// position, its start and its last loss position, both offsets within the
// row; documents without one are skipped.
func lossDocuments(b *batch.Batch, w int) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		row := w * b.T
		for s, e := range documents(b, w) {
			if _, last := lossSpan(b.LossMask[row+s : row+e]); last >= 0 && !yield(s, s+last) {
				return
			}
		}
	}
}

// lossSpan returns the first and last loss positions of one row's mask
// (-1, -1 when it has none).
func lossSpan(mask []float32) (first, last int) {
	first, last = -1, -1
	for i, m := range mask {
		if m != 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return first, last
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

func growI(b []int32, n int) []int32 {
	if cap(b) < n {
		return make([]int32, n)
	}
	return b[:n]
}
