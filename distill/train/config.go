package train

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/distill/onpolicy"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/student"
	"github.com/distill-ml/distill/optim"
)

// Config is a training run, as written in a YAML file (configs/train-*.yaml)
// and decoded strictly by configs.Load. See docs in configs/train-kd.yaml.
type Config struct {
	// Model names the student architecture: an embedded preset ("tiny",
	// "mobilellm-125m", ...) or a YAML file holding a student.Config.
	Model string `yaml:"model" json:"model"`
	// Student is an inline architecture; when set, Model must be empty.
	Student *student.Config `yaml:"student" json:"student,omitempty"`
	// Tokenizer is the student's tokenizer.json. Empty: the tokenizer.json
	// inside the training dataset directory.
	Tokenizer string `yaml:"tokenizer" json:"tokenizer"`
	// Policy is a dataset policy (file or embedded preset). When set, every
	// row of both datasets is checked against it before training, and a row
	// whose stored signals the policy forbids for its class is refused.
	Policy string      `yaml:"policy" json:"policy"`
	Loss   loss.Config `yaml:"loss" json:"loss"`
	Data   DataConfig  `yaml:"data" json:"data"`
	Train  LoopConfig  `yaml:"train" json:"train"`
	// Init is a checkpoint (a step directory, or a checkpoints root: the
	// newest) whose weights start the run — a pretrained model fine-tuned
	// here — with a fresh optimizer, schedule and step count. Its student
	// architecture and tokenizer must be the run's. "" = random init.
	// Ignored when resuming (the resumed checkpoint holds the weights).
	Init string `yaml:"init" json:"init,omitempty"`
	// Teacher is a teacher asked during training (teacher.local.model: a
	// GGUF run by the runtime) instead of the signals stored in the dataset;
	// on-policy mode (train.on_policy) needs it.
	Teacher onpolicy.TeacherConfig `yaml:"teacher" json:"teacher"`
	// OutDir receives metrics.jsonl, loss.png, config.json and checkpoints/.
	OutDir string `yaml:"out_dir" json:"out_dir"`
}

// DataConfig names the dataset directories (written by `distill data import`).
type DataConfig struct {
	Train           string `yaml:"train" json:"train"`                       // dataset directory
	Validation      string `yaml:"validation" json:"validation"`             // dataset directory (may equal train)
	TrainSplit      string `yaml:"train_split" json:"train_split"`           // rows of this split train ("" = all)
	ValidationSplit string `yaml:"validation_split" json:"validation_split"` // rows of this split evaluate ("" = all)
	Packing         string `yaml:"packing" json:"packing"`                   // auto (whole with teacher signals, else concat) | concat | whole (see data/loader)
	EvalBatches     int    `yaml:"eval_batches" json:"eval_batches"`         // held-out batches per evaluation
}

// Activation recomputation (train.recompute).
const (
	RecomputeNone   = "none"   // keep every block's activations for the backward pass (default)
	RecomputeBlocks = "blocks" // keep each block's input only and recompute its forward before its backward (student.Model.SetRecompute)
)

// NaN policies.
const (
	NaNStop = "stop" // stop the run, naming the step (default)
	NaNSkip = "skip" // drop the update and go on (stops after MaxSkips in a row)
)

// LoopConfig is the training loop (the train: section): batch shape,
// schedule, optimizer, evaluation and checkpoint cadence, NaN policy, seed.
type LoopConfig struct {
	BatchSize    int     `yaml:"batch_size" json:"batch_size"`     // sequences per micro-batch
	SeqLen       int     `yaml:"seq_len" json:"seq_len"`           // tokens per sequence (≤ context_length)
	Steps        int     `yaml:"steps" json:"steps"`               // optimizer updates
	Accumulation int     `yaml:"accumulation" json:"accumulation"` // micro-batches per update
	LR           float64 `yaml:"lr" json:"lr"`                     // peak learning rate
	MinLR        float64 `yaml:"min_lr" json:"min_lr"`             // cosine floor
	Warmup       int     `yaml:"warmup" json:"warmup"`             // linear warmup updates
	// AdamW's beta1, beta2, eps and weight_decay (decoupled decay, only for
	// parameters with Decay), as keys of this section.
	optim.AdamWConfig `yaml:",inline"`
	Clip              float64 `yaml:"clip" json:"clip"`                         // global gradient-norm clip, 0 = off
	EvalEvery         int     `yaml:"eval_every" json:"eval_every"`             // updates between evaluations
	CheckpointEvery   int     `yaml:"checkpoint_every" json:"checkpoint_every"` // updates between checkpoints
	Keep              int     `yaml:"keep" json:"keep"`                         // checkpoints kept (newest), 0 = all
	LogEvery          int     `yaml:"log_every" json:"log_every"`               // updates between plain progress lines
	NaNPolicy         string  `yaml:"nan_policy" json:"nan_policy"`             // stop | skip
	MaxSkips          int     `yaml:"max_skips" json:"max_skips"`               // consecutive skipped updates before stopping
	Seed              int64   `yaml:"seed" json:"seed"`                         // weights init, data order, RNG
	Threads           int     `yaml:"threads" json:"threads"`                   // compute threads, 0 = all cores
	Recompute         string  `yaml:"recompute" json:"recompute"`               // none | blocks: activation recomputation per block
	// OnPolicy samples completions from the student for a fraction of the
	// prompts, scored by the online teacher (see distill/onpolicy).
	OnPolicy onpolicy.Config `yaml:"on_policy" json:"on_policy"`
}

// DefaultsPreset is the embedded config holding the default of every key
// (configs/train-defaults.yaml), the one source of the defaults.
const DefaultsPreset = "train-defaults"

// Defaults decodes DefaultsPreset. Load applies it before decoding a file, so
// a file sets only what it changes.
func Defaults() (Config, error) {
	raw, err := configs.Preset(DefaultsPreset)
	if err != nil {
		return Config{}, err
	}
	var c Config
	if err := configs.Decode("preset:"+DefaultsPreset, raw, &c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Load decodes a training config file or embedded preset (strict; overrides
// are dotted key=value pairs such as train.lr=3e-4) on top of Defaults. It
// does not validate: Prepare does, once, before the run (Validate for a
// config used otherwise).
func Load(path string, overrides ...string) (Config, error) {
	c, err := Defaults()
	if err != nil {
		return Config{}, err
	}
	if err := configs.Load(path, &c, overrides...); err != nil {
		// A student architecture (e.g. the preset tiny) is chosen by a
		// training config's model key, not given as the config itself.
		if _, serr := LoadStudent(path); serr == nil {
			return Config{}, fmt.Errorf("config %s is a model (student architecture), not a training config: choose it with --set model=%s on a training config (e.g. --config train-kd --set model=%s)", path, path, path)
		}
		return Config{}, err
	}
	return c, nil
}

// Validate checks everything that does not need the disk.
func (c Config) Validate() error {
	var errs []error
	if c.Model == "" && c.Student == nil {
		errs = append(errs, errors.New("model: name a preset (tiny, mobilellm-125m, ...) or a file, or give student: inline"))
	}
	if c.Model != "" && c.Student != nil {
		errs = append(errs, errors.New("model and student are exclusive"))
	}
	if err := c.Loss.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Data.Train == "" {
		errs = append(errs, errors.New("data.train: a dataset directory is required"))
	}
	if c.Data.Validation == "" {
		errs = append(errs, errors.New("data.validation: a dataset directory is required"))
	}
	switch c.Data.Packing {
	case "auto", "concat", "whole":
	default:
		errs = append(errs, fmt.Errorf("data.packing must be auto, concat or whole, got %q", c.Data.Packing))
	}
	if c.Data.Train == c.Data.Validation && c.Data.TrainSplit == c.Data.ValidationSplit {
		errs = append(errs, fmt.Errorf("data: validation is the training data (same directory and split %q): the held-out loss would not be held out", c.Data.TrainSplit))
	}
	if c.Data.EvalBatches <= 0 || c.Data.EvalBatches > 100000 {
		errs = append(errs, fmt.Errorf("data.eval_batches must be in [1, 100000], got %d", c.Data.EvalBatches))
	}
	if c.OutDir == "" {
		errs = append(errs, errors.New("out_dir is required"))
	}
	p := c.Train
	rng := func(name string, v, lo, hi int) {
		if v < lo || v > hi {
			errs = append(errs, fmt.Errorf("train.%s must be in [%d, %d], got %d", name, lo, hi, v))
		}
	}
	rng("batch_size", p.BatchSize, 1, 1<<16)
	rng("seq_len", p.SeqLen, 2, 1<<20)
	rng("steps", p.Steps, 1, 1<<31-1)
	rng("accumulation", p.Accumulation, 1, 1<<16)
	rng("eval_every", p.EvalEvery, 1, 1<<31-1)
	rng("checkpoint_every", p.CheckpointEvery, 1, 1<<31-1)
	rng("keep", p.Keep, 0, 1<<20)
	rng("log_every", p.LogEvery, 1, 1<<31-1)
	rng("max_skips", p.MaxSkips, 1, 1<<20)
	rng("threads", p.Threads, 0, 1024)
	if err := p.schedule().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("train: %w", err))
	}
	if err := p.AdamWConfig.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("train: %w", err))
	}
	if !(p.Clip >= 0) {
		errs = append(errs, fmt.Errorf("train.clip must be >= 0, got %g", p.Clip))
	}
	if p.NaNPolicy != NaNStop && p.NaNPolicy != NaNSkip {
		errs = append(errs, fmt.Errorf("train.nan_policy must be %q or %q, got %q", NaNStop, NaNSkip, p.NaNPolicy))
	}
	if p.Recompute != RecomputeNone && p.Recompute != RecomputeBlocks {
		errs = append(errs, fmt.Errorf("train.recompute must be %q or %q, got %q", RecomputeNone, RecomputeBlocks, p.Recompute))
	}
	errs = append(errs, c.validateOnline()...)
	if len(errs) > 0 {
		return fmt.Errorf("training config: %w", errors.Join(errs...))
	}
	return nil
}

// validateOnline checks the teacher: and train.on_policy sections together
// with the rest of the config.
func (c Config) validateOnline() []error {
	var errs []error
	if err := c.Teacher.Validate(); err != nil {
		errs = append(errs, err)
	}
	op := c.Train.OnPolicy
	if err := op.Validate(); err != nil {
		errs = append(errs, err)
	}
	if op.Enabled() && !c.Teacher.Enabled() {
		errs = append(errs, errors.New("train.on_policy.lambda > 0 needs a teacher to score the student's samples: set teacher.local.model (a GGUF) or teacher.openai"))
	}
	if op.Enabled() && c.Data.Packing != "whole" {
		errs = append(errs, fmt.Errorf("train.on_policy needs data.packing: whole (one prompt per row), got %q", c.Data.Packing))
	}
	if c.Teacher.OpenAI != nil {
		if c.Policy == "" {
			errs = append(errs, errors.New("teacher.openai: a teacher that receives training rows (and the student's samples) needs policy: to decide which rows may be sent"))
		}
		if c.Loss.Temperature != 1 && (c.Loss.Alpha > 0 || op.Enabled()) {
			errs = append(errs, fmt.Errorf("teacher.openai gives top-k logprobs without the tempered tail that KL at loss.temperature %g needs; set loss.temperature: 1 (or use a local teacher)", c.Loss.Temperature))
		}
	}
	if c.Teacher.Enabled() {
		if c.Loss.Gamma > 0 {
			errs = append(errs, errors.New("teacher: the online teacher gives no hidden states yet; set loss.gamma: 0"))
		}
		if c.Loss.Alpha == 0 && !op.Enabled() {
			errs = append(errs, errors.New("teacher: a teacher is set, but loss.alpha is 0 and train.on_policy is off: it would never be asked"))
		}
	}
	return errs
}

func (p LoopConfig) schedule() optim.Schedule {
	return optim.Schedule{PeakLR: p.LR, MinLR: p.MinLR, WarmupSteps: p.Warmup, TotalSteps: p.Steps}
}

// ResolveStudent returns the student architecture, checked with the loss it
// trains on (student.Check): the inline one, or the preset/file named by
// Model. vocab fills a vocab_size of 0 (presets take the vocabulary from the
// tokenizer); a preset that fixes vocab_size must agree. c must be valid
// (Validate).
func (c Config) ResolveStudent(vocab int) (student.Spec, error) {
	var s student.Config
	if c.Student != nil {
		s = *c.Student
	} else {
		var err error
		if s, err = LoadStudent(c.Model); err != nil {
			return student.Spec{}, err
		}
	}
	if s.VocabSize == 0 {
		s.VocabSize = vocab
	} else if vocab > 0 && s.VocabSize != vocab {
		return student.Spec{}, fmt.Errorf("student vocab_size %d differs from the tokenizer's %d", s.VocabSize, vocab)
	}
	spec, err := student.Check(s, c.Loss)
	if err != nil {
		return student.Spec{}, err
	}
	if c.Train.SeqLen > s.ContextLength {
		return student.Spec{}, fmt.Errorf("train.seq_len %d exceeds the student's context_length %d", c.Train.SeqLen, s.ContextLength)
	}
	return spec, nil
}

// LoadStudent decodes a student architecture from an embedded preset or a
// YAML file (strict). vocab_size may be 0 (filled from the tokenizer later).
func LoadStudent(nameOrPath string, overrides ...string) (student.Config, error) {
	var s student.Config
	if err := configs.Load(nameOrPath, &s, overrides...); err != nil {
		return student.Config{}, err
	}
	return s, nil
}

// IsTrainingConfig reports whether a config file or preset is a training
// config (has a top-level model/student/train key) rather than a bare
// student architecture.
func IsTrainingConfig(nameOrPath string) (bool, error) {
	b, err := os.ReadFile(nameOrPath)
	if err != nil {
		if strings.ContainsAny(nameOrPath, `/\`) {
			return false, fmt.Errorf("config: %w", err)
		}
		if b, err = configs.Preset(nameOrPath); err != nil {
			return false, fmt.Errorf("config %s: no such file, and %w", nameOrPath, err)
		}
	}
	var top map[string]yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&top); err != nil {
		return false, nil // let the strict decoder report it
	}
	for _, k := range []string{"model", "student", "train", "loss", "data"} {
		if _, ok := top[k]; ok {
			return true, nil
		}
	}
	return false, nil
}
