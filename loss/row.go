package loss

import (
	"math"

	"github.com/distill-ml/distill/num/fastmath"
)

// tinyProb floors teacher bucket probabilities inside logs for reverse KL.
const tinyProb = 1e-12

// RowTeacher is the teacher distribution at one position: sparse (top-k ids
// with natural-log probabilities of the stored distribution p, its tail mass
// and, for T ≠ 1, its tempered tail mass) or, when Dense is non-nil, dense
// logits over the whole vocabulary.
type RowTeacher struct {
	IDs      []int32   // [k]
	Logprobs []float32 // [k]
	Tail     float32   // teacher probability outside the top-k
	// TailT is the tail mass of the teacher tempered at the loss temperature
	// T, q_T = Σ_{j∉top-k} p_j^{1/T} / Σ_j p_j^{1/T}, which the top-k and
	// Tail do not determine. HasTailT says it is set; a sparse teacher
	// without it at T ≠ 1 gives a NaN KL (see the package doc).
	TailT    float32
	HasTailT bool
	Dense    []float32 // [V] teacher logits; overrides the sparse fields
}

// RowResult is the loss at one position (unweighted).
type RowResult struct {
	CE     float64 // −log softmax(z)[target]
	KL     float64 // T²·D(teacher_T, student_T); 0 without a teacher
	Argmax int     // student's most likely token
}

// Scratch is per-goroutine working memory for Row; the zero value is ready.
type Scratch struct {
	expT             []float32 // [V] exp((z−max)/T) when T ≠ 1
	e1               []float32 // [V] exp(z−max) when z must stay intact
	t, s, lt, ls, kb []float64 // per-bucket teacher/student probabilities, logs, gradient
	ids              []int32
	zb               []float32
}

func growF64(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}

// Row evaluates the loss at one position from the student logits z [V].
// With grad set it overwrites z with ∂(ceW·CE + klW·KL)/∂z (klW multiplies the
// T²-scaled KL value; Config.RowWeights gives ceW and klW). target < 0 skips
// CE; teacher nil skips KL.
func (c Config) Row(z []float32, target int32, teacher *RowTeacher, ceW, klW float32, grad bool, sc *Scratch) RowResult {
	T := c.Temperature
	if T == 0 {
		T = 1
	}
	r := row{z: z, T: T, invT: float32(1 / T), tempered: teacher != nil && T != 1}
	var arg int
	r.m, arg = maxArg(z)
	var zt float32
	if target >= 0 {
		zt = z[target]
	}
	// Keep the logits the KL reads before the gradient overwrites z.
	var ub []int32   // [k'] the sparse teacher's ids, duplicates merged
	var zs []float32 // [V] a copy of z for a dense teacher
	sparse := teacher != nil && teacher.Dense == nil
	switch {
	case sparse:
		ub = sc.keepBuckets(z, teacher.IDs)
	case teacher != nil:
		zs = sc.keepLogits(z)
	}
	r.exponentials(sc, grad)
	res := RowResult{Argmax: arg}
	if target >= 0 {
		res.CE = r.lse1 + float64(r.m) - float64(zt)
	}
	switch {
	case sparse:
		res.KL = c.sparseKL(&r, sc, teacher, ub)
	case teacher != nil:
		res.KL = c.denseKL(&r, sc, teacher.Dense, zs)
	}
	if grad {
		r.gradient(sc, teacher, ub, target, ceW, klW)
	}
	return res
}

// row is the state one Row evaluation shares between its parts.
type row struct {
	z          []float32 // [V] logits; the gradient overwrites them
	T          float64   // temperature
	invT       float32   // 1/T
	tempered   bool      // a teacher at T ≠ 1: softmax(z/T) is needed besides softmax(z)
	m          float32   // max logit
	sum1, sumT float64   // Σ exp(z−m), Σ exp((z−m)/T)
	lse1, lseT float64   // their logs
	sTail      float64   // student mass outside a sparse teacher's top-k, at T
}

// maxArg returns the largest logit and its index. A NaN logit is never the
// max, but it still reaches the sums, so the loss is NaN.
func maxArg(z []float32) (float32, int) {
	m, arg := z[0], 0
	for j, v := range z {
		if v > m {
			m, arg = v, j
		}
	}
	return m, arg
}

// keepBuckets records the teacher's ids with duplicates merged (sc.ids) and
// the logits at them (sc.zb), and returns the ids.
func (sc *Scratch) keepBuckets(z []float32, ids []int32) []int32 {
	sc.ids = sc.ids[:0]
	sc.zb = sc.zb[:0]
	for _, id := range ids {
		dup := false
		for _, u := range sc.ids {
			if u == id {
				dup = true
				break
			}
		}
		if !dup {
			sc.ids = append(sc.ids, id)
			sc.zb = append(sc.zb, z[id])
		}
	}
	return sc.ids
}

// keepLogits copies z into sc.zb and returns the copy.
func (sc *Scratch) keepLogits(z []float32) []float32 {
	if cap(sc.zb) < len(z) {
		sc.zb = make([]float32, len(z))
	}
	zs := sc.zb[:len(z)]
	copy(zs, z)
	return zs
}

// buckets sizes the per-bucket working memory to n buckets.
func (sc *Scratch) buckets(n int) (t, s, lt, ls, k []float64) {
	sc.t = growF64(sc.t, n)
	sc.s = growF64(sc.s, n)
	sc.lt = growF64(sc.lt, n)
	sc.ls = growF64(sc.ls, n)
	sc.kb = growF64(sc.kb, n)
	return sc.t, sc.s, sc.lt, sc.ls, sc.kb
}

// exponentials computes the softmax sums (vectorised, float64 sums): at T in
// sc.expT when tempered, and at 1 in place in z when the gradient will
// overwrite it (else in sc.e1).
func (r *row) exponentials(sc *Scratch, grad bool) {
	V := len(r.z)
	if r.tempered {
		if cap(sc.expT) < V {
			sc.expT = make([]float32, V)
		}
		sc.expT = sc.expT[:V]
		r.sumT = fastmath.ExpSum(sc.expT, r.z, r.m, r.invT) // reads z before it is overwritten
	}
	if grad {
		r.sum1 = fastmath.ExpSum(r.z, r.z, r.m, 1)
	} else {
		if cap(sc.e1) < V {
			sc.e1 = make([]float32, V)
		}
		r.sum1 = fastmath.ExpSum(sc.e1[:V], r.z, r.m, 1)
	}
	if !r.tempered {
		r.sumT = r.sum1
	}
	r.lse1 = math.Log(r.sum1)
	r.lseT = math.Log(r.sumT)
}

// sparseKL is T²·D between the sparse teacher and the student on the k'+1
// buckets ub + tail (see the package doc); it leaves the per-bucket gradient
// factors in sc.kb and the student's tail mass in r.sTail.
func (c Config) sparseKL(r *row, sc *Scratch, teacher *RowTeacher, ub []int32) float64 {
	nb := len(ub) + 1
	t, s, lt, ls, k := sc.buckets(nb)
	c.sparseTeacher(t, ub, teacher, r.T)
	// Student buckets from the same float32 exponentials the sums used, so
	// the tail mass is the exact remainder.
	var topSum float64
	for b := range ub {
		d := sc.zb[b] - r.m
		var e float32
		if r.tempered {
			e = fastmath.Exp(d * r.invT)
		} else {
			e = fastmath.Exp(d)
		}
		topSum += float64(e)
		ls[b] = float64(d)/r.T - r.lseT
		s[b] = math.Exp(ls[b])
	}
	tailSum := math.Max(r.sumT-topSum, 0)
	r.sTail = tailSum / r.sumT
	s[nb-1] = r.sTail
	ls[nb-1] = math.Log(tailSum) - r.lseT
	for b := range t {
		lt[b] = math.Log(t[b])
	}
	kl := r.T * r.T * c.divergence(t, s, lt, ls, k)
	if r.tempered && !teacher.HasTailT {
		return math.NaN() // the divergences skip NaN buckets; the gradient is NaN already
	}
	return kl
}

// denseKL is T²·D between softmax(tz/T) and softmax(z/T), every token its
// own bucket (zs [V] is z before the gradient); it leaves the per-token
// gradient factors in sc.kb.
func (c Config) denseKL(r *row, sc *Scratch, tz, zs []float32) float64 {
	t, s, lt, ls, k := sc.buckets(len(zs))
	tm := tz[0]
	for _, v := range tz {
		if v > tm {
			tm = v
		}
	}
	var ts float64
	for j, v := range tz {
		lt[j] = float64(v-tm) / r.T
		ts += math.Exp(lt[j])
	}
	lts := math.Log(ts)
	for j := range t {
		lt[j] -= lts
		t[j] = math.Exp(lt[j])
		ls[j] = float64(zs[j]-r.m)/r.T - r.lseT
		s[j] = math.Exp(ls[j])
	}
	return r.T * r.T * c.divergence(t, s, lt, ls, k)
}

// gradient overwrites r.z (holding exp(z−m)) with ∂(ceW·CE + klW·KL)/∂z, from
// the bucket factors sc.kb the KL left. ∂(T²·D(u = z/T))/∂z = T·∂D/∂u, hence
// the klW·T scale. A sparse teacher's tail tokens get s_j·k_tail/s_tail;
// each top-k token its own bucket's factor.
func (r *row) gradient(sc *Scratch, teacher *RowTeacher, ub []int32, target int32, ceW, klW float32) {
	z := r.z
	sparse := teacher != nil && teacher.Dense == nil
	inv1 := float32(1 / r.sum1)
	klScale := float32(float64(klW) * r.T)
	var tailCoef float32
	if sparse && r.sTail > 0 {
		tailCoef = klScale * float32(sc.kb[len(ub)]/r.sTail)
	}
	invSumT := float32(1 / r.sumT)
	switch {
	case teacher != nil && !sparse:
		for j := range z {
			z[j] = ceW*z[j]*inv1 + klScale*float32(sc.kb[j])
		}
	case r.tempered:
		for j := range z {
			z[j] = ceW*z[j]*inv1 + tailCoef*sc.expT[j]*invSumT
		}
	case sparse: // T = 1: the tempered softmax is the plain one
		for j := range z {
			z[j] = (ceW + tailCoef) * z[j] * inv1
		}
	default:
		for j := range z {
			z[j] = ceW * z[j] * inv1
		}
	}
	if sparse {
		for b, id := range ub {
			// Replace the tail treatment by the token's own bucket gradient.
			s1 := float32(math.Exp(float64(sc.zb[b]-r.m) - r.lse1))
			z[id] = ceW*s1 + klScale*float32(sc.kb[b])
		}
	}
	if target >= 0 {
		z[target] -= ceW
	}
}

// sparseTeacher fills t [len(ub)+1] with the teacher's bucket probabilities
// at temperature T: the top-k buckets ub (duplicate ids merged) and the tail
// last. At T = 1 they are the stored exp(lp_i) and r, normalised to sum 1
// (stored logprobs are quantized). At T ≠ 1 the tail is the stored tempered
// tail q_T and the top-k share 1 − q_T in proportion to exp(lp_i/T), which is
// exact: p_i^{1/T} / Σ_{top-k} p^{1/T}. Without a tempered tail every bucket
// is NaN, so the KL is NaN rather than silently biased.
func (c Config) sparseTeacher(t []float64, ub []int32, teacher *RowTeacher, T float64) {
	nb := len(t)
	if T != 1 && !teacher.HasTailT {
		for b := range t {
			t[b] = math.NaN()
		}
		return
	}
	for b := range ub {
		t[b] = 0
	}
	// At T ≠ 1 the weights are taken relative to the largest logprob, so
	// that none underflows to an all-zero top-k at small T.
	shift := 0.0
	if T != 1 {
		shift = math.Inf(-1)
		for _, lp := range teacher.Logprobs {
			shift = math.Max(shift, float64(lp))
		}
	}
	for i, id := range teacher.IDs {
		for b, u := range ub {
			if u == id {
				t[b] += math.Exp((float64(teacher.Logprobs[i]) - shift) / T)
				break
			}
		}
	}
	var top float64
	for b := range ub {
		top += t[b]
	}
	if T == 1 {
		r := math.Min(math.Max(float64(teacher.Tail), 0), 1)
		norm := top + r
		for b := range ub {
			t[b] /= norm
		}
		t[nb-1] = r / norm
		return
	}
	q := math.Min(math.Max(float64(teacher.TailT), 0), 1)
	for b := range ub {
		t[b] *= (1 - q) / top
	}
	t[nb-1] = q
}

// divergence returns D(t, s) over buckets and fills k[b] = s_b·∂D/∂logit of a
// token alone in bucket b, i.e. ∂D/∂u_j = s_j·k_b/s_b for a token j in b
// (u = z/T). t, s are probabilities, lt, ls their logs.
func (c Config) divergence(t, s, lt, ls, k []float64) float64 {
	var L float64
	switch c.KLKind() {
	case KLReverse:
		var gbar float64
		for b := range t {
			k[b] = 0
			if s[b] > 0 {
				g := ls[b] - math.Log(math.Max(t[b], tinyProb))
				k[b] = g
				gbar += s[b] * g
			}
		}
		L = gbar
		for b := range t {
			k[b] = s[b] * (k[b] - gbar)
		}
	case KLJSD:
		beta := c.JSDBeta
		var gbar float64
		for b := range t {
			mb := beta*t[b] + (1-beta)*s[b]
			k[b] = 0
			if mb <= 0 {
				continue
			}
			lm := math.Log(mb)
			if t[b] > 0 {
				L += beta * t[b] * (lt[b] - lm)
			}
			if s[b] > 0 {
				L += (1 - beta) * s[b] * (ls[b] - lm)
				g := (1 - beta) * (ls[b] - lm)
				k[b] = g
				gbar += s[b] * g
			}
		}
		for b := range t {
			k[b] = s[b] * (k[b] - gbar)
		}
	default: // forward
		for b := range t {
			if t[b] > 0 {
				L += t[b] * (lt[b] - ls[b])
			}
			k[b] = s[b] - t[b]
		}
	}
	return L
}
