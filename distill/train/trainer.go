package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/distill/onpolicy"
	"github.com/distill-ml/distill/internal/sysmem"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/checkpoint"
	"github.com/distill-ml/distill/model/student"
	"github.com/distill-ml/distill/num/parallel"
	"github.com/distill-ml/distill/optim"
)

// Model is the student as the trainer drives it; *student.Model is one.
type Model interface {
	// Params lists the trainable tensors in a fixed order; the slices stay
	// valid for the model's lifetime. Data is updated in place; every
	// ForwardBackward overwrites Grad with that batch's gradient.
	Params() []optim.Param
	// ForwardBackward computes the loss on b and sets every Param.Grad to
	// its gradient (overwriting, not accumulating).
	ForwardBackward(b *batch.Batch) (loss.Terms, error)
	// Evaluate computes the loss and metrics on b without touching gradients.
	Evaluate(b *batch.Batch) (loss.Terms, loss.Metrics, error)
}

// Teacher is a teacher asked during training; *onpolicy.Local is one.
type Teacher interface {
	// Score returns a copy of b carrying the teacher's distribution at every
	// loss position, and dense logits [B*T*V] when it gives full
	// distributions (nil: the copy's top-k + tail).
	Score(b *batch.Batch) (*batch.Batch, []float32, onpolicy.Stats, error)
}

// denseModel trains on dense teacher logits (*student.Model).
type denseModel interface {
	ForwardBackwardDense(b *batch.Batch, teacherLogits []float32) (loss.Terms, error)
}

// sampledModel trains under another objective for one batch and samples
// (*student.Model): what on-policy mode needs of the student.
type sampledModel interface {
	denseModel
	onpolicy.LogitsModel
	ForwardBackwardObjective(b *batch.Batch, teacherLogits []float32, obj loss.Config) (loss.Terms, error)
}

// Loader yields training batches forever (epochs wrap) in a deterministic
// order, and can save and restore its position exactly.
type Loader interface {
	Next() (*batch.Batch, error)
	State() (json.RawMessage, error)
	Restore(state json.RawMessage) error
}

// Setup is everything a run needs, already loaded and checked.
type Setup struct {
	Config        Config
	Student       student.Config
	TokenizerHash string
	TokenizerPath string // copied into every checkpoint ("" = none)
	Model         Model
	Train         Loader
	Validation    []*batch.Batch // the fixed held-out set evaluated every eval_every updates

	// Resume is a checkpoint directory (or a root of step-* dirs) to continue from.
	Resume string
	// StopAfter ends the run, with a checkpoint, after this many updates in
	// total (0 = run to Config.Train.Steps). The schedule still spans Steps.
	StopAfter int
	// Overwrite starts afresh in a non-empty OutDir, deleting the previous
	// run's outputs (checkpoints/, metrics.jsonl, loss.png, config.json);
	// without it or Resume, Run refuses a non-empty OutDir.
	Overwrite bool

	// Teacher, when set (teacher.local.model; Prepare loads it), scores
	// every training batch in place of its stored signals; on-policy mode
	// needs it. EOS ends the student's sampled completions (-1: none).
	Teacher Teacher
	EOS     int32

	Log      io.Writer // progress and eval lines (stderr); nil = discard
	Terminal bool      // Log is a terminal: draw a progress bar instead of lines
	Pool     *parallel.Pool
	Now      func() time.Time // nil = time.Now
	// CPUTime is the process's CPU time so far (every thread, user +
	// system); nil = getrusage. Each train row of metrics.jsonl records its
	// update's share (cpu_s).
	CPUTime func() time.Duration

	spec     student.Spec // Student checked with Config.Loss, by Prepare
	prepared bool         // Prepare validated Config; Run validates a hand-made Setup
}

// Result summarises a finished (or stopped) run.
type Result struct {
	Steps        int     // updates completed in total
	Skipped      int64   // updates dropped by nan_policy: skip
	TrainLoss    float64 // loss of the last update
	EvalLoss     float64 // held-out loss of the last evaluation (NaN if none)
	FirstEval    float64 // held-out loss of the first evaluation of this process
	Perplexity   float64
	Checkpoint   string // last checkpoint written
	MetricsPath  string
	PlotPath     string
	Interrupted  bool
	TrainHistory []float64 // per-update loss of this process, in order
}

// ErrInterrupted is returned (wrapped) when the context was cancelled: the
// run saved a checkpoint and stopped.
var ErrInterrupted = errors.New("training interrupted")

// NonFiniteError reports a NaN/Inf loss or gradient at an update.
type NonFiniteError struct {
	Step int // 1-based update number
	What string
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("step %d: %s is not finite (nan_policy: stop); no update applied and no checkpoint written for it", e.Step, e.What)
}

type trainer struct {
	s          Setup
	p          LoopConfig
	params     []optim.Param // the model's, Grad its own buffers
	opt        *optim.AdamW
	acc        [][]float32 // gradient accumulators (accumulation > 1), else nil
	modelGrads [][]float32 // the model's Grad buffers, ordered like params
	sched      optim.Schedule
	rng        *rand.PCG
	state      checkpoint.State
	metrics    *metricsLog
	prog       *runProgress
	ckptDir    string
	now        func() time.Time
	cpuTime    func() time.Duration
	savedStep  int64 // step of the last checkpoint written by this process, -1 none

	// Online teacher and on-policy mode (nil / zero without them).
	rollout        *onpolicy.Rollout
	sampler        onpolicy.Sampler
	runtimeSampler *onpolicy.RuntimeSampler // the sampler when it is a gguf export, else nil
	refreshedAt    int                      // update whose weights the runtime sampler holds
	sampled        loss.Config              // the objective on sampled positions
	sampleRNG      *rand.Rand               // draws from rng (whose state the checkpoint keeps)
	passes         int                      // forward/backward passes of the current update
	online         onlineRecord
}

// Run trains until Config.Train.Steps (or StopAfter) updates, the context is
// cancelled, or a non-finite value stops it. The config of a Setup from
// Prepare was validated there; Run validates one made otherwise.
func Run(ctx context.Context, s Setup) (*Result, error) {
	if !s.prepared {
		if err := s.Config.Validate(); err != nil {
			return nil, err
		}
	}
	if s.Model == nil || s.Train == nil {
		return nil, errors.New("train: no model or loader")
	}
	if len(s.Validation) == 0 {
		return nil, errors.New("train: empty validation set")
	}
	t := &trainer{s: s, p: s.Config.Train, sched: s.Config.Train.schedule(), now: s.Now, savedStep: -1}
	if t.cpuTime = s.CPUTime; t.cpuTime == nil {
		t.cpuTime = sysmem.CPUTime
	}
	if t.now == nil {
		t.now = time.Now
	}
	if s.Log == nil {
		t.s.Log = io.Discard
	}
	t.params = s.Model.Params()
	if err := t.setupOnline(); err != nil {
		return nil, err
	}
	if rs := t.runtimeSampler; rs != nil { // its GGUF is a cache of the weights: gone with the run
		defer func() {
			rs.Close()
			os.Remove(filepath.Join(s.Config.OutDir, samplerFile))
		}()
	}
	// With accumulation the optimizer reads accumulators that the model's
	// per-micro-batch gradients are added into; else the model's own.
	optParams := t.params
	if t.p.Accumulation > 1 || t.rollout != nil { // on-policy: up to two passes per micro-batch
		optParams = make([]optim.Param, len(t.params))
		t.acc = make([][]float32, len(t.params))
		for i, p := range t.params {
			t.modelGrads = append(t.modelGrads, p.Grad)
			t.acc[i] = make([]float32, len(p.Grad))
			optParams[i] = p
			optParams[i].Grad = t.acc[i]
		}
	}
	var err error
	if t.opt, err = optim.NewAdamW(t.p.AdamWConfig, optParams, s.Pool); err != nil {
		return nil, err
	}
	t.rng = rand.NewPCG(uint64(t.p.Seed), 0x9e3779b97f4a7c15)
	t.sampleRNG = rand.New(t.rng)
	t.ckptDir = filepath.Join(s.Config.OutDir, "checkpoints")
	if err := claimOutDir(s.Config.OutDir, s.Config.Init, s.Resume != "", s.Overwrite); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.Config.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if s.Resume != "" {
		if err := t.resume(s.Resume); err != nil {
			return nil, err
		}
	} else if s.Config.Init != "" {
		if err := t.initFrom(s.Config.Init); err != nil {
			return nil, err
		}
	}
	if err := writeRunConfig(s); err != nil {
		return nil, err
	}
	if t.metrics, err = openMetrics(s.Config.OutDir, int(t.state.Step)); err != nil {
		return nil, err
	}
	defer t.metrics.close()
	return t.loop(ctx)
}

// initFrom copies the weights of the checkpoint at path into the model
// (Config.Init); the optimizer, schedule, data order and step start fresh.
// A Hugging Face directory or a GGUF file (checkpoint.OpenPretrained) is
// read directly; Prepare took the student architecture from it.
func (t *trainer) initFrom(path string) error {
	ck, err := checkpoint.OpenPretrained(path)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if ck.Config != t.s.Student {
		return fmt.Errorf("init %s: checkpoint student %+v differs from the configured %+v", ck.Source, ck.Config, t.s.Student)
	}
	hash := ck.TokenizerHash
	if hash == "" {
		tok, err := ck.LoadTokenizer()
		if err != nil {
			return fmt.Errorf("init: %w", err)
		}
		hash = tok.Hash()
	}
	if hash != t.s.TokenizerHash {
		return fmt.Errorf("init %s: checkpoint tokenizer %s differs from %s", ck.Source, hash, t.s.TokenizerHash)
	}
	if _, err := t.copyWeights("init", ck.Source, ck.Weights); err != nil {
		return err
	}
	fmt.Fprintf(t.s.Log, "initialized from %s\n", ck.Source)
	return nil
}

// loadWeights loads the distill checkpoint at path, checks that it was
// written for this student and tokenizer, and copies its tensor of each
// parameter into the model. It returns the checkpoint and its tensors no
// parameter took; op ("resume") starts every error.
func (t *trainer) loadWeights(op, path string) (*checkpoint.Checkpoint, map[string]checkpoint.Tensor, error) {
	ck, err := checkpoint.Load(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	if ck.Meta.Student != t.s.Student {
		return nil, nil, fmt.Errorf("%s %s: checkpoint student %+v differs from the configured %+v", op, ck.Dir, ck.Meta.Student, t.s.Student)
	}
	if ck.Meta.TokenizerHash != t.s.TokenizerHash {
		return nil, nil, fmt.Errorf("%s %s: checkpoint tokenizer %s differs from %s", op, ck.Dir, ck.Meta.TokenizerHash, t.s.TokenizerHash)
	}
	unused, err := t.copyWeights(op, ck.Dir, ck.Weights)
	if err != nil {
		return nil, nil, err
	}
	return ck, unused, nil
}

// copyWeights copies the tensor of each parameter from tensors (read from
// source) into the model and returns the tensors no parameter took.
func (t *trainer) copyWeights(op, source string, tensors []checkpoint.Tensor) (map[string]checkpoint.Tensor, error) {
	weights := make(map[string]checkpoint.Tensor, len(tensors))
	for _, w := range tensors {
		weights[w.Name] = w
	}
	for _, p := range t.params {
		w, ok := weights[p.Name]
		if !ok {
			return nil, fmt.Errorf("%s %s: %s lacks tensor %s", op, source, checkpoint.ModelFile, p.Name)
		}
		if len(w.Data) != len(p.Data) {
			return nil, fmt.Errorf("%s %s: tensor %s has %d values, the model %d", op, source, p.Name, len(w.Data), len(p.Data))
		}
		copy(p.Data, w.Data)
		delete(weights, p.Name)
	}
	return weights, nil
}

func (t *trainer) resume(path string) error {
	ck, unused, err := t.loadWeights("resume", path)
	if err != nil {
		return err
	}
	for name := range unused {
		return fmt.Errorf("resume %s: tensor %s is not a parameter of this model", ck.Dir, name)
	}
	moments := make(map[string]checkpoint.Tensor, len(ck.Optimizer))
	for _, m := range ck.Optimizer {
		moments[m.Name] = m
	}
	ms, vs := make([][]float32, len(t.params)), make([][]float32, len(t.params))
	for i, p := range t.params {
		ms[i] = moments[checkpoint.MomentName(p.Name, "exp_avg")].Data
		vs[i] = moments[checkpoint.MomentName(p.Name, "exp_avg_sq")].Data
	}
	if err := t.opt.Restore(ck.State.OptimizerStep, ms, vs); err != nil {
		return fmt.Errorf("resume %s: %w", ck.Dir, err)
	}
	if err := t.s.Train.Restore(ck.State.Loader); err != nil {
		return fmt.Errorf("resume %s: data loader: %w", ck.Dir, err)
	}
	if len(ck.State.RNG) > 0 {
		if err := t.rng.UnmarshalBinary(ck.State.RNG); err != nil {
			return fmt.Errorf("resume %s: rng: %w", ck.Dir, err)
		}
	}
	if ck.State.Step > int64(t.p.Steps) {
		return fmt.Errorf("resume %s: checkpoint is at step %d, beyond train.steps %d", ck.Dir, ck.State.Step, t.p.Steps)
	}
	t.state = ck.State
	fmt.Fprintf(t.s.Log, "resumed from %s at step %d\n", ck.Dir, ck.State.Step)
	return nil
}

func (t *trainer) loop(ctx context.Context) (*Result, error) {
	res := &Result{EvalLoss: math.NaN(), FirstEval: math.NaN(), MetricsPath: t.metrics.path, PlotPath: filepath.Join(t.s.Config.OutDir, "loss.png")}
	end := t.p.Steps
	if t.s.StopAfter > 0 && t.s.StopAfter < end {
		end = t.s.StopAfter
	}
	t.prog = newProgress(t.s.Log, t.s.Terminal, int(t.state.Step), t.p.Steps, t.p.LogEvery, t.now)
	defer t.prog.finish()
	consecutiveSkips := 0
	start := int(t.state.Step)
	if start == 0 {
		// The untrained model's held-out loss: the baseline the curve falls from.
		if err := t.evaluate(0, res); err != nil {
			return res, err
		}
	}
	for step := start; step < end; step++ {
		if ctx.Err() != nil {
			return t.stop(res, step, true)
		}
		began, cpuBegan := t.now(), t.cpuTime()
		terms, norm, bad, err := t.computeGradients(step)
		if err != nil {
			return res, err
		}
		if bad != "" {
			if t.p.NaNPolicy == NaNStop {
				t.prog.finish()
				res.Steps = int(t.state.Step)
				return res, &NonFiniteError{Step: step + 1, What: bad}
			}
			consecutiveSkips++
			t.state.SkippedSteps++
			t.state.Step++
			res.Skipped = t.state.SkippedSteps
			t.metrics.skip(step+1, bad)
			fmt.Fprintf(t.prog.lineWriter(), "step %d: %s is not finite; update skipped (nan_policy: skip, %d in a row)\n", step+1, bad, consecutiveSkips)
			if consecutiveSkips >= t.p.MaxSkips {
				return res, fmt.Errorf("step %d: %d consecutive updates skipped for non-finite values (max_skips %d); stopping", step+1, consecutiveSkips, t.p.MaxSkips)
			}
			continue
		}
		consecutiveSkips = 0
		lr := t.sched.LR(step)
		scale := 1 / float64(t.passes)
		t.opt.Step(lr, scale*optim.ClipScale(norm, t.p.Clip))
		t.state.Step++
		t.state.OptimizerStep = t.opt.Steps()
		t.state.TokensSeen += int64(terms.Tokens)
		t.state.LR = lr
		inputTokens := t.p.Accumulation * t.p.BatchSize * t.p.SeqLen
		dt := t.now().Sub(began).Seconds()
		cpu := (t.cpuTime() - cpuBegan).Seconds()
		res.TrainLoss = terms.Total
		res.TrainHistory = append(res.TrainHistory, terms.Total)
		rec := trainRecord{Kind: "train", Step: step + 1, Loss: terms.Total, CE: terms.CE, KL: terms.KL, MSE: terms.MSE,
			Tokens: terms.Tokens, LR: lr, GradNorm: norm, TokensPerSec: float64(inputTokens) / math.Max(dt, 1e-9), StepSeconds: dt, CPUSeconds: cpu}
		if t.s.Teacher != nil {
			rec.Online = t.online.finish(dt)
		}
		t.metrics.train(rec)
		t.prog.update(step+1, terms.Total, lr, norm, inputTokens)
		done := step+1 == end
		if (step+1)%t.p.EvalEvery == 0 || done {
			if err := t.evaluate(step+1, res); err != nil {
				return res, err
			}
		}
		if (step+1)%t.p.CheckpointEvery == 0 || done {
			if err := t.save(res); err != nil {
				return res, err
			}
		}
	}
	res.Steps = int(t.state.Step)
	if t.s.StopAfter > 0 && end < t.p.Steps {
		fmt.Fprintf(t.prog.lineWriter(), "stopped after step %d of %d; resume with --resume %s\n", end, t.p.Steps, res.Checkpoint)
	}
	return res, nil
}

// stop handles cancellation: checkpoint the current (clean) state and return ErrInterrupted.
func (t *trainer) stop(res *Result, step int, interrupted bool) (*Result, error) {
	res.Steps = int(t.state.Step)
	res.Interrupted = interrupted
	if t.savedStep != t.state.Step {
		if err := t.save(res); err != nil {
			return res, fmt.Errorf("%w at step %d, and the checkpoint failed: %v", ErrInterrupted, step, err)
		}
	}
	return res, fmt.Errorf("%w at step %d; checkpoint %s (continue with --resume %s)", ErrInterrupted, step, res.Checkpoint, res.Checkpoint)
}

// computeGradients runs the accumulation micro-batches of update `step` and
// returns the mean terms, the global norm of the averaged gradient, and a
// description of the first non-finite value ("" when all is finite).
func (t *trainer) computeGradients(step int) (loss.Terms, float64, string, error) {
	var sum loss.Terms
	var wsum, ceW float64
	t.passes = 0
	t.online = onlineRecord{}
	for micro := 0; micro < t.p.Accumulation; micro++ {
		b, err := t.s.Train.Next()
		if err != nil {
			return sum, 0, "", fmt.Errorf("step %d: next batch: %w", step+1, err)
		}
		if err := b.Validate(t.s.Student.VocabSize); err != nil {
			return sum, 0, "", fmt.Errorf("step %d: %w", step+1, err)
		}
		parts := [2]part{{b: b}}
		if t.rollout != nil {
			if parts, err = t.split(step, b); err != nil {
				return sum, 0, "", fmt.Errorf("step %d: %w", step+1, err)
			}
		}
		for _, pt := range parts {
			if pt.b == nil {
				continue
			}
			terms, err := t.pass(pt)
			if err != nil {
				return sum, 0, "", fmt.Errorf("step %d: %w", step+1, err)
			}
			for _, v := range []struct {
				name string
				x    float64
			}{{"loss", terms.Total}, {"CE term", terms.CE}, {"KL term", terms.KL}, {"MSE term", terms.MSE}} {
				if math.IsNaN(v.x) || math.IsInf(v.x, 0) {
					return terms, 0, fmt.Sprintf("%s (%v)", v.name, v.x), nil
				}
			}
			if t.acc != nil {
				if err := t.opt.AccumulateGrads(t.modelGrads, t.passes == 0); err != nil {
					return sum, 0, "", fmt.Errorf("step %d: %w", step+1, err)
				}
			}
			t.passes++
			w := float64(terms.Tokens)
			sum.Total += terms.Total * w
			if !pt.sampled { // CE on the student's own samples is not in the objective
				sum.CE += terms.CE * w
				ceW += w
			}
			sum.KL += terms.KL * w
			sum.MSE += terms.MSE * w
			sum.Tokens += terms.Tokens
			sum.KLTokens += terms.KLTokens
			wsum += w
		}
	}
	if wsum > 0 {
		sum.Total /= wsum
		sum.KL /= wsum
		sum.MSE /= wsum
	}
	if ceW > 0 {
		sum.CE /= ceW
	}
	if t.passes == 0 {
		return sum, 0, "", fmt.Errorf("step %d: no batch had a loss position", step+1)
	}
	norm := t.opt.GradNorm(1 / float64(t.passes))
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return sum, norm, "gradient norm (" + t.firstBadGrad() + ")", nil
	}
	return sum, norm, "", nil
}

func (t *trainer) firstBadGrad() string {
	for i, p := range t.params {
		g := p.Grad
		if t.acc != nil {
			g = t.acc[i]
		}
		if j := checkpoint.FirstNonFinite(g); j >= 0 {
			return fmt.Sprintf("%s[%d] = %v", p.Name, j, g[j])
		}
	}
	return "overflow in the sum of squares"
}

func (t *trainer) evaluate(step int, res *Result) error {
	var sum loss.Terms
	var m loss.Metrics
	var agree, acc float64
	for i, b := range t.s.Validation {
		terms, met, err := t.s.Model.Evaluate(b)
		if err != nil {
			return fmt.Errorf("step %d: evaluate validation batch %d: %w", step, i, err)
		}
		w := float64(terms.Tokens)
		sum.Total += terms.Total * w
		sum.CE += terms.CE * w
		sum.KL += terms.KL * w
		sum.MSE += terms.MSE * w
		sum.Tokens += terms.Tokens
		acc += met.Accuracy * float64(met.Tokens)
		m.Tokens += met.Tokens
		agree += met.TeacherAgreement * float64(met.TeacherTokens)
		m.TeacherTokens += met.TeacherTokens
	}
	if sum.Tokens == 0 {
		return fmt.Errorf("step %d: the validation set has no loss tokens", step)
	}
	w := float64(sum.Tokens)
	rec := evalRecord{Kind: "eval", Step: step, Loss: sum.Total / w, CE: sum.CE / w, KL: sum.KL / w, MSE: sum.MSE / w, Tokens: sum.Tokens}
	rec.Perplexity = math.Exp(rec.CE)
	if m.Tokens > 0 {
		rec.Accuracy = acc / float64(m.Tokens)
	}
	if m.TeacherTokens > 0 {
		a := agree / float64(m.TeacherTokens)
		rec.Top1Agreement = &a
	}
	if math.IsNaN(rec.Loss) || math.IsInf(rec.Loss, 0) {
		return &NonFiniteError{Step: step, What: "held-out loss"}
	}
	res.EvalLoss, res.Perplexity = rec.Loss, rec.Perplexity
	if math.IsNaN(res.FirstEval) {
		res.FirstEval = rec.Loss
	}
	t.metrics.eval(rec)
	if t.metrics.err != nil {
		return fmt.Errorf("step %d: write %s: %w", step, t.metrics.path, t.metrics.err)
	}
	line := fmt.Sprintf("eval step %d: loss %.4f  ce %.4f  ppl %.2f  acc %.3f", step, rec.Loss, rec.CE, rec.Perplexity, rec.Accuracy)
	if rec.Top1Agreement != nil {
		line += fmt.Sprintf("  teacher top-1 agreement %.3f", *rec.Top1Agreement)
	}
	fmt.Fprintln(t.prog.lineWriter(), line)
	if err := t.metrics.plot(filepath.Join(t.s.Config.OutDir, "loss.png")); err != nil {
		return fmt.Errorf("step %d: %w", step, err)
	}
	return nil
}

func (t *trainer) save(res *Result) error {
	if err := t.metrics.sync(); err != nil { // rows up to the checkpoint survive a crash with it
		return fmt.Errorf("step %d: %w", t.state.Step, err)
	}
	c := &checkpoint.Checkpoint{
		Meta:          checkpoint.Meta{Student: t.s.Student, TokenizerHash: t.s.TokenizerHash},
		State:         t.state,
		TokenizerPath: t.s.TokenizerPath,
	}
	var err error
	if c.Meta.Loss, err = json.Marshal(t.s.Config.Loss); err != nil {
		return err
	}
	if c.Meta.Training, err = json.Marshal(t.s.Config); err != nil {
		return err
	}
	if c.State.Loader, err = t.s.Train.State(); err != nil {
		return fmt.Errorf("step %d: data loader state: %w", t.state.Step, err)
	}
	if c.State.RNG, err = t.rng.MarshalBinary(); err != nil {
		return err
	}
	for i, p := range t.params {
		m, v := t.opt.Moments(i)
		c.Weights = append(c.Weights, checkpoint.Tensor{Name: p.Name, Shape: p.Shape, Data: p.Data})
		c.Optimizer = append(c.Optimizer,
			checkpoint.Tensor{Name: checkpoint.MomentName(p.Name, "exp_avg"), Shape: p.Shape, Data: m},
			checkpoint.Tensor{Name: checkpoint.MomentName(p.Name, "exp_avg_sq"), Shape: p.Shape, Data: v})
	}
	dir, err := checkpoint.Save(t.ckptDir, c, t.p.Keep)
	if err != nil {
		return err
	}
	res.Checkpoint = dir
	t.savedStep = t.state.Step
	fmt.Fprintf(t.prog.lineWriter(), "checkpoint step %d: %s\n", t.state.Step, dir)
	return nil
}

func writeRunConfig(s Setup) error {
	b, err := json.MarshalIndent(struct {
		Student       student.Config `json:"student"`
		TokenizerHash string         `json:"tokenizer_hash"`
		Config        Config         `json:"config"`
	}{s.Student, s.TokenizerHash, s.Config}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.Config.OutDir, "config.json"), append(b, '\n'))
}
