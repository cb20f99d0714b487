package ops

import (
	"math"
	"math/rand"
	"testing"

	G "gorgonia.org/gorgonia"
)

func TestBiasAddGrad(t *testing.T) {
	g, rng := G.NewGraph(), rand.New(rand.NewSource(11))
	x := newInput(g, rng, "x", 1, 6, 10)
	b := newInput(g, rng, "b", 1, 10)
	y, err := BiasAdd(x.node, b.node)
	if err != nil {
		t.Fatal(err)
	}
	gradCheck(t, g, rng, y, x, b)
}

// HeadRMSNorm normalises only heads [first, first+count): q heads with one
// weight, then k heads with another, v passing through, as qwen3 does.
func TestHeadRMSNormGrad(t *testing.T) {
	g, rng := G.NewGraph(), rand.New(rand.NewSource(12))
	const hd = 4
	x := newInput(g, rng, "qkv", 1, 5, (3+2*1)*hd) // 3 q heads, 1 k, 1 v
	wq := newInput(g, rng, "q_norm", 1, hd)
	wk := newInput(g, rng, "k_norm", 1, hd)
	y, err := HeadRMSNorm(x.node, wq.node, 0, 3, hd, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	if y, err = HeadRMSNorm(y, wk.node, 3, 1, hd, 1e-6); err != nil {
		t.Fatal(err)
	}
	gradCheck(t, g, rng, y, x, wq, wk)
}

// The forward against the definition, written out: a normalised head has
// the weight's RMS-scaled values; v is untouched.
func TestHeadRMSNormForward(t *testing.T) {
	g, rng := G.NewGraph(), rand.New(rand.NewSource(13))
	const hd = 4
	x := newInput(g, rng, "qkv", 1, 2, 3*hd)
	w := newInput(g, rng, "w", 1, hd)
	y, err := HeadRMSNorm(x.node, w.node, 1, 1, hd, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	runGraph(t, g)
	out, _ := f32(y.Value())
	for n := 0; n < 2; n++ {
		row := x.data[n*3*hd : (n+1)*3*hd]
		var ss float64
		for _, v := range row[hd : 2*hd] {
			ss += float64(v) * float64(v)
		}
		r := 1 / math.Sqrt(ss/hd+1e-6)
		for i := 0; i < 3*hd; i++ {
			want := float64(row[i])
			if i >= hd && i < 2*hd {
				want = float64(row[i]) * r * float64(w.data[i-hd])
			}
			if math.Abs(float64(out[n*3*hd+i])-want) > 1e-5*math.Max(1, math.Abs(want)) {
				t.Fatalf("row %d col %d: %g, want %g", n, i, out[n*3*hd+i], want)
			}
		}
	}
}

func TestRoPEFreqsMatchesRoPE(t *testing.T) {
	g, rng := G.NewGraph(), rand.New(rand.NewSource(14))
	x := newInput(g, rng, "x", 1, 6, 16)
	a, err := RoPE(x.node, 3, 2, 8, 500)
	if err != nil {
		t.Fatal(err)
	}
	freqs := make([]float64, 4)
	for i := range freqs {
		freqs[i] = math.Pow(500, -2*float64(i)/8)
	}
	b, err := RoPEFreqs(x.node, 3, 2, 8, freqs)
	if err != nil {
		t.Fatal(err)
	}
	runGraph(t, g)
	av, _ := f32(a.Value())
	bv, _ := f32(b.Value())
	for i := range av {
		if av[i] != bv[i] {
			t.Fatalf("[%d]: RoPE %g, RoPEFreqs %g", i, av[i], bv[i])
		}
	}
	if _, err := RoPEFreqs(x.node, 3, 2, 8, freqs[:3]); err == nil {
		t.Fatal("wrong frequency count accepted")
	}
}

// runGraph runs g's forward once; the machine lives to the test's end, so
// the nodes keep their values.
func runGraph(t *testing.T, g *G.ExprGraph) {
	t.Helper()
	vm := G.NewTapeMachine(g)
	t.Cleanup(func() { vm.Close() })
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
}
