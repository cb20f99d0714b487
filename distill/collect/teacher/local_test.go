package teacher

import (
	"context"
	"math"
	"math/rand"
	"sort"
	"testing"

	"github.com/distill-ml/distill/internal/testmodel"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/model/infer/infertest"
)

func TestTopKMatchesFullSort(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.Intn(300)
		k := 1 + rng.Intn(n)
		scores := make([]float64, n)
		for i := range scores {
			scores[i] = float64(rng.Intn(20)) // many ties
		}
		got := topK(scores, k, make([]int32, 0, n))
		ids := make([]int32, n)
		for i := range ids {
			ids[i] = int32(i)
		}
		sort.SliceStable(ids, func(a, b int) bool { return scores[ids[a]] > scores[ids[b]] })
		for r := 0; r < k; r++ {
			if got[r] != ids[r] {
				t.Fatalf("n=%d k=%d rank %d: got %d want %d", n, k, r, got[r], ids[r])
			}
		}
	}
}

func TestExpNonPositiveMatchesMathExp(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 200000; i++ {
		x := -rng.Float64() * 750
		if i%3 == 0 {
			x = -rng.Float64() * 2
		}
		got, want := expNonPositive(x), math.Exp(x)
		if x >= -708 && math.Abs(got-want) > 1e-8*want {
			t.Fatalf("exp(%v) = %v, math.Exp %v", x, got, want)
		}
		if x < -708 && got != 0 {
			t.Fatalf("exp(%v) = %v below the cut-off", x, got)
		}
	}
	if expNonPositive(0) != 1 || expNonPositive(math.Inf(-1)) != 0 || expNonPositive(math.NaN()) != 0 {
		t.Fatal("special values")
	}
}

func TestLogSumExpScaledMatchesDirectSum(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	row := make([]float32, 5000)
	for i := range row {
		row[i] = float32(rng.NormFloat64() * 8)
	}
	for _, temp := range []float64{0.5, 1, 2} {
		var sum float64
		for _, x := range row {
			sum += math.Exp(float64(x) / temp)
		}
		want := math.Log(sum)
		if got := logSumExpScaled(row, temp); math.Abs(got-want) > 1e-8 {
			t.Fatalf("T=%g: %v, direct %v", temp, got, want)
		}
	}
}

// The reference pair the local-teacher tests score.
const refPrompt, refCompletion = "Replace the scanner", " battery after 500 cycles."

// referenceRun is a local teacher in reference mode on a small random GGUF
// (testmodel, seed 3) and the runtime's own view of the reference pair.
type referenceRun struct {
	m      *infer.Model
	lt     *Local
	prompt []int32   // refPrompt's ids
	comp   []int32   // refCompletion's ids, then EOS
	full   []int32   // prompt then comp
	logits []float32 // the runtime's logits over full[:len(full)-1]: [len(full)-1, vocab]
}

// newReferenceRun builds a referenceRun whose teacher reports the hidden
// states of layers hidden; the model closes with t.
func newReferenceRun(t *testing.T, hidden []int) referenceRun {
	t.Helper()
	tok := testmodel.Tokenizer(t)
	path := testmodel.GGUF(t, tok, "t.gguf", 3)
	m, err := infer.Load(path, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	eos := tok.Special().EOS
	lt, err := NewLocal(LocalConfig{Name: "local", Model: path, Completion: "reference", HiddenLayers: hidden}, m, tok, eos)
	if err != nil {
		t.Fatal(err)
	}
	r := referenceRun{m: m, lt: lt, prompt: tok.Encode(refPrompt), comp: append(tok.Encode(refCompletion), eos)}
	r.full = append(append([]int32{}, r.prompt...), r.comp...)
	if r.logits, err = m.NewSession(128).EvalAll(r.full[:len(r.full)-1]); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLocalTeacherMatchesRuntime checks the local teacher's response against
// the runtime run directly: the completion positions' top-k at temperature T
// (log-softmax of logits/T), the tail mass, and the hidden states.
func TestLocalTeacherMatchesRuntime(t *testing.T) {
	run := newReferenceRun(t, []int{1, 3})
	m, prompt, comp, logits := run.m, run.prompt, run.comp, run.logits
	const k, temp = 5, 2.0
	resp, err := run.lt.Complete(context.Background(), Request{Prompt: refPrompt, Reference: refCompletion, TopLogprobs: k, Temperature: temp})
	if err != nil {
		t.Fatal(err)
	}
	hs, err := m.NewSession(128).HiddenStates(run.full[:len(run.full)-1], []int{1, 3})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.IDs || len(resp.Positions) != len(comp) || len(resp.PromptIDs) != len(prompt) {
		t.Fatalf("response shape: ids %v, %d positions for %d tokens", resp.IDs, len(resp.Positions), len(comp))
	}
	v := m.Hyper.VocabSize
	for j, pos := range resp.Positions {
		row := logits[(len(prompt)-1+j)*v : (len(prompt)+j)*v]
		lp := make([]float64, v)
		var z float64
		for i, x := range row {
			z += math.Exp(float64(x) / temp)
			lp[i] = float64(x) / temp
		}
		order := make([]int, v)
		for i := range order {
			order[i] = i
			lp[i] -= math.Log(z)
		}
		sort.SliceStable(order, func(a, b int) bool { return lp[order[a]] > lp[order[b]] })
		if pos.ID != comp[j] || math.Abs(pos.Logprob-lp[comp[j]]) > 1e-7 {
			t.Fatalf("position %d: chosen %d (%v), want %d (%v)", j, pos.ID, pos.Logprob, comp[j], lp[comp[j]])
		}
		mass := 0.0
		for r, a := range pos.Top {
			if a.ID != int32(order[r]) || math.Abs(a.Logprob-lp[order[r]]) > 1e-7 {
				t.Fatalf("position %d rank %d: %d (%v), want %d (%v)", j, r, a.ID, a.Logprob, order[r], lp[order[r]])
			}
			mass += math.Exp(lp[order[r]])
		}
		if len(pos.Top) != k || math.Abs(resp.TailMass[j]-(1-mass)) > 1e-7 {
			t.Fatalf("position %d: %d alternatives, tail %v want %v", j, len(pos.Top), resp.TailMass[j], 1-mass)
		}
	}
	d := m.Hyper.DModel
	if resp.HiddenDim != d || len(resp.Hidden) != 2 {
		t.Fatalf("hidden: dim %d, %d layers", resp.HiddenDim, len(resp.Hidden))
	}
	for l := range hs {
		want := hs[l][(len(prompt)-1)*d:]
		if len(resp.Hidden[l]) != len(want) {
			t.Fatalf("layer %d: %d values, want %d", l, len(resp.Hidden[l]), len(want))
		}
		for i := range want {
			if resp.Hidden[l][i] != want[i] {
				t.Fatalf("layer %d value %d: %v, runtime %v", l, i, resp.Hidden[l][i], want[i])
			}
		}
	}
}

// TestLocalTeacherTemperedTail: with a KD temperature the local teacher
// reports, per position, the tail mass of its stored distribution p (its
// softmax at the sampling temperature) tempered at the KD temperature,
// q = Σ_{j∉top-k} p_j^{1/T} / Σ_j p_j^{1/T}, summed directly over the tail
// tokens in float64 from the runtime's logits; without one it reports none.
func TestLocalTeacherTemperedTail(t *testing.T) {
	run := newReferenceRun(t, nil)
	prompt, comp, logits := run.prompt, run.comp, run.logits
	v := run.m.Hyper.VocabSize
	const k = 4
	for _, c := range []struct{ temp, kd float64 }{{1, 2}, {0.7, 4}, {1.5, 0.5}, {1, 0}} {
		resp, err := run.lt.Complete(context.Background(), Request{Prompt: refPrompt, Reference: refCompletion,
			TopLogprobs: k, Temperature: c.temp, KDTemperature: c.kd})
		if err != nil {
			t.Fatal(err)
		}
		if c.kd == 0 {
			if resp.TailTempered != nil {
				t.Fatalf("no KD temperature, but %d tempered tails", len(resp.TailTempered))
			}
			continue
		}
		if len(resp.TailTempered) != len(comp) {
			t.Fatalf("%+v: %d tempered tails for %d positions", c, len(resp.TailTempered), len(comp))
		}
		for j, pos := range resp.Positions {
			row := logits[(len(prompt)-1+j)*v : (len(prompt)+j)*v]
			// p_j ∝ exp(x_j/temp), so p_j^(1/kd) ∝ exp(x_j/(temp·kd)).
			inTop := map[int32]bool{}
			for _, a := range pos.Top {
				inTop[a.ID] = true
			}
			var all, tail float64
			for i, x := range row {
				w := math.Exp(float64(x) / (c.temp * c.kd))
				all += w
				if !inTop[int32(i)] {
					tail += w
				}
			}
			if want := tail / all; math.Abs(resp.TailTempered[j]-want) > 1e-9+1e-7*want {
				t.Fatalf("%+v position %d: tempered tail %v, direct %v", c, j, resp.TailTempered[j], want)
			}
		}
	}
}

// A teacher GGUF declaring llama.context_length = 16777216 (issue 16): the
// local teacher's context is the runtime's 4096-token cap, and generating a
// completion allocates for the tokens, not for 16M positions.
func TestLocalTeacherHugeDeclaredContext(t *testing.T) {
	path := infertest.WriteTemp(t, "ctx16m.gguf", infertest.SmallSpec("Q8_0", 1<<24))
	m, err := infer.Load(path, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := m.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	lt, err := NewLocal(LocalConfig{Name: "local", Model: path, Completion: "generate"}, m, tok, -1)
	if err != nil {
		t.Fatal(err)
	}
	if lt.ctx != 4096 {
		t.Fatalf("teacher context %d, want the runtime's 4096 (the file declares 16777216)", lt.ctx)
	}
	resp, err := lt.Complete(context.Background(), Request{Prompt: "the cat sat", MaxTokens: 4, TopLogprobs: 2, Temperature: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Positions) == 0 || len(resp.Positions) > 4 {
		t.Fatalf("%d completion positions, want 1..4", len(resp.Positions))
	}
}
