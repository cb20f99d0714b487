package onpolicy

import (
	"fmt"

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
// forward per row, over the row up to its last loss position. It returns a
// copy of b carrying the teacher (TeacherValid 1 at every loss position, and
// for the sparse form the top-k, tail and tempered tail) and, for the dense
// form, the teacher logits [B*T*V] (temperature 1) for the student's
// ForwardBackwardDense. b is not modified; the copy and the logits are
// reused by the next call.
func (t *Local) Score(b *batch.Batch) (*batch.Batch, []float32, Stats, error) {
	var st Stats
	N, V, tv := b.B*b.T, t.vocab, t.m.Hyper.VocabSize
	o := &t.out
	*o = batch.Batch{B: b.B, T: b.T, Tokens: b.Tokens, Targets: b.Targets, LossMask: b.LossMask,
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
		_, last := lossSpan(b.LossMask[row : row+b.T])
		if last < 0 {
			continue
		}
		t.sess.Reset()
		logits, err := t.sess.EvalAll(b.Tokens[row : row+last+1]) // [last+1, tv]
		if err != nil {
			return nil, nil, st, fmt.Errorf("teacher %s: batch row %d: %w", t.m.Path(), r, err)
		}
		for i := 0; i <= last; i++ {
			p := row + i
			if b.LossMask[p] == 0 {
				continue
			}
			z := logits[i*tv : (i+1)*tv]
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
	}
	return o, dense, st, nil
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
