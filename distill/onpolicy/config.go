// Package onpolicy puts the teacher in the training loop: a local GGUF
// teacher (distill's runtime, model/infer) scores each training batch as it
// is drawn — full-vocabulary logits when the vocabularies match, top-k +
// tempered tail otherwise (the reduction collection stores, shared through
// distill/collect/teacher.TopKTail) — and, in on-policy mode, the current
// student samples completions for a fraction λ of the prompts (batched: one
// student forward per sampling step for every active sequence), which the
// teacher scores so that the loss on those positions is a divergence between
// the two distributions on the student's own text (GKD, MiniLLM).
//
// distill/train owns the loop; this package owns the teacher's side
// (Local), the rollout (Rollout) and the on-policy batch (Split).
package onpolicy

import (
	"errors"
	"fmt"
	"math"

	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/loss"
)

// Divergences accepted in Config.Divergence: the on-policy config's
// spellings of loss.KLReverse, loss.KLJSD and loss.KLForward (lossKind).
const (
	ReverseKL = "reverse_kl" // KL(student‖teacher), MiniLLM; the default
	JSD       = "jsd"        // generalized JSD(β), GKD
	ForwardKL = "forward_kl" // KL(teacher‖student)
)

// SamplerStudent samples from the student's live weights through its
// training graph (full forwards, no KV cache); the default is gguf:f32, the
// runtime on an export of the weights (RuntimeSampler).
const SamplerStudent = "student"

// Config is the train.on_policy section.
type Config struct {
	// Lambda is the fraction of prompts whose completion the student samples
	// (0 = off-policy training only).
	Lambda       float64 `yaml:"lambda" json:"lambda"`
	MaxNewTokens int     `yaml:"max_new_tokens" json:"max_new_tokens"` // sampled tokens per prompt (also bounded by seq_len)
	Temperature  float64 `yaml:"temperature" json:"temperature"`       // sampling temperature (> 0)
	TopP         float64 `yaml:"top_p" json:"top_p"`                   // nucleus cut in (0, 1]
	Divergence   string  `yaml:"divergence" json:"divergence"`         // reverse_kl | jsd | forward_kl
	Beta         float64 `yaml:"beta" json:"beta"`                     // JSD's β in (0,1)
	// Sampler is gguf:<type> (f32, q8_0, q4_k_m, ...): the student exported
	// as that file type and run by the runtime, batched with KV caches — with
	// q4_k_m the student is corrected on the mistakes of the artifact users
	// run; or "student": the live weights through the training graph (exact,
	// slow: a full forward per token).
	Sampler string `yaml:"sampler" json:"sampler"`
	// RefreshEvery is the updates between re-exports of a gguf sampler
	// (1: every update samples from the current weights; resume is
	// bit-identical only then, since a resumed run re-exports at once).
	RefreshEvery int `yaml:"refresh_every" json:"refresh_every"`
}

// Enabled reports whether on-policy samples are drawn.
func (c Config) Enabled() bool { return c.Lambda > 0 }

// Validate checks the section once, at the edge.
func (c Config) Validate() error {
	if c.Lambda == 0 {
		return nil
	}
	var errs []error
	if !(c.Lambda > 0 && c.Lambda <= 1) {
		errs = append(errs, fmt.Errorf("train.on_policy.lambda must be in [0, 1], got %g", c.Lambda))
	}
	if c.MaxNewTokens < 1 || c.MaxNewTokens > 1<<16 {
		errs = append(errs, fmt.Errorf("train.on_policy.max_new_tokens must be in [1, 65536], got %d", c.MaxNewTokens))
	}
	if !(c.Temperature > 0) || math.IsInf(c.Temperature, 0) {
		errs = append(errs, fmt.Errorf("train.on_policy.temperature must be > 0 and finite, got %g", c.Temperature))
	}
	if !(c.TopP > 0 && c.TopP <= 1) {
		errs = append(errs, fmt.Errorf("train.on_policy.top_p must be in (0, 1], got %g", c.TopP))
	}
	if kind, ok := c.lossKind(); !ok {
		errs = append(errs, fmt.Errorf("train.on_policy.divergence must be reverse_kl, jsd or forward_kl, got %q", c.Divergence))
	} else if err := loss.CheckJSDBeta(kind, c.Beta); err != nil {
		errs = append(errs, fmt.Errorf("train.on_policy.beta %w", err))
	}
	if _, _, err := ParseSampler(c.Sampler); err != nil {
		errs = append(errs, err)
	}
	if c.RefreshEvery < 1 || c.RefreshEvery > 1<<20 {
		errs = append(errs, fmt.Errorf("train.on_policy.refresh_every must be in [1, 1048576], got %d", c.RefreshEvery))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// Objective is the loss on sampled positions: lc with α = 1 and the
// configured divergence (loss.Config.Sampled).
func (c Config) Objective(lc loss.Config) loss.Config {
	kind, _ := c.lossKind()
	return lc.Sampled(kind, c.Beta)
}

// lossKind is the loss's name of the configured divergence (loss.KLReverse,
// loss.KLJSD or loss.KLForward); false for an unknown one.
func (c Config) lossKind() (string, bool) {
	switch c.Divergence {
	case ReverseKL:
		return loss.KLReverse, true
	case JSD:
		return loss.KLJSD, true
	case ForwardKL:
		return loss.KLForward, true
	}
	return "", false
}

// TeacherConfig is the training config's teacher: section: at most one of
// a local GGUF and an OpenAI-compatible endpoint.
type TeacherConfig struct {
	Local LocalConfig `yaml:"local" json:"local"`
	// OpenAI is an endpoint that scores given token sequences through
	// /v1/completions with echo and logprobs (vLLM does); base_url, model,
	// name (the policy's), api_key_env, timeout, remote as for collection.
	OpenAI *teacher.OpenAIConfig `yaml:"openai" json:"openai,omitempty"`
	// TopK is the alternatives per position of a sparse teacher (a local
	// one with dense: false, and every remote one).
	TopK int `yaml:"top_k" json:"top_k"`
	// DefaultClass is the policy class of training rows that carry none
	// (imported text), for deciding what a remote teacher may receive; ""
	// refuses such rows.
	DefaultClass string `yaml:"default_class" json:"default_class"`
	// AcknowledgeTerms accepts a teacher whose terms restrict training on
	// its outputs (the policy's restricts_training), after review.
	AcknowledgeTerms bool `yaml:"acknowledge_terms" json:"acknowledge_terms"`
}

// LocalConfig is a local GGUF teacher asked during training.
type LocalConfig struct {
	// Model is the teacher GGUF; "" = no local teacher.
	Model string `yaml:"model" json:"model"`
	// Dense uses the teacher's full distribution (its vocabulary is the
	// student's); false gives the top-k + tempered tail.
	Dense bool `yaml:"dense" json:"dense"`
}

// Enabled reports whether a teacher is asked during training.
func (c TeacherConfig) Enabled() bool { return c.Local.Model != "" || c.OpenAI != nil }

// Validate checks the section once, at the edge.
func (c TeacherConfig) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if c.Local.Model != "" && c.OpenAI != nil {
		errs = append(errs, errors.New("teacher: local and openai are exclusive"))
	}
	if c.TopK < 1 || c.TopK > 1<<12 {
		errs = append(errs, fmt.Errorf("teacher.top_k must be in [1, 4096], got %d", c.TopK))
	}
	if c.OpenAI != nil {
		if c.OpenAI.Mode != "completion" {
			errs = append(errs, fmt.Errorf("teacher.openai.mode must be completion (scoring uses /v1/completions with echo), got %q", c.OpenAI.Mode))
		} else if err := c.OpenAI.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("teacher.openai: %w", err))
		}
	}
	return errors.Join(errs...)
}
