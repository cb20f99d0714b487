// Package optim updates the student's weights: AdamW with decoupled weight
// decay, a linear-warmup + cosine learning-rate schedule, global-norm gradient
// clipping and gradient accumulation.
//
// The update matches torch.optim.AdamW (PyTorch ≥ 1.13, foreach=False):
//
//	p ← p·(1 − lr·wd)                       (only for parameters with Decay)
//	m ← β1·m + (1 − β1)·g
//	v ← β2·v + (1 − β2)·g²
//	p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
//
// where g is the raw gradient times one scale factor per step that folds in
// both the 1/accumulation average and the clipping factor, so clipping and
// averaging cost no extra pass over memory. All per-step work runs on the
// shared worker pool (num/parallel) over fixed chunks prepared at
// construction, and a step allocates nothing of its own. The global norm is
// reduced in a fixed chunk order, so a step is bit-reproducible regardless of
// how the pool schedules the chunks.
package optim

import (
	"errors"
	"fmt"
	"math"

	"github.com/distill-ml/distill/num/parallel"
)

// Param is one trainable tensor: the one parameter type of the tree. The
// student (model/student) owns the buffers and lists its weights as Params;
// the trainer (distill/train) and the optimizer work on them as they are.
// Data holds the live weights, updated in place by the optimizer; Grad the
// gradient the optimizer reads (the model's ForwardBackward overwrites it, or
// the trainer's accumulator replaces it). Both have Shape's element count.
type Param struct {
	Name  string // llama.cpp GGUF tensor name
	Shape []int  // e.g. [rows, cols] (out × in for linear weights)
	Data  []float32
	Grad  []float32
	Decay bool // apply weight decay (false for norms, typically embeddings)
}

// AdamWConfig holds the optimizer hyper-parameters (the learning rate comes
// from the schedule at every step).
type AdamWConfig struct {
	Beta1       float64 `yaml:"beta1" json:"beta1"`
	Beta2       float64 `yaml:"beta2" json:"beta2"`
	Eps         float64 `yaml:"eps" json:"eps"`
	WeightDecay float64 `yaml:"weight_decay" json:"weight_decay"`
}

// DefaultAdamW is β1 0.9, β2 0.95, ε 1e-8, weight decay 0.1 (the usual LLM
// pre-training settings).
func DefaultAdamW() AdamWConfig {
	return AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
}

// Validate checks the hyper-parameters.
func (c AdamWConfig) Validate() error {
	var errs []error
	if !(c.Beta1 >= 0 && c.Beta1 < 1) {
		errs = append(errs, fmt.Errorf("beta1 must be in [0, 1), got %g", c.Beta1))
	}
	if !(c.Beta2 >= 0 && c.Beta2 < 1) {
		errs = append(errs, fmt.Errorf("beta2 must be in [0, 1), got %g", c.Beta2))
	}
	if !(c.Eps > 0 && c.Eps < 1) {
		errs = append(errs, fmt.Errorf("eps must be in (0, 1), got %g", c.Eps))
	}
	if !(c.WeightDecay >= 0 && c.WeightDecay < 10) {
		errs = append(errs, fmt.Errorf("weight_decay must be in [0, 10), got %g", c.WeightDecay))
	}
	if len(errs) > 0 {
		return fmt.Errorf("adamw: %w", errors.Join(errs...))
	}
	return nil
}

// chunkElems is the number of elements one pool task updates: large enough to
// amortise scheduling, small enough to balance 2–16 threads on small models.
const chunkElems = 1 << 14

type chunk struct {
	param  int
	lo, hi int
}

// AdamW is the optimizer state (first and second moments) for a fixed list of
// parameters.
type AdamW struct {
	cfg    AdamWConfig
	params []Param
	m, v   [][]float32 // per param, same length as Data
	step   int64       // number of updates applied
	chunks []chunk
	sumSq  []float64 // per chunk, for the global norm
	pool   *parallel.Pool

	// Per-step arguments read by the chunk workers (set before each For).
	cur struct {
		scale, lr, decayMul, stepSize, bc2Sqrt float32
		eps                                    float32
		b1, b2, omb1, omb2                     float32
	}
	normFn, updateFn, accFn func(lo, hi int) // method values, created once

	accSrc   [][]float32 // AccumulateGrads arguments
	accFirst bool
}

// NewAdamW prepares the optimizer for params (Data and Grad must have equal
// lengths and stay the same slices for the optimizer's lifetime). pool nil
// means parallel.Default().
func NewAdamW(cfg AdamWConfig, params []Param, pool *parallel.Pool) (*AdamW, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if pool == nil {
		pool = parallel.Default()
	}
	o := &AdamW{cfg: cfg, params: params, pool: pool}
	seen := make(map[string]bool, len(params))
	for i, p := range params {
		if p.Name == "" {
			return nil, fmt.Errorf("adamw: parameter %d has no name", i)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("adamw: duplicate parameter name %q", p.Name)
		}
		seen[p.Name] = true
		if len(p.Data) != len(p.Grad) {
			return nil, fmt.Errorf("adamw: parameter %s has %d values but %d gradients", p.Name, len(p.Data), len(p.Grad))
		}
		o.m = append(o.m, make([]float32, len(p.Data)))
		o.v = append(o.v, make([]float32, len(p.Data)))
		for lo := 0; lo < len(p.Data); lo += chunkElems {
			o.chunks = append(o.chunks, chunk{param: i, lo: lo, hi: min(lo+chunkElems, len(p.Data))})
		}
	}
	o.sumSq = make([]float64, len(o.chunks))
	o.normFn = o.normChunks
	o.updateFn = o.updateChunks
	o.accFn = o.accChunks
	return o, nil
}

// Params returns the parameters in construction order.
func (o *AdamW) Params() []Param { return o.params }

// Steps is the number of updates applied so far (t in the bias corrections).
func (o *AdamW) Steps() int64 { return o.step }

// GradNorm is the L2 norm of all gradients times scale, reduced in a fixed
// order. It is NaN or Inf when any gradient is.
func (o *AdamW) GradNorm(scale float64) float64 {
	o.pool.For(len(o.chunks), 1, o.normFn)
	var s float64
	for _, x := range o.sumSq {
		s += x
	}
	return math.Sqrt(s) * math.Abs(scale)
}

func (o *AdamW) normChunks(lo, hi int) {
	for c := lo; c < hi; c++ {
		ch := o.chunks[c]
		g := o.params[ch.param].Grad[ch.lo:ch.hi]
		var s0, s1, s2, s3 float64
		i := 0
		for ; i+4 <= len(g); i += 4 {
			a, b, cc, d := float64(g[i]), float64(g[i+1]), float64(g[i+2]), float64(g[i+3])
			s0 += a * a
			s1 += b * b
			s2 += cc * cc
			s3 += d * d
		}
		for ; i < len(g); i++ {
			a := float64(g[i])
			s0 += a * a
		}
		o.sumSq[c] = (s0 + s1) + (s2 + s3)
	}
}

// ClipScale returns the factor that brings a gradient of norm `norm` down to
// maxNorm (1 when it is already within, or when maxNorm <= 0 disables clipping).
func ClipScale(norm, maxNorm float64) float64 {
	if maxNorm <= 0 || norm <= maxNorm {
		return 1
	}
	return maxNorm / (norm + 1e-6)
}

// Step applies one AdamW update with learning rate lr, using Grad·gradScale as
// the gradient (gradScale folds in 1/accumulation and the clipping factor).
func (o *AdamW) Step(lr, gradScale float64) {
	o.step++
	t := float64(o.step)
	bc1 := 1 - math.Pow(o.cfg.Beta1, t)
	bc2 := 1 - math.Pow(o.cfg.Beta2, t)
	c := &o.cur
	c.scale = float32(gradScale)
	c.lr = float32(lr)
	c.decayMul = float32(1 - lr*o.cfg.WeightDecay)
	c.stepSize = float32(lr / bc1)
	c.bc2Sqrt = float32(math.Sqrt(bc2))
	c.eps = float32(o.cfg.Eps)
	c.b1, c.b2 = float32(o.cfg.Beta1), float32(o.cfg.Beta2)
	c.omb1, c.omb2 = float32(1-o.cfg.Beta1), float32(1-o.cfg.Beta2)
	o.pool.For(len(o.chunks), 1, o.updateFn)
}

func (o *AdamW) updateChunks(lo, hi int) {
	c := o.cur
	for ci := lo; ci < hi; ci++ {
		ch := o.chunks[ci]
		p := o.params[ch.param]
		w := p.Data[ch.lo:ch.hi]
		g := p.Grad[ch.lo:ch.hi]
		m := o.m[ch.param][ch.lo:ch.hi]
		v := o.v[ch.param][ch.lo:ch.hi]
		g = g[:len(w)]
		m = m[:len(w)]
		v = v[:len(w)]
		decay := p.Decay && o.cfg.WeightDecay != 0
		for i := range w {
			gi := g[i] * c.scale
			mi := c.b1*m[i] + c.omb1*gi
			vi := c.b2*v[i] + c.omb2*gi*gi
			m[i], v[i] = mi, vi
			wi := w[i]
			if decay {
				wi *= c.decayMul
			}
			denom := float32(math.Sqrt(float64(vi)))/c.bc2Sqrt + c.eps
			w[i] = wi - c.stepSize*mi/denom
		}
	}
}

// AccumulateGrads adds src[i] into parameter i's Grad (copies when first),
// in parallel over the same chunks as the update. Use it for gradient
// accumulation with Grad buffers owned by the caller: src is the model's
// per-micro-batch gradient, ordered like Params.
func (o *AdamW) AccumulateGrads(src [][]float32, first bool) error {
	if len(src) != len(o.params) {
		return fmt.Errorf("adamw: %d gradient tensors for %d parameters", len(src), len(o.params))
	}
	for i, p := range o.params {
		if len(src[i]) != len(p.Grad) {
			return fmt.Errorf("adamw: gradient for %s has %d values, want %d", p.Name, len(src[i]), len(p.Grad))
		}
	}
	o.accSrc, o.accFirst = src, first
	o.pool.For(len(o.chunks), 1, o.accFn)
	o.accSrc = nil
	return nil
}

func (o *AdamW) accChunks(lo, hi int) {
	for c := lo; c < hi; c++ {
		ch := o.chunks[c]
		dst := o.params[ch.param].Grad[ch.lo:ch.hi]
		src := o.accSrc[ch.param][ch.lo:ch.hi]
		src = src[:len(dst)]
		if o.accFirst {
			copy(dst, src)
			continue
		}
		for i, g := range src {
			dst[i] += g
		}
	}
}

// Moments returns the first and second moment buffers of parameter i (live
// slices, for checkpointing).
func (o *AdamW) Moments(i int) (m, v []float32) { return o.m[i], o.v[i] }

// Restore sets the step counter and the moments from a checkpoint. m and v
// must be ordered like Params and have matching lengths.
func (o *AdamW) Restore(step int64, m, v [][]float32) error {
	if step < 0 {
		return fmt.Errorf("adamw restore: negative step %d", step)
	}
	if len(m) != len(o.params) || len(v) != len(o.params) {
		return fmt.Errorf("adamw restore: %d/%d moment tensors for %d parameters", len(m), len(v), len(o.params))
	}
	for i, p := range o.params {
		if len(m[i]) != len(p.Data) || len(v[i]) != len(p.Data) {
			return fmt.Errorf("adamw restore: %s: moments have %d/%d values, want %d", p.Name, len(m[i]), len(v[i]), len(p.Data))
		}
	}
	for i := range o.params {
		copy(o.m[i], m[i])
		copy(o.v[i], v[i])
	}
	o.step = step
	return nil
}
