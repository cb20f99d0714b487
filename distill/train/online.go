package train

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/distill/onpolicy"
	"github.com/distill-ml/distill/loss"
)

// part is one forward/backward pass of a micro-batch: the batch as drawn
// (or its off-policy rows), or the completions the student sampled (sampled
// set: trained under the on-policy objective).
type part struct {
	b       *batch.Batch
	sampled bool
}

// onlineRecord is the "online" object of a train line of metrics.jsonl, when
// a teacher is asked during training (teacher.local.model).
type onlineRecord struct {
	TeacherSeconds float64 `json:"teacher_s"`     // the teacher's forwards and reductions in this update
	TeacherShare   float64 `json:"teacher_share"` // TeacherSeconds / step_s
	// Off-policy part (the rows as drawn): its loss terms and tokens.
	OffLoss   float64 `json:"offpolicy_loss"`
	OffTokens int     `json:"offpolicy_tokens"`
	// On-policy part (present with train.on_policy): the divergence on the
	// sampled positions, the prompts completed, the tokens sampled, the mean
	// completion length, the teacher's mean log-probability of the sampled
	// tokens (rises as the student improves), rollout time and tokens/s.
	SampledDivergence   *float64 `json:"onpolicy_divergence,omitempty"`
	SampledRows         int      `json:"sample_rows,omitempty"`
	SampledTokens       int      `json:"sample_tokens,omitempty"`
	SampleLength        float64  `json:"sample_len,omitempty"`
	TeacherLogprob      *float64 `json:"teacher_logprob_of_samples,omitempty"`
	RolloutSeconds      float64  `json:"rollout_s,omitempty"`
	RolloutTokensPerSec float64  `json:"rollout_tokens_per_s,omitempty"`
	ScoringSeconds      float64  `json:"scoring_s,omitempty"`         // the teacher's share spent on sampled rows
	RefreshSeconds      float64  `json:"sampler_refresh_s,omitempty"` // re-exporting and loading a gguf sampler

	divSum, lpSum  float64
	lpN            int
	offSum         float64
	rolloutSampled int
}

// finish turns the sums of an update into the record, for a step of dt seconds.
func (o *onlineRecord) finish(dt float64) *onlineRecord {
	r := *o
	if dt > 0 {
		r.TeacherShare = r.TeacherSeconds / dt
	}
	if r.OffTokens > 0 {
		r.OffLoss = o.offSum / float64(r.OffTokens)
	}
	if r.SampledTokens > 0 {
		d := o.divSum / float64(r.SampledTokens)
		r.SampledDivergence = &d
	}
	if r.SampledRows > 0 {
		r.SampleLength = float64(r.SampledTokens) / float64(r.SampledRows)
	}
	if o.lpN > 0 {
		lp := o.lpSum / float64(o.lpN)
		r.TeacherLogprob = &lp
	}
	if r.RolloutSeconds > 0 {
		r.RolloutTokensPerSec = float64(o.rolloutSampled) / r.RolloutSeconds
	}
	return &r
}

// setupOnline checks that the model can do what the teacher and on-policy
// mode need of it and prepares the rollout.
func (t *trainer) setupOnline() error {
	op := t.s.Config.Train.OnPolicy
	if t.s.Teacher == nil {
		if t.s.Config.Teacher.Enabled() || op.Enabled() {
			return errors.New("train: the config asks for an online teacher (teacher.local.model), and the setup has none (use Prepare)")
		}
		return nil
	}
	if _, ok := t.s.Model.(denseModel); !ok {
		return fmt.Errorf("train: an online teacher needs a model that trains on dense teacher logits (%T does not)", t.s.Model)
	}
	if !op.Enabled() {
		return nil
	}
	if _, ok := t.s.Model.(sampledModel); !ok {
		return fmt.Errorf("train: on-policy mode needs a model that samples and trains under a sampled-sequence objective (%T does not)", t.s.Model)
	}
	t.sampled = op.Objective(t.s.Config.Loss)
	if err := t.sampled.Validate(); err != nil {
		return fmt.Errorf("train.on_policy: %w", err)
	}
	t.rollout = onpolicy.NewRollout(op, t.s.Student.VocabSize, t.s.EOS)
	ft, gguf, err := onpolicy.ParseSampler(op.Sampler)
	if err != nil {
		return err
	}
	if gguf {
		t.runtimeSampler = onpolicy.NewRuntimeSampler(filepath.Join(t.s.Config.OutDir, samplerFile), ft)
		t.sampler = t.runtimeSampler
	} else {
		t.sampler = onpolicy.NewStudentSampler(t.s.Model.(sampledModel), t.s.Student.VocabSize, t.p.BatchSize, t.p.SeqLen)
	}
	return nil
}

// samplerFile is the on-policy sampler's GGUF in out_dir, rewritten at
// every refresh.
const samplerFile = ".onpolicy-sampler.gguf"

// split lets the student complete a fraction λ of b's prompts (on-policy
// mode) and returns b's remaining rows and the sampled batch.
func (t *trainer) split(step int, b *batch.Batch) ([2]part, error) {
	began := t.now()
	if rs := t.runtimeSampler; rs != nil && (!rs.Loaded() || (step%t.p.OnPolicy.RefreshEvery == 0 && step != t.refreshedAt)) {
		if err := rs.Refresh(t.params, t.s.Student); err != nil {
			return [2]part{}, err
		}
		t.refreshedAt = step
		t.online.RefreshSeconds += t.now().Sub(began).Seconds()
		began = t.now()
	}
	off, on, st, err := t.rollout.Split(t.sampler, b, t.sampleRNG)
	if err != nil {
		return [2]part{}, err
	}
	t.online.RolloutSeconds += t.now().Sub(began).Seconds()
	t.online.rolloutSampled += st.Tokens
	t.online.SampledRows += st.Rows
	return [2]part{{b: off}, {b: on, sampled: true}}, nil
}

// pass runs one forward/backward: the stored signals without a teacher,
// else the teacher's scores of pt.b, under the on-policy objective for
// sampled rows.
func (t *trainer) pass(pt part) (loss.Terms, error) {
	if t.s.Teacher == nil {
		terms, err := t.s.Model.ForwardBackward(pt.b)
		if err != nil {
			return terms, fmt.Errorf("forward/backward: %w", err)
		}
		return terms, nil
	}
	began := t.now()
	scored, dense, st, err := t.s.Teacher.Score(pt.b)
	if err != nil {
		return loss.Terms{}, fmt.Errorf("online teacher: %w", err)
	}
	sec := t.now().Sub(began).Seconds()
	t.online.TeacherSeconds += sec
	var terms loss.Terms
	if pt.sampled {
		t.online.ScoringSeconds += sec
		t.online.lpSum += st.Logprob
		t.online.lpN += st.Positions
		terms, err = t.s.Model.(sampledModel).ForwardBackwardObjective(scored, dense, t.sampled)
		if err == nil {
			t.online.SampledTokens += terms.Tokens
			t.online.divSum += terms.KL * float64(terms.Tokens)
		}
	} else {
		terms, err = t.s.Model.(denseModel).ForwardBackwardDense(scored, dense)
		if err == nil {
			t.online.OffTokens += terms.Tokens
			t.online.offSum += terms.Total * float64(terms.Tokens)
		}
	}
	if err != nil {
		return terms, fmt.Errorf("forward/backward: %w", err)
	}
	return terms, nil
}
