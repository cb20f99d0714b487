package stats

import (
	"math"
	"math/big"
	"strings"
	"testing"
)

// mcnemarBig is McNemar's exact two-sided p-value computed independently of
// McNemarExact: exact rationals, 2·Σ_{k≤min(b,c)} C(b+c,k) / 2^(b+c), capped at 1.
func mcnemarBig(b, c int) float64 {
	n := int64(b + c)
	m := int64(min(b, c))
	sum := new(big.Int)
	for k := int64(0); k <= m; k++ {
		sum.Add(sum, new(big.Int).Binomial(n, k))
	}
	p := new(big.Rat).SetFrac(new(big.Int).Mul(sum, big.NewInt(2)), new(big.Int).Lsh(big.NewInt(1), uint(n)))
	if p.Cmp(big.NewRat(1, 1)) > 0 {
		return 1
	}
	f, _ := p.Float64()
	return f
}

func TestMcNemarExact(t *testing.T) {
	// Worked by hand: b=10, c=2, n=12: C(12,0)+C(12,1)+C(12,2) = 1+12+66 = 79;
	// p = 2·79/4096 = 0.03857 (the value textbooks quote as 0.0386).
	if got := McNemarExact(10, 2); math.Abs(got-158.0/4096) > 1e-12 {
		t.Fatalf("McNemarExact(10, 2) = %v, want 158/4096 = %v", got, 158.0/4096)
	}
	// Hand values: no discordant pair, or a tie, gives 1; b=5, c=0: 2/32.
	for _, c := range []struct {
		b, c int
		want float64
	}{{0, 0, 1}, {3, 3, 1}, {5, 0, 2.0 / 32}, {0, 5, 2.0 / 32}, {1, 0, 1}} {
		if got := McNemarExact(c.b, c.c); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("McNemarExact(%d, %d) = %v, want %v", c.b, c.c, got, c.want)
		}
	}
	// Against exact rationals over a grid, including counts where the
	// binomial coefficients overflow float64.
	for _, bc := range [][2]int{{1, 2}, {7, 1}, {20, 9}, {33, 40}, {100, 70}, {600, 520}, {1200, 1100}} {
		got, want := McNemarExact(bc[0], bc[1]), mcnemarBig(bc[0], bc[1])
		if want <= 0 || math.Abs(got-want) > 1e-9*want {
			t.Errorf("McNemarExact(%d, %d) = %v, exact %v", bc[0], bc[1], got, want)
		}
	}
}

func TestPairedBootstrapConstantDifference(t *testing.T) {
	a := []float64{3, 1, 4, 1, 5}
	b := []float64{2, 0, 3, 0, 4} // every difference is exactly 1
	iv, err := PairedBootstrap(a, b, nil, 0.95, 2000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if iv.Estimate != 1 || iv.Lo != 1 || iv.Hi != 1 {
		t.Fatalf("constant difference 1: %+v", iv)
	}
}

func TestPairedBootstrapWeightedEstimate(t *testing.T) {
	// Σ(a−b)/Σw by hand: (5−2)+(1−2) = 2 over weights 2+4 = 6 → 1/3.
	iv, err := PairedBootstrap([]float64{5, 1}, []float64{2, 2}, []float64{2, 4}, 0.95, 1000, 7)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(iv.Estimate-1.0/3) > 1e-15 {
		t.Fatalf("estimate %v, want 1/3", iv.Estimate)
	}
	// Every resample mean lies between the two per-pair ratios 3/2 and −1/4.
	if iv.Lo < -0.25-1e-12 || iv.Hi > 1.5+1e-12 || iv.Lo > iv.Hi {
		t.Fatalf("interval %+v outside [-0.25, 1.5]", iv)
	}
}

func TestPairedBootstrapMatchesNormalApproximation(t *testing.T) {
	// 400 pairs, 300 with difference +1 and 100 with −1: mean 0.5, population
	// variance 1 − 0.25 = 0.75, standard error √(0.75/400) = 0.0433; the
	// normal 95% interval is 0.5 ± 1.96·0.0433 = [0.4151, 0.5849]. The
	// percentile bootstrap of a mean of 400 must agree within its grid (0.005)
	// and resampling noise; the seed makes the result deterministic.
	a := make([]float64, 400)
	b := make([]float64, 400)
	for i := range a {
		if i%4 == 0 {
			b[i] = 1
		} else {
			a[i] = 1
		}
	}
	iv, err := PairedBootstrap(a, b, nil, 0.95, 10000, 42)
	if err != nil {
		t.Fatal(err)
	}
	if iv.Estimate != 0.5 || math.Abs(iv.Lo-0.4151) > 0.01 || math.Abs(iv.Hi-0.5849) > 0.01 {
		t.Fatalf("interval %+v, want about [0.4151, 0.5849]", iv)
	}
	again, _ := PairedBootstrap(a, b, nil, 0.95, 10000, 42)
	if again != iv {
		t.Fatalf("same seed, different interval: %+v vs %+v", again, iv)
	}
}

func TestPairedBootstrapRejectsBadInput(t *testing.T) {
	cases := map[string]struct {
		a, b, w []float64
		want    string
	}{
		"length":     {[]float64{1, 2}, []float64{1}, nil, "2 values against 1"},
		"empty":      {nil, nil, nil, "no pairs"},
		"nan":        {[]float64{1, math.NaN()}, []float64{1, 2}, nil, "pair 1"},
		"weights":    {[]float64{1, 2}, []float64{1, 2}, []float64{1}, "weights"},
		"neg-weight": {[]float64{1, 2}, []float64{1, 2}, []float64{1, -1}, "weight 1"},
	}
	for name, c := range cases {
		if _, err := PairedBootstrap(c.a, c.b, c.w, 0.95, 100, 1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want it to mention %q", name, err, c.want)
		}
	}
	if _, err := PairedBootstrap([]float64{1}, []float64{0}, nil, 1.5, 100, 1); err == nil {
		t.Error("level 1.5 accepted")
	}
}

func TestQuantileMatchesNumpy(t *testing.T) {
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(i + 1)
	}
	// numpy.percentile(range(1, 101), [50, 95, 99]) = 50.5, 95.05, 99.01
	for q, want := range map[float64]float64{0.5: 50.5, 0.95: 95.05, 0.99: 99.01, 0: 1, 1: 100} {
		if got := Quantile(xs, q); math.Abs(got-want) > 1e-9 {
			t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
		}
	}
}

func TestMeanSpreadAgainstTables(t *testing.T) {
	// {1, 2, 3}: mean 2, sample sd 1; t(0.975, 2) = 4.302653 (printed tables:
	// 4.303), so the half width is 4.302653/√3 = 2.484138.
	m, sd, half := MeanSpread([]float64{1, 2, 3})
	if m != 2 || sd != 1 || math.Abs(half-4.302653/math.Sqrt(3)) > 1e-5 {
		t.Fatalf("MeanSpread({1,2,3}) = %v, %v, %v; want 2, 1, %v", m, sd, half, 4.302653/math.Sqrt(3))
	}
	// Student-t 0.975 quantiles from printed tables, recovered from four values
	// ranks 0..df (any values: the half width over sd·√n is t itself).
	for _, c := range []struct {
		df int
		t  float64
	}{{1, 12.7062}, {4, 2.7764}, {11, 2.2010}, {30, 2.0423}} {
		xs := make([]float64, c.df+1)
		for i := range xs {
			xs[i] = float64(i)
		}
		_, sd, half := MeanSpread(xs)
		if got := half * math.Sqrt(float64(len(xs))) / sd; math.Abs(got-c.t) > 1e-3 {
			t.Errorf("t(0.975, %d) = %.4f, want %.4f", c.df, got, c.t)
		}
	}
	if _, sd, half := MeanSpread([]float64{5}); !math.IsNaN(sd) || !math.IsNaN(half) {
		t.Fatalf("one value has no spread: got sd %v, half %v", sd, half)
	}
	if m, _, _ := MeanSpread(nil); !math.IsNaN(m) {
		t.Fatalf("no values: mean %v, want NaN", m)
	}
}
