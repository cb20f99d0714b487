// Package loss defines the distillation objective: its configuration, the
// per-position math of hard-label cross-entropy and of the KL family against
// a sparse teacher (top-k logprobs + tail mass) or a dense one, the masked
// hidden-state MSE, and the reported terms and metrics. The fused Gorgonia ops
// in model/ops call these kernels; this package has no graph code.
//
// # Objective
//
//	Total = α·KL + (1−α)·CE + γ·MSE
//
// CE is the mean over loss positions (LossMask ≠ 0, weighted by the mask value)
// of −log softmax(z)[target]. KL is the mean, over loss positions whose row
// carries a teacher (TeacherValid ≠ 0), of T²·D(teacher_T, student_T) where
// student_T = softmax(z/T) and D is forward KL(teacher‖student), reverse
// KL(student‖teacher) or the generalized Jensen–Shannon divergence JSD(β).
// MSE is the mean over mapped layer pairs of the masked mean squared error
// between the projected student hidden state and the stored teacher state.
//
// This package owns the whole objective: Config.Total and Config.Weights are
// the total and its term weights, Config.RowWeights the weight of one loss
// position's CE and KL in the batch means, Config.HiddenPairWeight the weight
// of one hidden_map pair's MSE, and Row the per-position CE, T²-scaled KL and
// their gradient. Row is built from separate parts: the sparse-bucket KL
// (sparseKL), the dense KL (denseKL) and the logit gradient (gradient).
// testdata/reference.json pins Row to values PyTorch computed
// (testdata/gen_reference.py regenerates it).
//
// # Sparse teacher and the tail
//
// A stored teacher gives, per position, its top-k token ids with natural-log
// probabilities lp_i of its stored distribution p, the remaining probability
// mass r outside the top-k and, when collected for a KD temperature T, the
// tempered tail q_T = Σ_{j∉top-k} p_j^{1/T} / Σ_j p_j^{1/T} (dataset column
// topk_tail_tempered). Both distributions are compared on k+1 buckets: the k
// top-k tokens and one lumped "tail" bucket holding every other token.
//
//   - Teacher at temperature T: the tail bucket is q_T and the top-k share
//     1 − q_T in proportion to exp(lp_i/T). This is exactly the teacher's
//     tempered distribution softmax(log p / T) on the buckets. At T = 1,
//     q_1 = r and the buckets are the stored exp(lp_i) and r (normalised to
//     sum 1, as stored logprobs are quantized).
//   - Student at temperature T: s_i = softmax(z/T)[id_i] for the top-k and
//     s_tail = Σ_{j∉top-k} softmax(z/T)[j], the student's mass outside the
//     teacher's top-k.
//
// The top-k and r alone do not determine q_T: the tail's tempered mass
// depends on how r is spread over the tail tokens (one token holding r gives
// r^(1/T) before normalisation, r spread over V−k tokens up to
// (V−k)^(1−1/T)·r^(1/T)). Treating the tail as one token under-weights it at
// T > 1 and pushes the student sharper than its teacher (on the quickstart,
// 3.6 nats of T²·KL for a student equal to its teacher at T = 2). So Row needs
// q_T at T ≠ 1 (RowTeacher.TailT) and returns a NaN KL without it; training
// refuses such a configuration before it starts (distill/train).
//
// The divergence is the one between these two (k+1)-outcome distributions. It
// is zero exactly when the student matches the teacher on every top-k token and
// on the total tail mass — in particular for a student equal to its teacher, at
// every T; it never asks the student to shape its distribution inside the
// tail, about which the teacher said nothing. Duplicate ids in a top-k list
// are merged into one bucket. For reverse KL the teacher bucket
// probabilities are floored at 1e-12 before taking logs (a zero tail mass
// would otherwise make any student tail mass infinitely costly).
//
// With dense teacher logits every token is its own bucket (no tail).
//
// # JSD(β)
//
// As in GKD (Agarwal et al. 2024) and TRL: M = β·teacher + (1−β)·student,
// JSD(β) = β·KL(teacher‖M) + (1−β)·KL(student‖M), 0 < β < 1.
package loss

import (
	"errors"
	"fmt"
	"math"
)

// KL divergence kinds accepted in Config.KL.
const (
	KLForward = "forward" // KL(teacher‖student), the default
	KLReverse = "reverse" // KL(student‖teacher)
	KLJSD     = "jsd"     // generalized Jensen–Shannon, weight JSDBeta
)

// LayerPair maps a student hidden state to a stored teacher hidden state.
// Student is the number of applied student blocks the residual stream has
// passed through (0 = the token embeddings, AppliedLayers = the last block's
// output, before the final norm). Teacher is a layer index as stored in the
// dataset (batch.Batch.HiddenLayers).
type LayerPair struct {
	Student int `yaml:"student" json:"student"`
	Teacher int `yaml:"teacher" json:"teacher"`
}

// Config weights and shapes the distillation objective.
type Config struct {
	Alpha       float64 `yaml:"alpha" json:"alpha"`             // KL weight in [0,1]; CE gets 1−Alpha
	Gamma       float64 `yaml:"gamma" json:"gamma"`             // hidden-state MSE weight, >= 0
	Temperature float64 `yaml:"temperature" json:"temperature"` // KL temperature T > 0 (KL is scaled by T²)
	KL          string  `yaml:"kl" json:"kl"`                   // "forward" (default when empty), "reverse" or "jsd"
	JSDBeta     float64 `yaml:"jsd_beta" json:"jsd_beta"`       // β in (0,1) for "jsd"

	// HiddenMap lists the student/teacher layer pairs of the MSE term.
	HiddenMap []LayerPair `yaml:"hidden_map" json:"hidden_map"`
	// TeacherHiddenDim is the teacher's hidden width (needed when Gamma > 0).
	// When it differs from the student's d_model a learned linear projection
	// [TeacherHiddenDim, d_model] per pair maps student states to teacher width.
	TeacherHiddenDim int `yaml:"teacher_hidden_dim" json:"teacher_hidden_dim"`
}

// CheckJSDBeta checks the weight β of a divergence: JSD(β) needs 0 < β < 1;
// the other kinds ignore it. The error leaves naming the config key to the
// caller.
func CheckJSDBeta(kind string, beta float64) error {
	if kind == KLJSD && !(beta > 0 && beta < 1) {
		return fmt.Errorf("must be in (0,1) for jsd, got %g", beta)
	}
	return nil
}

// KLKind is the effective divergence ("forward" when KL is empty).
func (c Config) KLKind() string {
	if c.KL == "" {
		return KLForward
	}
	return c.KL
}

// Validate checks the loss configuration once, at the edge.
func (c Config) Validate() error {
	var errs []error
	if !(c.Alpha >= 0 && c.Alpha <= 1) {
		errs = append(errs, fmt.Errorf("alpha must be in [0,1], got %g", c.Alpha))
	}
	if !(c.Gamma >= 0) || math.IsInf(c.Gamma, 0) {
		errs = append(errs, fmt.Errorf("gamma must be >= 0 and finite, got %g", c.Gamma))
	}
	if !(c.Temperature > 0 && c.Temperature <= 100) {
		errs = append(errs, fmt.Errorf("temperature must be in (0,100], got %g", c.Temperature))
	}
	switch kind := c.KLKind(); kind {
	case KLForward, KLReverse, KLJSD:
		if err := CheckJSDBeta(kind, c.JSDBeta); err != nil {
			errs = append(errs, fmt.Errorf("jsd_beta %w", err))
		}
	default:
		errs = append(errs, fmt.Errorf("kl must be forward, reverse or jsd, got %q", c.KL))
	}
	if c.Gamma > 0 {
		if len(c.HiddenMap) == 0 {
			errs = append(errs, errors.New("gamma > 0 needs a non-empty hidden_map"))
		}
		if c.TeacherHiddenDim <= 0 {
			errs = append(errs, fmt.Errorf("gamma > 0 needs teacher_hidden_dim > 0, got %d", c.TeacherHiddenDim))
		}
	}
	seen := map[LayerPair]bool{}
	for i, p := range c.HiddenMap {
		if p.Student < 0 || p.Teacher < 0 {
			errs = append(errs, fmt.Errorf("hidden_map[%d]: layer indices must be >= 0, got student %d teacher %d", i, p.Student, p.Teacher))
		}
		if seen[p] {
			errs = append(errs, fmt.Errorf("hidden_map[%d]: duplicate pair student %d teacher %d", i, p.Student, p.Teacher))
		}
		seen[p] = true
	}
	if len(errs) > 0 {
		return fmt.Errorf("loss config: %w", errors.Join(errs...))
	}
	return nil
}

// NeedsTeacherLogprobs reports whether the objective uses the sparse teacher.
func (c Config) NeedsTeacherLogprobs() bool { return c.Alpha > 0 }

// NeedsHidden reports whether the objective uses stored teacher hidden states.
func (c Config) NeedsHidden() bool { return c.Gamma > 0 }

// Terms are the loss values of one batch. Total = α·KL + (1−α)·CE + γ·MSE.
// A NaN or Inf anywhere shows up here; the caller decides what to do.
type Terms struct {
	Total, CE, KL, MSE float64
	Tokens             int // loss positions (LossMask ≠ 0)
	KLTokens           int // loss positions with a teacher distribution
}

// Metrics are evaluation statistics over loss positions.
type Metrics struct {
	Tokens           int     // loss positions
	Accuracy         float64 // fraction where the student's argmax is the target
	TeacherTokens    int     // loss positions with a teacher distribution
	TeacherAgreement float64 // fraction where the student's argmax is the teacher's top-1
	Perplexity       float64 // exp(CE)
}
