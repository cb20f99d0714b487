// Package gate decides whether exported artifacts may ship. It measures each
// candidate GGUF and the unquantized baseline on the same versioned golden set
// with the same prompt template — task score (right answer with the right
// citation, correct abstention), perplexity, agreement with the teacher —
// then latency (time to first token and per-token decode, p50/p95/p99 after
// warm-up), a sustained decode run sampled per interval (burst, floor), and
// footprint (file size, peak RSS, KV-cache bytes). Each candidate's
// next-token distributions are compared with the baseline's on the golden
// completions and on an optional held-out text, with the statistics of
// llama.cpp's `llama-perplexity --kl-divergence` (KLDStats: mean KLD with
// its uncertainty, percentiles, Δp, same top token, perplexity ratio);
// the baseline's rows wait in a temporary file, not in memory. Every threshold from the
// config becomes a check with its measured value; the approved list holds the
// candidates whose checks all pass, and the gate passes only when every
// required candidate is approved. It writes gate.json, gate.md and an HTML
// report with plots.
//
// The gate measures through the Engine interface, so it runs on distill's own
// runtime in production and on a scripted engine with a fake clock in tests:
// no timing decides a unit test.
package gate

import (
	"errors"
	"fmt"
	"github.com/distill-ml/distill/configs"
)

// Thresholds are the launch bars. A zero value disables that check, except
// MaxQualityDrop, whose default is 0.02. MaxDropVsTeacher applies when a
// teacher is given (Config.Teacher): without one there is nothing to compare.
type Thresholds struct {
	MaxQualityDrop   float64 `yaml:"max_quality_drop" json:"max_quality_drop"`               // task-score drop vs the baseline, absolute
	MinTaskScore     float64 `yaml:"min_task_score" json:"min_task_score"`                   // task-score floor of the route (fraction correct)
	MaxDropVsTeacher float64 `yaml:"max_drop_vs_teacher" json:"max_drop_vs_teacher"`         // task-score drop vs the teacher, absolute
	MaxP95TTFTMs     float64 `yaml:"max_p95_ttft_ms" json:"max_p95_ttft_ms"`                 // time to first token, p95
	MaxP95TokenMs    float64 `yaml:"max_p95_token_ms" json:"max_p95_token_ms"`               // per-token decode latency, p95
	MinSustainedTPS  float64 `yaml:"min_sustained_tps" json:"min_sustained_tps"`             // floor of the sustained run
	MaxFileMB        float64 `yaml:"max_file_mb" json:"max_file_mb"`                         // artifact size
	MaxPeakRSSMB     float64 `yaml:"max_peak_rss_mb" json:"max_peak_rss_mb"`                 // process peak RSS while serving
	MaxKVCacheMB     float64 `yaml:"max_kv_cache_mb" json:"max_kv_cache_mb"`                 // at Config.Context
	MaxTeacherKL     float64 `yaml:"max_teacher_kl" json:"max_teacher_kl"`                   // mean KL(teacher‖candidate) on golden completions
	MinTeacherTop1   float64 `yaml:"min_teacher_top1" json:"min_teacher_top1"`               // top-1 agreement with the teacher
	MaxPerplexity    float64 `yaml:"max_perplexity" json:"max_perplexity"`                   // on golden completions
	MaxPPLIncrease   float64 `yaml:"max_perplexity_increase" json:"max_perplexity_increase"` // relative, vs baseline
	// KL divergence of a candidate from the baseline on the route's golden
	// completions (KLDStats): its 99th percentile, nats, and the fraction of
	// positions whose top token agrees.
	MaxKLDP99  float64 `yaml:"max_kld_p99" json:"max_kld_p99"`
	MinSameTop float64 `yaml:"min_same_top" json:"min_same_top"`
}

// HeldOut is the held-out text every candidate is compared with the
// baseline on, as `llama-perplexity --kl-divergence -f TEXT -c CONTEXT
// --chunks MAX_CHUNKS` does.
type HeldOut struct {
	Text      string  `yaml:"text" json:"text"`             // plain-text file; "" = no held-out comparison
	Context   int     `yaml:"context" json:"context"`       // tokens per chunk (llama-perplexity -c); default 512
	MaxChunks int     `yaml:"max_chunks" json:"max_chunks"` // 0 = every whole chunk (--chunks)
	MaxKLDP99 float64 `yaml:"max_kld_p99" json:"max_kld_p99"`
	// MinSameTop is the floor of the fraction of positions whose top token agrees.
	MinSameTop float64 `yaml:"min_same_top" json:"min_same_top"`
}

// Route is one job with its own golden set and bars (the seed article's
// per-route bars: intent routing, policy Q&A, ...).
type Route struct {
	Golden     string     `yaml:"golden" json:"golden"`
	Thresholds Thresholds `yaml:"thresholds" json:"thresholds"`
}

// Config is configs/gate.yaml.
type Config struct {
	Routes map[string]Route `yaml:"routes" json:"routes"` // at least one
	// Teacher is an optional teacher GGUF: it is scored on the golden set like
	// the students (never approved), gives the drop-vs-teacher bar its
	// reference, and the agreement metrics (top-1, KL) their distribution.
	Teacher       string  `yaml:"teacher" json:"teacher"`
	Context       int     `yaml:"context" json:"context"`               // KV-cache context the device runs at
	MaxNewTokens  int     `yaml:"max_new_tokens" json:"max_new_tokens"` // per golden answer
	WarmupPrompts int     `yaml:"warmup_prompts" json:"warmup_prompts"` // excluded from latency percentiles
	MaxItems      int     `yaml:"max_items" json:"max_items"`           // 0 = whole golden set
	Sustained     Sustain `yaml:"sustained" json:"sustained"`
	HeldOut       HeldOut `yaml:"held_out" json:"held_out"`
	// Required lists the candidate names (file base names without .gguf) that
	// must pass for the gate to pass; empty means every candidate.
	Required []string `yaml:"required" json:"required"`
}

// Sustain configures the sustained decode run.
type Sustain struct {
	Seconds         float64 `yaml:"seconds" json:"seconds"`                   // default 600
	IntervalSeconds float64 `yaml:"interval_seconds" json:"interval_seconds"` // default 10
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	configs.Default(&c.Context, 512)
	configs.Default(&c.MaxNewTokens, 48)
	configs.Default(&c.WarmupPrompts, 2)
	configs.Default(&c.Sustained.Seconds, 600)
	configs.Default(&c.Sustained.IntervalSeconds, 10)
	configs.Default(&c.HeldOut.Context, 512)
	for name, r := range c.Routes {
		configs.Default(&r.Thresholds.MaxQualityDrop, 0.02)
		c.Routes[name] = r
	}
}

// Validate checks the config once, at the edge.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Routes) == 0 {
		errs = append(errs, errors.New("routes: at least one route with a golden set is required"))
	}
	for name, r := range c.Routes {
		if r.Golden == "" {
			errs = append(errs, fmt.Errorf("routes.%s.golden: empty", name))
		}
		t := r.Thresholds
		for _, v := range []struct {
			k string
			v float64
		}{{"max_quality_drop", t.MaxQualityDrop}, {"min_task_score", t.MinTaskScore}, {"max_drop_vs_teacher", t.MaxDropVsTeacher}, {"max_p95_ttft_ms", t.MaxP95TTFTMs},
			{"max_p95_token_ms", t.MaxP95TokenMs}, {"min_sustained_tps", t.MinSustainedTPS}, {"max_file_mb", t.MaxFileMB},
			{"max_peak_rss_mb", t.MaxPeakRSSMB}, {"max_kv_cache_mb", t.MaxKVCacheMB}, {"max_teacher_kl", t.MaxTeacherKL},
			{"min_teacher_top1", t.MinTeacherTop1}, {"max_perplexity", t.MaxPerplexity}, {"max_perplexity_increase", t.MaxPPLIncrease},
			{"max_kld_p99", t.MaxKLDP99}, {"min_same_top", t.MinSameTop}} {
			if v.v < 0 {
				errs = append(errs, fmt.Errorf("routes.%s.thresholds.%s: %g is negative", name, v.k, v.v))
			}
		}
		if t.MinTaskScore > 1 || t.MinTeacherTop1 > 1 || t.MinSameTop > 1 {
			errs = append(errs, fmt.Errorf("routes.%s.thresholds: min_task_score %g, min_teacher_top1 %g and min_same_top %g are fractions in [0,1]", name, t.MinTaskScore, t.MinTeacherTop1, t.MinSameTop))
		}
	}
	if c.Context < 1 || c.MaxNewTokens < 1 || c.WarmupPrompts < 0 || c.MaxItems < 0 {
		errs = append(errs, fmt.Errorf("context %d, max_new_tokens %d must be >= 1; warmup_prompts %d, max_items %d >= 0", c.Context, c.MaxNewTokens, c.WarmupPrompts, c.MaxItems))
	}
	h := c.HeldOut
	if h.Context < 4 || h.MaxChunks < 0 || h.MaxKLDP99 < 0 || h.MinSameTop < 0 || h.MinSameTop > 1 {
		errs = append(errs, fmt.Errorf("held_out: context %d must be >= 4, max_chunks %d and max_kld_p99 %g >= 0, min_same_top %g in [0,1]", h.Context, h.MaxChunks, h.MaxKLDP99, h.MinSameTop))
	}
	if h.Text == "" && (h.MaxKLDP99 > 0 || h.MinSameTop > 0) {
		errs = append(errs, errors.New("held_out: max_kld_p99 or min_same_top is set but held_out.text is empty: there is nothing to check them on"))
	}
	if c.Sustained.Seconds < 0 || c.Sustained.IntervalSeconds <= 0 || c.Sustained.IntervalSeconds > c.Sustained.Seconds && c.Sustained.Seconds > 0 {
		errs = append(errs, fmt.Errorf("sustained: seconds %g must be >= 0 and interval_seconds %g in (0, seconds]", c.Sustained.Seconds, c.Sustained.IntervalSeconds))
	}
	if len(errs) > 0 {
		return fmt.Errorf("gate config: %w", errors.Join(errs...))
	}
	return nil
}
