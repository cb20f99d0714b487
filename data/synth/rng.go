package synth

// rng is a small deterministic random source (SplitMix64). The generator owns
// its own algorithm, rather than using math/rand, so that a seed produces
// byte-identical corpora on every Go version and platform.
type rng struct{ state uint64 }

// newRNG derives an independent stream from the corpus seed and a stream label
// (e.g. "golden", "train") and index, so streams never overlap and one
// stream's draws do not shift another's.
func newRNG(seed uint64, label string, index uint64) *rng {
	h := uint64(0xcbf29ce484222325) // FNV-1a over the label
	for i := 0; i < len(label); i++ {
		h ^= uint64(label[i])
		h *= 0x100000001b3
	}
	r := &rng{state: seed ^ mix64(h) ^ mix64(index+0x9e3779b97f4a7c15)}
	r.next()
	return r
}

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	return mix64(r.state)
}

// intn returns a uniform integer in [0, n); n must be > 0.
func (r *rng) intn(n int) int {
	if n <= 1 {
		return 0
	}
	bound := uint64(n)
	limit := ^uint64(0) - (^uint64(0) % bound) // reject the biased tail
	for {
		v := r.next()
		if v < limit {
			return int(v % bound)
		}
	}
}

// rangeStep returns lo, lo+step, ..., up to hi inclusive, uniformly.
func (r *rng) rangeStep(lo, hi, step int) int {
	return lo + step*r.intn((hi-lo)/step+1)
}

// chance reports true with probability p.
func (r *rng) chance(p float64) bool {
	return float64(r.next()>>11)/(1<<53) < p
}

// pick returns a uniformly chosen element of xs.
func pick[T any](r *rng, xs []T) T { return xs[r.intn(len(xs))] }

// shuffle permutes xs in place (Fisher-Yates).
func shuffle[T any](r *rng, xs []T) {
	for i := len(xs) - 1; i > 0; i-- {
		j := r.intn(i + 1)
		xs[i], xs[j] = xs[j], xs[i]
	}
}
