package kernels

import (
	"fmt"
	"math/rand"
	"testing"
)

// TestMulPackedNT: C = A·Bᵀ through PackA + MulPackedNT agrees with the
// float64 reference (the same bound as Sgemm's tests) on every micro-kernel,
// the portable one included, for sizes that are not multiples of any tile
// (mr, nr, kc) and with padded leading dimensions; elements of C outside the
// m×n window are left alone, and one PackedA serves several B in turn.
func TestMulPackedNT(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for _, k := range availableKernels() {
		e := &Engine{kern: k}
		var pa PackedA
		var sc PackScratch
		for _, m := range []int{1, 5, 12, 13, 24, 128} {
			for _, depth := range []int{1, 7, 64, 511, 513, 1100} {
				g := newCase(r, false, true, m, 1, depth, 3, 1, 0) // A operand
				e.PackA(&pa, m, depth, g.a, g.lda)
				for _, n := range []int{1, 16, 31, 32, 33, 70} {
					c := newCase(r, false, true, m, n, depth, 2, 1, 0)
					c.a, c.lda = g.a, g.lda // the packed A
					want, tol := c.reference()
					got := append([]float32(nil), c.c...)
					e.MulPackedNT(&pa, n, c.b, c.ldb, got, c.ldc, &sc)
					compare(t, fmt.Sprintf("%s m=%d n=%d k=%d", k.name, m, n, depth), got, want, tol)
				}
			}
		}
	}
}

// TestMulPackedNTRejectsMismatch: a PackedA packed for one micro-kernel
// cannot be multiplied by an engine using another, and C may not overlap B.
func TestMulPackedNTRejectsMismatch(t *testing.T) {
	ks := availableKernels()
	a := make([]float32, 4*8)
	b := make([]float32, 3*8)
	c := make([]float32, 4*3)
	mustPanic := func(what string, fn func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", what)
			}
		}()
		fn()
	}
	var pa PackedA
	var sc PackScratch
	(&Engine{kern: ks[0]}).PackA(&pa, 4, 8, a, 8)
	if len(ks) > 1 {
		mustPanic("other kernel", func() { (&Engine{kern: ks[len(ks)-1]}).MulPackedNT(&pa, 3, b, 8, c, 3, &sc) })
	}
	mustPanic("short c", func() { (&Engine{kern: ks[0]}).MulPackedNT(&pa, 3, b, 8, c[:5], 3, &sc) })
	mustPanic("c overlaps b", func() { (&Engine{kern: ks[0]}).MulPackedNT(&pa, 3, b, 8, b, 3, &sc) })
	mustPanic("empty A", func() { (&Engine{kern: ks[0]}).PackA(&pa, 0, 8, a, 8) })
}
