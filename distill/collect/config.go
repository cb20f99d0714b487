package collect

import (
	"errors"
	"fmt"
	"time"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/distill/collect/ratelimit"
	"github.com/distill-ml/distill/distill/collect/retry"
	"github.com/distill-ml/distill/distill/collect/teacher"
)

// TeacherConfig picks and configures the teacher.
type TeacherConfig struct {
	Kind   string                `yaml:"kind" json:"kind"` // "openai" or "local"
	OpenAI *teacher.OpenAIConfig `yaml:"openai" json:"openai,omitempty"`
	Local  *teacher.LocalConfig  `yaml:"local" json:"local,omitempty"`
	// TokenizerHash declares the remote teacher's tokenizer. When it equals the
	// student's, teacher tokens map to student ids exactly and top-k is stored;
	// otherwise rows are text-only (CE-only) and the summary says so.
	TokenizerHash string `yaml:"tokenizer_hash" json:"tokenizer_hash"`
}

// Sampling is what the teacher is asked for.
type Sampling struct {
	MaxTokens   int      `yaml:"max_tokens" json:"max_tokens"`
	Temperature float64  `yaml:"temperature" json:"temperature"`
	TopP        float64  `yaml:"top_p" json:"top_p"`
	Seed        *int     `yaml:"seed" json:"seed"`
	Stop        []string `yaml:"stop" json:"stop"`
	System      string   `yaml:"system" json:"system"`
}

// Config is configs/collect-*.yaml.
type Config struct {
	Prompts      string `yaml:"prompts" json:"prompts"`             // JSONL: {prompt, completion?, class?, source?, split?}
	Source       string `yaml:"source" json:"source"`               // default source name for prompts without one
	DefaultClass string `yaml:"default_class" json:"default_class"` // policy class of prompts without one
	Out          string `yaml:"out" json:"out"`                     // output directory
	Policy       string `yaml:"policy" json:"policy"`               // policy YAML
	Tokenizer    string `yaml:"tokenizer" json:"tokenizer"`         // the student's tokenizer.json
	// AcknowledgeTerms must be true to collect from a teacher whose terms
	// restrict training on its outputs (see the policy).
	AcknowledgeTerms bool          `yaml:"acknowledge_terms" json:"acknowledge_terms"`
	Teacher          TeacherConfig `yaml:"teacher" json:"teacher"`
	Sampling         Sampling      `yaml:"sampling" json:"sampling"`
	TopK             int           `yaml:"top_k" json:"top_k"` // alternatives stored per position; default 32
	// KDTemperature > 0 stores, per position, the teacher's tail mass tempered
	// at this distillation temperature (dataset tail_temperature), which
	// training at loss.temperature = KDTemperature ≠ 1 needs. Local teacher
	// only: a remote one returns just its top-k. 0: none.
	KDTemperature float64          `yaml:"kd_temperature" json:"kd_temperature"`
	Concurrency   int              `yaml:"concurrency" json:"concurrency"`   // workers; default 4
	SegmentRows   int              `yaml:"segment_rows" json:"segment_rows"` // rows per committed segment; default 256
	Limits        ratelimit.Limits `yaml:"limits" json:"limits"`
	Retry         RetryConfig      `yaml:"retry" json:"retry"`
}

// RetryConfig is retry.Policy in config units: at most MaxAttempts tries of
// a request; waits of full jitter over BaseDelay·2^(attempt-1), never less
// than the server's Retry-After; MaxDelay caps every wait, Retry-After included.
type RetryConfig struct {
	MaxAttempts int           `yaml:"max_attempts" json:"max_attempts"`
	BaseDelay   time.Duration `yaml:"base_delay" json:"base_delay"`
	MaxDelay    time.Duration `yaml:"max_delay" json:"max_delay"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	configs.Default(&c.TopK, 32)
	configs.Default(&c.Concurrency, 4)
	configs.Default(&c.SegmentRows, 256)
	configs.Default(&c.Source, "prompts")
	configs.Default(&c.DefaultClass, "public")
	configs.Default(&c.Sampling.MaxTokens, 256)
	d := retry.Default()
	configs.Default(&c.Retry.MaxAttempts, d.MaxAttempts)
	configs.Default(&c.Retry.BaseDelay, d.BaseDelay)
	configs.Default(&c.Retry.MaxDelay, d.MaxDelay)
	if c.Teacher.OpenAI != nil && c.Teacher.OpenAI.Timeout == 0 {
		c.Teacher.OpenAI.Timeout = 60 * time.Second
	}
}

// RetryPolicy converts the retry settings.
func (c *Config) RetryPolicy() retry.Policy {
	return retry.Policy{MaxAttempts: c.Retry.MaxAttempts, BaseDelay: c.Retry.BaseDelay, MaxDelay: c.Retry.MaxDelay}
}

// Validate checks the config once, at the edge.
func (c *Config) Validate() error {
	var errs []error
	for _, f := range []struct{ k, v string }{{"prompts", c.Prompts}, {"out", c.Out}, {"policy", c.Policy}, {"tokenizer", c.Tokenizer}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s: required", f.k))
		}
	}
	switch c.Teacher.Kind {
	case "openai":
		if c.Teacher.OpenAI == nil {
			errs = append(errs, errors.New("teacher.openai: required for kind openai"))
		} else if err := c.Teacher.OpenAI.Validate(); err != nil {
			errs = append(errs, err)
		}
	case "local":
		if c.Teacher.Local == nil {
			errs = append(errs, errors.New("teacher.local: required for kind local"))
		} else if err := c.Teacher.Local.Validate(); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("teacher.kind %q: want openai or local", c.Teacher.Kind))
	}
	if c.TopK < 0 || c.TopK > 256 {
		errs = append(errs, fmt.Errorf("top_k %d outside [0, 256]", c.TopK))
	}
	if !(c.KDTemperature >= 0 && c.KDTemperature <= dataset.MaxTailTemperature) {
		errs = append(errs, fmt.Errorf("kd_temperature %g outside [0, %d] (0: store no tempered tail)", c.KDTemperature, dataset.MaxTailTemperature))
	} else if c.KDTemperature > 0 && c.Teacher.Kind != "local" {
		errs = append(errs, fmt.Errorf("kd_temperature %g needs teacher.kind local: a %q teacher returns only its top-k, from which the tempered tail cannot be computed (collect without it and train with loss.temperature: 1)", c.KDTemperature, c.Teacher.Kind))
	}
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		errs = append(errs, fmt.Errorf("concurrency %d outside [1, 1024]", c.Concurrency))
	}
	if c.SegmentRows < 1 {
		errs = append(errs, fmt.Errorf("segment_rows %d must be >= 1", c.SegmentRows))
	}
	if c.Sampling.MaxTokens < 1 || c.Sampling.Temperature < 0 || c.Sampling.TopP < 0 || c.Sampling.TopP > 1 {
		errs = append(errs, fmt.Errorf("sampling: max_tokens %d >= 1, temperature %g >= 0, top_p %g in [0,1] required", c.Sampling.MaxTokens, c.Sampling.Temperature, c.Sampling.TopP))
	}
	if err := c.RetryPolicy().Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Limits.RequestsPerMinute < 0 || c.Limits.TokensPerMinute < 0 {
		errs = append(errs, errors.New("limits: must be >= 0"))
	}
	// Every request reserves its prompt estimate + max_tokens; a budget below
	// max_tokens could never admit one (each prompt would fail).
	if c.Limits.TokensPerMinute > 0 && c.Limits.TokensPerMinute < float64(c.Sampling.MaxTokens) {
		errs = append(errs, fmt.Errorf("limits.tokens_per_minute %g is below sampling.max_tokens %d: no request would fit", c.Limits.TokensPerMinute, c.Sampling.MaxTokens))
	}
	if len(errs) > 0 {
		return fmt.Errorf("collect config: %w", errors.Join(errs...))
	}
	return nil
}

// TeacherName is the configured teacher's policy name.
func (c *Config) TeacherName() string {
	if c.Teacher.Kind == "openai" && c.Teacher.OpenAI != nil {
		return c.Teacher.OpenAI.Name
	}
	if c.Teacher.Local != nil {
		return c.Teacher.Local.Name
	}
	return ""
}
