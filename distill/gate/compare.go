package gate

import (
	"fmt"

	"github.com/distill-ml/distill/num/stats"
)

// The paired comparisons' bootstrap: 95% percentile intervals from 10,000
// resamples with a fixed seed, so a rerun reports the same interval.
const (
	compareLevel     = 0.95
	compareResamples = 10000
	compareSeed      = 1
)

// Comparison pairs two artifacts on the same golden items of one route:
// every figure is A − B, and every interval resamples items, keeping each
// item's two outcomes together.
type Comparison struct {
	Route string `json:"route"`
	A     string `json:"a"` // e.g. the KD student (the baseline)
	B     string `json:"b"` // e.g. the CE-only student (a reference)
	Items int    `json:"items"`
	// TaskScore is the difference in the exact task score (fraction correct).
	TaskScore stats.Interval `json:"task_score"`
	// McNemar is the exact test on the items only one side gets right.
	McNemar McNemar `json:"mcnemar"`
	// Partial is the difference in mean partial credit.
	Partial stats.Interval `json:"partial_score"`
	// LogPerplexityRatio is log(perplexity_A / perplexity_B) on the expected
	// completions, (ΣNLL_A − ΣNLL_B) / Σtokens; nil when the two tokenize an
	// item differently (their per-item NLLs then do not pair).
	LogPerplexityRatio *stats.Interval `json:"log_perplexity_ratio,omitempty"`
}

// McNemar is McNemar's exact test on paired right/wrong outcomes.
type McNemar struct {
	AOnly int     `json:"a_only"` // items only A gets right
	BOnly int     `json:"b_only"` // items only B gets right
	P     float64 `json:"p"`      // exact two-sided p-value
}

// Compare pairs a and b's answers on route by item id (both measured on the
// same golden items, as one gate run measures every artifact).
func Compare(route string, a, b *Artifact) (Comparison, error) {
	qa, qb := a.Quality[route], b.Quality[route]
	c := Comparison{Route: route, A: a.Name, B: b.Name, Items: len(qa.Answers)}
	if len(qa.Answers) != len(qb.Answers) {
		return c, fmt.Errorf("compare %s with %s on route %s: %d answers against %d", a.Name, b.Name, route, len(qa.Answers), len(qb.Answers))
	}
	n := len(qa.Answers)
	exactA, exactB := make([]float64, n), make([]float64, n)
	partA, partB := make([]float64, n), make([]float64, n)
	nllA, nllB, toks := make([]float64, n), make([]float64, n), make([]float64, n)
	pairsNLL := true
	for i, x := range qa.Answers {
		y := qb.Answers[i]
		if x.ID != y.ID {
			return c, fmt.Errorf("compare %s with %s on route %s: answer %d is item %s against %s", a.Name, b.Name, route, i, x.ID, y.ID)
		}
		if x.Correct {
			exactA[i] = 1
		}
		if y.Correct {
			exactB[i] = 1
		}
		switch {
		case x.Correct && !y.Correct:
			c.McNemar.AOnly++
		case y.Correct && !x.Correct:
			c.McNemar.BOnly++
		}
		partA[i], partB[i] = x.Partial, y.Partial
		nllA[i], nllB[i], toks[i] = x.NLL, y.NLL, float64(x.Tokens)
		pairsNLL = pairsNLL && x.Tokens > 0 && x.Tokens == y.Tokens
	}
	c.McNemar.P = stats.McNemarExact(c.McNemar.AOnly, c.McNemar.BOnly)
	var err error
	if c.TaskScore, err = stats.PairedBootstrap(exactA, exactB, nil, compareLevel, compareResamples, compareSeed); err != nil {
		return c, fmt.Errorf("compare %s with %s on route %s: task score: %w", a.Name, b.Name, route, err)
	}
	if c.Partial, err = stats.PairedBootstrap(partA, partB, nil, compareLevel, compareResamples, compareSeed); err != nil {
		return c, fmt.Errorf("compare %s with %s on route %s: partial credit: %w", a.Name, b.Name, route, err)
	}
	if pairsNLL {
		iv, err := stats.PairedBootstrap(nllA, nllB, toks, compareLevel, compareResamples, compareSeed)
		if err != nil {
			return c, fmt.Errorf("compare %s with %s on route %s: perplexity: %w", a.Name, b.Name, route, err)
		}
		c.LogPerplexityRatio = &iv
	}
	return c, nil
}
