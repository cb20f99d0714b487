package main

import (
	"strings"
	"testing"

	"github.com/distill-ml/distill/distill/gate"
	numstats "github.com/distill-ml/distill/num/stats"
)

func TestReportSaysWhetherTheIntervalClearsZero(t *testing.T) {
	seed := func(s int64, kd, ce float64) seedResult {
		return seedResult{Seed: s, Teacher: score{Exact: 0.5, Items: 100, Correct: 50, Perplexity: 2},
			KD: score{Exact: 0.3, Items: 100, Correct: 30, Perplexity: kd}, CE: score{Exact: 0.3, Items: 100, Correct: 30, Perplexity: ce}}
	}
	var b strings.Builder
	report(&b, []seedResult{seed(1, 4.0, 5.0), seed(2, 4.1, 5.0), seed(3, 3.9, 4.9)}, nil)
	out := b.String()
	if !strings.Contains(out, "CE − KD golden perplexity (positive: KD better): mean 0.9667") || !strings.Contains(out, "(interval above 0)") {
		t.Fatalf("perplexity line wrong:\n%s", out)
	}
	if !strings.Contains(out, "KD − CE exact task score: mean 0.0000") || !strings.Contains(out, "no difference shown") {
		t.Fatalf("exact score line wrong:\n%s", out)
	}
	if !strings.Contains(out, "partial credit: n/a") {
		t.Fatalf("missing partial credit must be said:\n%s", out)
	}
}

func TestPolicyScoreNeedsThePolicyRoute(t *testing.T) {
	a := &gate.Artifact{Quality: map[string]*gate.RouteQuality{"policy": {Items: 10, Correct: 3, TaskScore: 0.3, PartialScore: 0.45, Perplexity: 4}}}
	s, ok := policyScore(a)
	if !ok || s.Correct != 3 || s.Exact != 0.3 || s.Perplexity != 4 || s.Partial == nil || *s.Partial != 0.45 {
		t.Fatalf("score %+v ok %v", s, ok)
	}
	if _, ok := policyScore(&gate.Artifact{}); ok {
		t.Fatal("an artifact without the policy route gave a score")
	}
}

// Each seed's paired KD − CE comparison (the gate's bootstrap intervals and
// McNemar test over the golden items) is printed beside it, and partial
// credit gets its own across-seed interval.
func TestReportPairsEachSeedAndPartialCredit(t *testing.T) {
	p := func(x float64) *float64 { return &x }
	seed := func(s int64, kd, ce float64) seedResult {
		return seedResult{Seed: s, Teacher: score{Exact: 0.5, Items: 100, Correct: 50, Perplexity: 2},
			KD: score{Exact: 0.3, Items: 100, Correct: 30, Partial: p(kd), Perplexity: 4},
			CE: score{Exact: 0.3, Items: 100, Correct: 30, Partial: p(ce), Perplexity: 5},
			Paired: &gate.Comparison{Items: 100,
				TaskScore:          numstats.Interval{Estimate: 0.05, Lo: 0.01, Hi: 0.1, Level: 0.95},
				McNemar:            gate.McNemar{AOnly: 5, BOnly: 0, P: 0.0625},
				Partial:            numstats.Interval{Estimate: 0.1, Lo: 0.04, Hi: 0.16, Level: 0.95},
				LogPerplexityRatio: &numstats.Interval{Estimate: -0.2231435513, Lo: -0.3, Hi: -0.1, Level: 0.95}}}
	}
	var b strings.Builder
	report(&b, []seedResult{seed(1, 0.5, 0.4), seed(2, 0.52, 0.41), seed(3, 0.51, 0.40)}, nil)
	out := b.String()
	// Hand-computed: differences 0.10, 0.11, 0.11 → mean 0.10667; exp(-0.2231435513)-1 = -20.0%.
	for _, want := range []string{
		"KD − CE partial credit: mean 0.1067",
		"| 1 | +0.050 [+0.010, +0.100], p = 0.0625 | +0.100 [+0.040, +0.160] | -20.0% [-25.9%, -9.5%] |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "partial credit: n/a") {
		t.Errorf("partial credit present but reported n/a:\n%s", out)
	}
}
