package kernels

import (
	"math/rand"
	"testing"

	"github.com/distill-ml/distill/num/parallel"
)

// allocShapes covers the blocked path (full and edge tiles, one and several
// panels, serial and parallel sizes), the matrix-vector paths (m = 1, n = 1)
// and every transpose combination.
var allocShapes = []struct {
	transA, transB bool
	m, n, k        int
}{
	{false, false, 7, 9, 5},
	{false, true, 37, 65, 33},
	{true, false, 100, 130, 70},
	{true, true, 13, 257, 255},
	{false, true, 256, 688, 256},  // parallel, several row blocks
	{false, false, 14, 4100, 520}, // several column panels and depth slices
	{false, false, 1, 300, 200},   // gemv, transposed
	{true, true, 1, 300, 200},
	{false, false, 300, 1, 200}, // gemv
	{true, true, 300, 1, 200},
}

// poolForAllocs is the heap allocations of one parallel For on p that really
// fans out (the pool's own cost, outside this package).
func poolForAllocs(p *parallel.Pool) float64 {
	fn := func(lo, hi int) {}
	return testing.AllocsPerRun(20, func() { p.For(64, 1, fn) })
}

// TestSgemmAllocFree: once warmed up, Sgemm and Sgemv allocate nothing
// (per-call state, packed panels and edge tiles are reused from the
// engine's free list). Allocation counts are deterministic, not a
// timing. On a multi-thread pool the pool's own per-For allocation (if any)
// is excluded by running the same engine on a one-thread pool as well.
func TestSgemmAllocFree(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	r := rand.New(rand.NewSource(1))
	randMat := func(n, _ int) []float32 { return randSlice(r, n) }
	for _, threads := range []int{1, 2} {
		pool := parallel.New(threads)
		if threads > 1 && poolForAllocs(pool) > 0 {
			t.Logf("parallel.Pool.For allocates %.0f objects per call: only the one-thread engine is held to 0", poolForAllocs(pool))
			continue
		}
		for _, kern := range availableKernels() {
			e := &Engine{pool: pool, kern: kern}
			for _, s := range allocShapes {
				a, b, c := randMat(s.m*s.k, 1), randMat(s.k*s.n, 2), randMat(s.m*s.n, 3)
				lda, ldb := cond(s.transA, s.m, s.k), cond(s.transB, s.k, s.n)
				run := func() { e.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 0.5, a, lda, b, ldb, 0.25, c, s.n) }
				run()
				if got := testing.AllocsPerRun(5, run); got != 0 {
					t.Errorf("%s, %d threads: Sgemm %v allocates %.1f objects per call", kern.name, threads, s, got)
				}
			}
			// Sgemv with unit and strided (also negative) increments.
			m, n := 70, 90
			a, x, y := randMat(m*n, 4), randMat(3*max(m, n), 5), randMat(2*max(m, n), 6)
			for _, trans := range []bool{false, true} {
				for _, inc := range [][2]int{{1, 1}, {3, 2}, {-2, -1}} {
					run := func() { e.Sgemv(trans, m, n, 1.5, a, n, x, inc[0], 0.5, y, inc[1]) }
					run()
					if got := testing.AllocsPerRun(5, run); got != 0 {
						t.Errorf("%s, %d threads: Sgemv trans=%v inc=%v allocates %.1f objects per call", kern.name, threads, trans, inc, got)
					}
				}
			}
		}
	}
}
