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
// T²-scaled KL value). target < 0 skips CE; teacher nil skips KL.
func (c Config) Row(z []float32, target int32, teacher *RowTeacher, ceW, klW float32, grad bool, sc *Scratch) RowResult {
	V := len(z)
	T := c.Temperature
	if T == 0 {
		T = 1
	}
	invT := float32(1 / T)
	tempered := teacher != nil && T != 1

	// Pass 1: max and argmax.
	m, arg := z[0], 0
	for j, v := range z {
		if v > m { // a NaN logit still reaches the sums below, so the loss is NaN
			m, arg = v, j
		}
	}
	var zt float32
	if target >= 0 {
		zt = z[target]
	}
	// Keep the logits the sparse teacher looks at before z is overwritten.
	var ub []int32
	if teacher != nil && teacher.Dense == nil {
		sc.ids = sc.ids[:0]
		sc.zb = sc.zb[:0]
		for _, id := range teacher.IDs {
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
		ub = sc.ids
	}
	if tempered {
		if cap(sc.expT) < V {
			sc.expT = make([]float32, V)
		}
		sc.expT = sc.expT[:V]
	}
	// Dense teacher: keep student logits for the per-token buckets.
	var zs []float32
	if teacher != nil && teacher.Dense != nil {
		if cap(sc.zb) < V {
			sc.zb = make([]float32, V)
		}
		zs = sc.zb[:V]
		copy(zs, z)
	}

	// Pass 2: exponentials and their sums (vectorised; float64 sums).
	var sum1, sumT float64
	if tempered {
		sumT = fastmath.ExpSum(sc.expT, z, m, invT) // reads z before it is overwritten
	}
	if grad {
		sum1 = fastmath.ExpSum(z, z, m, 1)
	} else {
		if cap(sc.e1) < V {
			sc.e1 = make([]float32, V)
		}
		sum1 = fastmath.ExpSum(sc.e1[:V], z, m, 1)
	}
	if !tempered {
		sumT = sum1
	}
	lse1 := math.Log(sum1)
	lseT := math.Log(sumT)
	res := RowResult{Argmax: arg}
	if target >= 0 {
		res.CE = lse1 + float64(m) - float64(zt)
	}

	// KL on buckets.
	var kTail, sTail float64
	nb := 0
	if teacher != nil {
		if teacher.Dense == nil {
			nb = len(ub) + 1
		} else {
			nb = V
		}
		sc.t = growF64(sc.t, nb)
		sc.s = growF64(sc.s, nb)
		sc.lt = growF64(sc.lt, nb)
		sc.ls = growF64(sc.ls, nb)
		sc.kb = growF64(sc.kb, nb)
		t, s, lt, ls := sc.t, sc.s, sc.lt, sc.ls
		if teacher.Dense == nil {
			c.sparseTeacher(t[:nb], ub, teacher, T)
			// Student buckets from the same float32 exponentials the sums used,
			// so the tail mass is the exact remainder.
			var topSum float64
			for b := range ub {
				d := (sc.zb[b] - m)
				var e float32
				if tempered {
					e = fastmath.Exp(d * invT)
				} else {
					e = fastmath.Exp(d)
				}
				topSum += float64(e)
				ls[b] = float64(d)/T - lseT
				s[b] = math.Exp(ls[b])
			}
			tailSum := math.Max(sumT-topSum, 0)
			sTail = tailSum / sumT
			s[nb-1] = sTail
			ls[nb-1] = math.Log(tailSum) - lseT
		} else {
			// Dense teacher: softmax(teacher/T) and softmax(z/T) per token.
			tm := teacher.Dense[0]
			for _, v := range teacher.Dense {
				if v > tm {
					tm = v
				}
			}
			var ts float64
			for j, v := range teacher.Dense {
				lt[j] = float64(v-tm) / T
				ts += math.Exp(lt[j])
			}
			lts := math.Log(ts)
			for j := range t {
				lt[j] -= lts
				t[j] = math.Exp(lt[j])
				ls[j] = float64(zs[j]-m)/T - lseT
				s[j] = math.Exp(ls[j])
			}
		}
		if teacher.Dense == nil {
			for b := 0; b < nb; b++ {
				lt[b] = math.Log(t[b])
			}
		}
		res.KL = T * T * c.divergence(t, s, lt, ls, sc.kb)
		if teacher.Dense == nil && tempered && !teacher.HasTailT {
			res.KL = math.NaN() // the divergences skip NaN buckets; the gradient is NaN already
		}
		kTail = sc.kb[nb-1]
	}
	if !grad {
		return res
	}

	// Pass 3: gradient. Tail tokens get s_j·k_tail/s_tail from the KL term.
	inv1 := float32(1 / sum1)
	klScale := float32(float64(klW) * T)
	var tailCoef float32
	if teacher != nil && teacher.Dense == nil && sTail > 0 {
		tailCoef = klScale * float32(kTail/sTail)
	}
	invSumT := float32(1 / sumT)
	switch {
	case teacher != nil && teacher.Dense != nil:
		for j := range z {
			z[j] = ceW*z[j]*inv1 + klScale*float32(sc.kb[j])
		}
	case tempered:
		for j := range z {
			z[j] = ceW*z[j]*inv1 + tailCoef*sc.expT[j]*invSumT
		}
	case teacher != nil: // T = 1: the tempered softmax is the plain one
		for j := range z {
			z[j] = (ceW + tailCoef) * z[j] * inv1
		}
	default:
		for j := range z {
			z[j] = ceW * z[j] * inv1
		}
	}
	if teacher != nil && teacher.Dense == nil {
		for b, id := range ub {
			// Replace the tail treatment by the token's own bucket gradient.
			s1 := float32(math.Exp(float64(sc.zb[b]-m) - lse1))
			z[id] = ceW*s1 + klScale*float32(sc.kb[b])
		}
	}
	if target >= 0 {
		z[target] -= ceW
	}
	return res
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
