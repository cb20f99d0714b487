package gate

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/distill-ml/distill/num/stats"
)

// RouteQuality is what the golden set of one route measured.
type RouteQuality struct {
	Items     int     `json:"items"`
	Correct   int     `json:"correct"`
	TaskScore float64 `json:"task_score"` // Correct / Items: the launch bar
	// Answerable counts the items that have an answer (the rest want an
	// abstention); AnswerableCorrect those answered exactly right. A model
	// with AnswerableCorrect 0 is at the abstain floor.
	Answerable        int `json:"answerable"`
	AnswerableCorrect int `json:"answerable_correct"`
	// PartialScore is the mean Grade.Partial; FactRecall the mean fraction of
	// key facts stated over answerable items; CitationAccuracy and
	// AbstentionAccuracy the fractions of items with the citation and the
	// abstain-or-answer decision right.
	PartialScore       float64        `json:"partial_score"`
	FactRecall         float64        `json:"fact_recall"`
	CitationAccuracy   float64        `json:"citation_accuracy"`
	AbstentionAccuracy float64        `json:"abstention_accuracy"`
	Perplexity         float64        `json:"perplexity"` // over expected completions
	TeacherTop1        float64        `json:"teacher_top1,omitempty"`
	TeacherKL          float64        `json:"teacher_kl,omitempty"`
	HasTeacher         bool           `json:"has_teacher"`
	Failures           map[string]int `json:"failures,omitempty"` // reason → count
	Answers            []Answer       `json:"answers,omitempty"`
}

// Answer is one golden item's outcome: its grade, and the negative
// log-likelihood (nats) of the expected completion's Tokens tokens, so two
// artifacts' perplexities can be compared item by item.
type Answer struct {
	ID     string `json:"id"`
	Output string `json:"output"`
	Grade
	NLL    float64 `json:"nll"`
	Tokens int     `json:"tokens"`
}

// Percentiles of a latency distribution, milliseconds.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Latency is the distribution of time to first token and per-token decode
// latency over the golden prompts after warm-up.
type Latency struct {
	TTFTMs   Percentiles `json:"ttft_ms"`
	TokenMs  Percentiles `json:"token_ms"`
	tokenRaw []float64
}

// Sustained is the sustained decode run: tokens/s per interval.
type Sustained struct {
	Seconds  float64   `json:"seconds"`
	Interval float64   `json:"interval_seconds"`
	Samples  []float64 `json:"samples_tps"`
	BurstTPS float64   `json:"burst_tps"` // first interval
	FloorTPS float64   `json:"floor_tps"` // slowest interval
	MeanTPS  float64   `json:"mean_tps"`
	Tokens   int       `json:"tokens"`
}

// Footprint is the artifact's size and memory.
type Footprint struct {
	FileBytes    int64 `json:"file_bytes"`
	PeakRSSBytes int64 `json:"peak_rss_bytes"` // -1 when not measurable on this OS
	KVCacheBytes int64 `json:"kv_cache_bytes"`
}

// percentiles uses linear interpolation between closest ranks (numpy's default).
func percentiles(xs []float64) Percentiles {
	if len(xs) == 0 {
		return Percentiles{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return Percentiles{N: len(s), P50: stats.Quantile(s, 0.50), P95: stats.Quantile(s, 0.95), P99: stats.Quantile(s, 0.99), Max: s[len(s)-1]}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// generateTimed runs one greedy generation and records TTFT and inter-token gaps.
func generateTimed(m Model, clock Clock, prompt []int32, maxNew int, stop []string) (out string, ttft float64, gaps []float64, err error) {
	start := clock.Now()
	last := start
	n := 0
	out, err = m.Generate(prompt, maxNew, stop, false, func(int32) bool {
		now := clock.Now()
		if n == 0 {
			ttft = ms(now.Sub(start))
		} else {
			gaps = append(gaps, ms(now.Sub(last)))
		}
		last = now
		n++
		return true
	})
	if n == 0 {
		ttft = math.NaN()
	}
	return out, ttft, gaps, err
}

// measureQualityAndLatency runs every golden item of every route through m,
// scoring answers, timing generation, and computing perplexity and (with a
// teacher) agreement on the expected completions.
func measureQualityAndLatency(m, teacher Model, kp *kldPass, routes map[string][]Item, order []string, cfg *Config, clock Clock, progress func(string)) (map[string]*RouteQuality, Latency, error) {
	var ttfts, gaps []float64
	// Warm-up: generate on the first items, discard.
	warm := 0
	for _, r := range order {
		for _, it := range routes[r] {
			if warm >= cfg.WarmupPrompts {
				break
			}
			if _, _, _, err := generateTimed(m, clock, m.Tokenize(it.Prompt), cfg.MaxNewTokens, it.Stop); err != nil {
				return nil, Latency{}, fmt.Errorf("warm-up on %s: %w", it.ID, err)
			}
			warm++
		}
	}
	out := map[string]*RouteQuality{}
	for _, r := range order {
		q := &RouteQuality{Failures: map[string]int{}, HasTeacher: teacher != nil}
		var nll float64
		var nTok, top1 int
		var kl float64
		for i, it := range routes[r] {
			if progress != nil {
				progress(fmt.Sprintf("route %s item %d/%d", r, i+1, len(routes[r])))
			}
			prompt := m.Tokenize(it.Prompt)
			if len(prompt) == 0 {
				return nil, Latency{}, fmt.Errorf("golden item %s: empty prompt", it.ID)
			}
			text, ttft, g, err := generateTimed(m, clock, prompt, cfg.MaxNewTokens, it.Stop)
			if err != nil {
				return nil, Latency{}, fmt.Errorf("golden item %s: %w", it.ID, err)
			}
			if !math.IsNaN(ttft) {
				ttfts = append(ttfts, ttft)
			}
			gaps = append(gaps, g...)
			grade := it.Score(text)
			if !(grade.Partial >= 0 && grade.Partial <= 1 && grade.FactFraction >= 0 && grade.FactFraction <= 1) {
				return nil, Latency{}, fmt.Errorf("golden item %s: the scorer's partial credit %v or fact fraction %v is outside [0,1]", it.ID, grade.Partial, grade.FactFraction)
			}
			q.Items++
			if grade.Correct {
				q.Correct++
			} else {
				q.Failures[grade.Reason]++
			}
			ans := Answer{ID: it.ID, Output: text, Grade: grade}

			// Perplexity and teacher agreement over the expected completion.
			full := m.Tokenize(it.Prompt + it.Completion)
			from := CompletionStart(full, prompt) - 1
			if from < 0 || from >= len(full)-1 {
				return nil, Latency{}, fmt.Errorf("golden item %s: completion adds no tokens", it.ID)
			}
			lp, err := m.LogProbs(full, from)
			if err != nil {
				return nil, Latency{}, fmt.Errorf("golden item %s: log-probs: %w", it.ID, err)
			}
			if err := kp.add(r, full[from+1:], lp); err != nil {
				return nil, Latency{}, fmt.Errorf("golden item %s: KL divergence from the baseline: %w", it.ID, err)
			}
			var tlp [][]float32
			if teacher != nil {
				if tlp, err = teacher.LogProbs(full, from); err != nil {
					return nil, Latency{}, fmt.Errorf("golden item %s: teacher log-probs: %w", it.ID, err)
				}
			}
			for k, row := range lp {
				next := full[from+k+1]
				if int(next) >= len(row) {
					return nil, Latency{}, fmt.Errorf("golden item %s: token %d outside vocab %d", it.ID, next, len(row))
				}
				ans.NLL -= float64(row[next])
				ans.Tokens++
				if tlp != nil {
					trow := tlp[k]
					if len(trow) != len(row) {
						return nil, Latency{}, fmt.Errorf("golden item %s: teacher vocab %d != candidate vocab %d", it.ID, len(trow), len(row))
					}
					if argmax(trow) == argmax(row) {
						top1++
					}
					kl += klDiv(trow, row)
				}
			}
			nll += ans.NLL
			nTok += ans.Tokens
			q.Answers = append(q.Answers, ans)
		}
		summarizeGrades(q)
		if nTok > 0 {
			q.Perplexity = math.Exp(nll / float64(nTok))
			if teacher != nil {
				q.TeacherTop1 = float64(top1) / float64(nTok)
				q.TeacherKL = kl / float64(nTok)
			}
		}
		out[r] = q
	}
	return out, Latency{TTFTMs: percentiles(ttfts), TokenMs: percentiles(gaps), tokenRaw: gaps}, nil
}

// measureSustained decodes continuously over the golden prompts for
// cfg.Sustained.Seconds and samples tokens/s per interval.
func measureSustained(m Model, prompts [][]int32, cfg *Config, clock Clock) (Sustained, error) {
	s := Sustained{Seconds: cfg.Sustained.Seconds, Interval: cfg.Sustained.IntervalSeconds}
	if s.Seconds <= 0 || len(prompts) == 0 {
		return s, nil
	}
	interval := time.Duration(s.Interval * float64(time.Second))
	start := clock.Now()
	end := start.Add(time.Duration(s.Seconds * float64(time.Second)))
	winStart, winTokens := start, 0
	done := false
	for i := 0; !done; i++ {
		p := prompts[i%len(prompts)]
		maxNew := cfg.Context - len(p)
		if maxNew < 1 {
			return s, fmt.Errorf("sustained run: a golden prompt of %d tokens fills the %d-token context", len(p), cfg.Context)
		}
		produced := 0
		_, err := m.Generate(p, maxNew, nil, true, func(int32) bool {
			produced++
			winTokens++
			s.Tokens++
			now := clock.Now()
			for now.Sub(winStart) >= interval {
				s.Samples = append(s.Samples, float64(winTokens)/s.Interval)
				winStart = winStart.Add(interval)
				winTokens = 0
			}
			if !now.Before(end) {
				done = true
				return false
			}
			return true
		})
		if err != nil {
			return s, fmt.Errorf("sustained run: %w", err)
		}
		if produced == 0 {
			return s, fmt.Errorf("sustained run: the model produced no token for a prompt")
		}
	}
	if len(s.Samples) > 0 {
		s.BurstTPS = s.Samples[0]
		s.FloorTPS = s.Samples[0]
		sum := 0.0
		for _, v := range s.Samples {
			s.FloorTPS = math.Min(s.FloorTPS, v)
			sum += v
		}
		s.MeanTPS = sum / float64(len(s.Samples))
	}
	return s, nil
}

// summarizeGrades fills the task score and the partial-credit means from q.Answers.
func summarizeGrades(q *RouteQuality) {
	if q.Items == 0 {
		return
	}
	var partial, facts float64
	var cite, abst int
	for _, a := range q.Answers {
		partial += a.Partial
		if a.Answerable {
			q.Answerable++
			facts += a.FactFraction
			if a.Correct {
				q.AnswerableCorrect++
			}
		}
		if a.CitationCorrect {
			cite++
		}
		if a.AbstentionCorrect {
			abst++
		}
	}
	n := float64(q.Items)
	q.TaskScore = float64(q.Correct) / n
	q.PartialScore = partial / n
	q.CitationAccuracy = float64(cite) / n
	q.AbstentionAccuracy = float64(abst) / n
	if q.Answerable > 0 {
		q.FactRecall = facts / float64(q.Answerable)
	}
}

// CompletionStart is the index in full = Tokenize(prompt+completion) of the
// first completion token scored, given prompt = Tokenize(prompt): the end
// of their common prefix. The completion normally extends the prompt's
// tokens; when the tokenizer merges across the boundary, the merged token
// counts as completion. `distill eval` (distill/engine) uses the same rule.
func CompletionStart(full, prompt []int32) int { return commonPrefix(full, prompt) }

func commonPrefix(a, b []int32) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func argmax(xs []float32) int {
	best := 0
	for i, v := range xs {
		if v > xs[best] {
			best = i
		}
	}
	return best
}

// klDiv is KL(p‖q) for log-probability rows.
func klDiv(logp, logq []float32) float64 {
	var s float64
	for i := range logp {
		p := math.Exp(float64(logp[i]))
		if p > 0 {
			s += p * (float64(logp[i]) - float64(logq[i]))
		}
	}
	return s
}
