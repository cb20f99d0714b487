package loss

import (
	"math"
	"math/rand"
	"sort"
	"testing"
)

// randTeacher is a sparse teacher over K random ids of a random distribution
// (not necessarily its top K: Row does not rely on it), with its tail and
// its tail tempered at T.
func randTeacher(rng *rand.Rand, V, K int, T float64) *RowTeacher {
	logits := make([]float64, V)
	for j := range logits {
		logits[j] = rng.NormFloat64() * 2
	}
	var sum, sumT float64
	for _, v := range logits {
		sum += math.Exp(v)
		sumT += math.Exp(v / T)
	}
	perm := rng.Perm(V)[:K]
	t := &RowTeacher{HasTailT: true}
	var top, topT float64
	for _, id := range perm {
		p := math.Exp(logits[id]) / sum
		top += p
		topT += math.Exp(logits[id]/T) / sumT
		t.IDs = append(t.IDs, int32(id))
		t.Logprobs = append(t.Logprobs, float32(math.Log(p)))
	}
	t.Tail = float32(1 - top)
	t.TailT = float32(1 - topT)
	return t
}

// TestRowGradientFiniteDifference checks Row's analytic gradient against
// central differences of its own loss value, for every divergence, with and
// without temperature, sparse (with a duplicate id) and dense teachers.
func TestRowGradientFiniteDifference(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	const V, K = 37, 5
	for _, kind := range []string{KLForward, KLReverse, KLJSD} {
		for _, T := range []float64{1, 2.5} {
			for _, dense := range []bool{false, true} {
				c := Config{Alpha: 0.5, Temperature: T, KL: kind, JSDBeta: 0.3}
				teacher := randTeacher(rng, V, K, T)
				if dense {
					teacher = &RowTeacher{Dense: make([]float32, V)}
					for j := range teacher.Dense {
						teacher.Dense[j] = float32(rng.NormFloat64() * 2)
					}
				} else {
					teacher.IDs = append(teacher.IDs, teacher.IDs[1])
					teacher.Logprobs = append(teacher.Logprobs, teacher.Logprobs[1]-3)
				}
				z := make([]float32, V)
				for j := range z {
					z[j] = float32(rng.NormFloat64() * 1.5)
				}
				target := int32(rng.Intn(V))
				const ceW, klW = 0.7, 1.3
				var sc Scratch
				lossAt := func(zz []float32) float64 {
					r := c.Row(zz, target, teacher, ceW, klW, false, &sc)
					return ceW*r.CE + klW*r.KL
				}
				g := append([]float32(nil), z...)
				c.Row(g, target, teacher, ceW, klW, true, &sc)
				for j := 0; j < V; j++ {
					const h = 1e-2
					zp := append([]float32(nil), z...)
					zm := append([]float32(nil), z...)
					zp[j] += h
					zm[j] -= h
					fd := (lossAt(zp) - lossAt(zm)) / (2 * h)
					if d := math.Abs(fd - float64(g[j])); !(d <= 2e-3+1e-2*math.Abs(fd)) {
						t.Fatalf("kind %s T %g dense %v: dz[%d] = %g, finite difference %g", kind, T, dense, j, g[j], fd)
					}
				}
			}
		}
	}
}

// TestRowTeacherEqualsStudentGivesZeroKL: a student that reproduces the
// teacher's top-k and tail mass has zero divergence of every kind.
func TestRowTeacherEqualsStudentGivesZeroKL(t *testing.T) {
	const V = 10
	z := []float32{3, 1, 0.5, -1, 2, 0, -2, 1.5, 0.2, -0.7}
	var sum float64
	for _, v := range z {
		sum += math.Exp(float64(v))
	}
	teacher := &RowTeacher{IDs: []int32{0, 4, 7}}
	var top float64
	for _, id := range teacher.IDs {
		p := math.Exp(float64(z[id])) / sum
		top += p
		teacher.Logprobs = append(teacher.Logprobs, float32(math.Log(p)))
	}
	teacher.Tail = float32(1 - top)
	for _, kind := range []string{KLForward, KLReverse, KLJSD} {
		c := Config{Temperature: 1, KL: kind, JSDBeta: 0.5}
		var sc Scratch
		r := c.Row(append([]float32(nil), z...), -1, teacher, 0, 1, false, &sc)
		if math.Abs(r.KL) > 1e-6 {
			t.Fatalf("%s: KL = %g for a matching student", kind, r.KL)
		}
		if r.Argmax != 0 {
			t.Fatalf("argmax %d", r.Argmax)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{Alpha: 0.5, Temperature: 2, KL: "jsd", JSDBeta: 0.5, Gamma: 0.1,
		HiddenMap: []LayerPair{{Student: 2, Teacher: 8}}, TeacherHiddenDim: 64}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Config{
		"alpha":    {Alpha: 1.5, Temperature: 1},
		"temp":     {Temperature: 0},
		"kind":     {Temperature: 1, KL: "sideways"},
		"beta":     {Temperature: 1, KL: "jsd", JSDBeta: 1},
		"gamma":    {Temperature: 1, Gamma: 1},
		"dup pair": {Temperature: 1, HiddenMap: []LayerPair{{1, 2}, {1, 2}}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
	}
}

// TestRowNaNLogitGivesNaNLoss: a NaN anywhere in the logits, including the
// first one, shows up in the loss rather than being skipped by the max.
func TestRowNaNLogitGivesNaNLoss(t *testing.T) {
	for _, pos := range []int{0, 3} {
		z := []float32{1, 2, 3, 4, 5}
		z[pos] = float32(math.NaN())
		var sc Scratch
		r := Config{Temperature: 1}.Row(z, 1, nil, 1, 0, true, &sc)
		if !math.IsNaN(r.CE) {
			t.Fatalf("NaN at %d: CE %g", pos, r.CE)
		}
	}
}

// fullTeacher returns the sparse teacher of the distribution softmax(logits)
// (top-k ids in descending order, float64-exact logprobs and tail) together
// with its tempered tail q_T = Σ_{j∉top-k} p_j^{1/T} / Σ_j p_j^{1/T}, computed
// directly from the full distribution in float64.
func fullTeacher(logits []float32, k int, T float64) (*RowTeacher, float64) {
	V := len(logits)
	order := make([]int, V)
	for j := range order {
		order[j] = j
	}
	sort.Slice(order, func(a, b int) bool { return logits[order[a]] > logits[order[b]] })
	var m float64 = math.Inf(-1)
	for _, v := range logits {
		m = math.Max(m, float64(v))
	}
	var z1, zT float64
	for _, v := range logits {
		z1 += math.Exp(float64(v) - m)
		zT += math.Exp((float64(v) - m) / T)
	}
	t := &RowTeacher{}
	var top, topT float64
	for _, id := range order[:k] {
		lp := float64(logits[id]) - m - math.Log(z1)
		t.IDs = append(t.IDs, int32(id))
		t.Logprobs = append(t.Logprobs, float32(lp))
		top += math.Exp(lp)
		topT += math.Exp((float64(logits[id]) - m) / T)
	}
	t.Tail = float32(1 - top)
	return t, 1 - topT/zT
}

// TestRowStudentEqualToTeacherHasZeroKLAtEveryT is the invariant of the KD
// loss: a student whose logits are the teacher's own scores zero divergence
// of every kind at every temperature, against the sparse teacher (top-k +
// tail, with the tempered tail computed from the full distribution) and the
// dense one.
func TestRowStudentEqualToTeacherHasZeroKLAtEveryT(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	const V, K = 50, 6
	z := make([]float32, V)
	for j := range z {
		z[j] = float32(rng.NormFloat64() * 2)
	}
	for _, T := range []float64{0.5, 1, 2, 4} {
		for _, kind := range []string{KLForward, KLReverse, KLJSD} {
			c := Config{Alpha: 1, Temperature: T, KL: kind, JSDBeta: 0.3}
			sparse, qT := fullTeacher(z, K, T)
			sparse.TailT, sparse.HasTailT = float32(qT), true
			dense := &RowTeacher{Dense: z}
			for name, teacher := range map[string]*RowTeacher{"sparse": sparse, "dense": dense} {
				var sc Scratch
				r := c.Row(append([]float32(nil), z...), -1, teacher, 0, 1, false, &sc)
				if !(math.Abs(r.KL) <= 1e-6) {
					t.Errorf("T %g %s %s: T²·KL = %g for a student equal to its teacher, want 0", T, kind, name, r.KL)
				}
			}
		}
	}
}

// TestRowWithoutTemperedTailAtTNot1IsNaN: at T ≠ 1 a sparse teacher without
// its tempered tail cannot be represented; Row reports NaN instead of
// guessing a tail (r^(1/T) was the old, biased guess). At T = 1 the tail is
// the stored one.
func TestRowWithoutTemperedTailAtTNot1IsNaN(t *testing.T) {
	z := []float32{2, 1, 0, -1, 0.5}
	teacher := &RowTeacher{IDs: []int32{0, 1}, Logprobs: []float32{-0.5, -1.5}, Tail: 0.17}
	var sc Scratch
	if r := (Config{Temperature: 2}).Row(append([]float32(nil), z...), 1, teacher, 0.5, 0.5, false, &sc); !math.IsNaN(r.KL) {
		t.Fatalf("T 2 without a tempered tail: KL %g, want NaN", r.KL)
	}
	if r := (Config{Temperature: 1}).Row(append([]float32(nil), z...), 1, teacher, 0.5, 0.5, false, &sc); math.IsNaN(r.KL) || r.KL < 0 {
		t.Fatalf("T 1: KL %g", r.KL)
	}
}
