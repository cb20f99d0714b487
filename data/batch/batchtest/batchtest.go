// Package batchtest completes synthetic training batches for tests of the
// loss ops and the student model.
package batchtest

import (
	"math"
	"math/rand"

	"github.com/distill-ml/distill/data/batch"
)

// RandomTopK fills position p of b's sparse teacher (b.K alternatives) with
// a random distribution over a vocabulary of V: K distinct ids in random
// order, each taking a fraction lo + span·u (u uniform in [0, 1)) of the
// mass the earlier ones left, and the rest as the tail.
func RandomTopK(rng *rand.Rand, b *batch.Batch, p, V int, lo, span float64) {
	K := b.K
	perm := rng.Perm(V)[:K]
	rest := 1.0
	for k := 0; k < K; k++ {
		pr := rest * (lo + span*rng.Float64())
		rest -= pr
		b.TopKIDs[p*K+k] = int32(perm[k])
		b.TopKLogprobs[p*K+k] = float32(math.Log(pr))
	}
	b.TailMass[p] = float32(rest)
}

// TemperTail gives b's sparse teacher its tail tempered at temp, for the
// vocabulary-V distribution whose tail mass r is spread evenly over the V−K
// tokens outside the top-K: each tail token has probability r/(V−K), so
//
//	q = (V−K)·(r/(V−K))^(1/temp) / (Σ_top p_i^(1/temp) + (V−K)·(r/(V−K))^(1/temp)).
//
// It fills every position (rows without a teacher included, as the loader's
// zeroed slots are).
func TemperTail(b *batch.Batch, V int, temp float64) {
	N, K := b.B*b.T, b.K
	b.TailTempered, b.TailTemperature = make([]float32, N), temp
	for p := 0; p < N; p++ {
		var top float64
		for k := 0; k < K; k++ {
			top += math.Exp(float64(b.TopKLogprobs[p*K+k]) / temp)
		}
		rest := float64(V-K) * math.Pow(float64(b.TailMass[p])/float64(V-K), 1/temp)
		b.TailTempered[p] = float32(rest / (top + rest))
	}
}

// RowStarts returns a batch.RowStart [len(starts)·T] for windows of T
// positions whose documents start at starts[w] (each list beginning with 0)
// and whose positions from pad[w] on are padding (each its own document).
func RowStarts(T int, starts [][]int, pad []int) []int32 {
	rs := make([]int32, len(starts)*T)
	for w, st := range starts {
		for t := 0; t < T; t++ {
			s := 0
			for _, v := range st {
				if v <= t {
					s = v
				}
			}
			if t >= pad[w] {
				s = t
			}
			rs[w*T+t] = int32(s)
		}
	}
	return rs
}
