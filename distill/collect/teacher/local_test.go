package teacher

import (
	"math/rand"
	"sort"
	"testing"
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
