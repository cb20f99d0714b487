// Package stats holds the paired statistics distill reports when it compares
// two models on the same items: a percentile paired-bootstrap interval of a
// (weighted) mean difference, McNemar's exact test on paired right/wrong
// outcomes, the linear-interpolation quantile (numpy's default) both use, and
// the mean ± Student-t interval of a few seeds' results.
// Everything is deterministic: the bootstrap draws from a PCG seeded by the
// caller.
package stats

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// Interval is a point estimate with a bootstrap confidence interval.
type Interval struct {
	Estimate  float64 `json:"estimate"`
	Lo        float64 `json:"lo"`
	Hi        float64 `json:"hi"`
	Level     float64 `json:"level"` // e.g. 0.95
	Resamples int     `json:"resamples"`
	Seed      uint64  `json:"seed"`
}

// Excludes0 reports whether the interval lies wholly above or below zero.
func (iv Interval) Excludes0() bool { return iv.Lo > 0 || iv.Hi < 0 }

// PairedBootstrap estimates Σ(a[i]−b[i]) / Σw[i] (w nil: every weight 1, the
// mean difference) and its percentile interval at level: it draws len(a)
// pairs with replacement, resamples times, from a PCG seeded with seed, and
// takes the (1−level)/2 and (1+level)/2 quantiles of the resampled estimates.
// Pairs stay together, so what the two sides share cancels. Weights let a
// ratio of sums be paired, e.g. per-item NLL sums over per-item token counts.
func PairedBootstrap(a, b, w []float64, level float64, resamples int, seed uint64) (Interval, error) {
	n := len(a)
	switch {
	case len(b) != n:
		return Interval{}, fmt.Errorf("paired bootstrap: %d values against %d", n, len(b))
	case n == 0:
		return Interval{}, errors.New("paired bootstrap: no pairs")
	case w != nil && len(w) != n:
		return Interval{}, fmt.Errorf("paired bootstrap: %d weights for %d pairs", len(w), n)
	case !(level > 0 && level < 1):
		return Interval{}, fmt.Errorf("paired bootstrap: level %v outside (0,1)", level)
	case resamples < 1:
		return Interval{}, fmt.Errorf("paired bootstrap: %d resamples", resamples)
	}
	d := make([]float64, n)
	wt := make([]float64, n)
	var sd, sw float64
	for i := range a {
		d[i] = a[i] - b[i]
		wt[i] = 1
		if w != nil {
			wt[i] = w[i]
		}
		if math.IsNaN(d[i]) || math.IsInf(d[i], 0) {
			return Interval{}, fmt.Errorf("paired bootstrap: pair %d (%v, %v) is not finite", i, a[i], b[i])
		}
		if !(wt[i] > 0) || math.IsInf(wt[i], 0) {
			return Interval{}, fmt.Errorf("paired bootstrap: weight %d is %v, want a finite positive number", i, wt[i])
		}
		sd += d[i]
		sw += wt[i]
	}
	est := make([]float64, resamples)
	rng := rand.New(rand.NewPCG(seed, 0x5bd1e995))
	for r := range est {
		var s, sws float64
		for range n {
			k := rng.IntN(n)
			s += d[k]
			sws += wt[k]
		}
		est[r] = s / sws
	}
	sort.Float64s(est)
	iv := Interval{Estimate: sd / sw, Level: level, Resamples: resamples, Seed: seed,
		Lo: Quantile(est, (1-level)/2), Hi: Quantile(est, (1+level)/2)}
	return iv, nil
}

// McNemarExact is McNemar's exact two-sided p-value for paired binary
// outcomes with b pairs right only on the first side and c right only on
// the second: under the null each discordant pair is a fair coin, so
// p = min(1, 2·P[Binomial(b+c, ½) ≤ min(b,c)]). No discordant pair gives 1.
func McNemarExact(b, c int) float64 {
	n := b + c
	m := min(b, c)
	if n == 0 || b < 0 || c < 0 {
		return 1
	}
	// Terms C(n,k)/2^n in log space (2^n underflows for n > 1074):
	// log t_0 = −n·ln 2, log t_k = log t_{k−1} + ln((n−k+1)/k).
	logs := make([]float64, m+1)
	logs[0] = -float64(n) * math.Ln2
	for k := 1; k <= m; k++ {
		logs[k] = logs[k-1] + math.Log(float64(n-k+1)/float64(k))
	}
	top := logs[m] // the terms grow with k up to n/2, and m ≤ n/2
	var s float64
	for _, l := range logs {
		s += math.Exp(l - top)
	}
	return math.Min(1, 2*math.Exp(top)*s)
}

// Quantile is the q-quantile of sorted (ascending) by linear interpolation
// between closest ranks, numpy's default. sorted must not be empty.
func Quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

// MeanSpread is the mean of xs, their sample standard deviation and the half
// width of the 95% Student-t interval of the mean (t₀.₉₇₅ with len(xs)−1
// degrees of freedom · sd/√n): the across-seed summary the benchmarks report.
// Fewer than two values have no spread (sd and half NaN); a NaN value makes
// every result NaN.
func MeanSpread(xs []float64) (mean, sd, half float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	n := float64(len(xs))
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if len(xs) < 2 {
		return mean, math.NaN(), math.NaN()
	}
	for _, x := range xs {
		sd += (x - mean) * (x - mean)
	}
	sd = math.Sqrt(sd / (n - 1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: n - 1}
	return mean, sd, t.Quantile(0.975) * sd / math.Sqrt(n)
}
