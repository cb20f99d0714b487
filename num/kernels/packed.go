package kernels

import "fmt"

// PackedA is a left operand A [m, k] packed once in the micro-kernel's
// layout, for several products A·Bᵀ with different right operands B. The
// runtime's prompt path multiplies one batch of activations by every
// dequantized tile of a set of weight matrices: packing the activations once
// per set instead of once per tile removes most of the packing work, and the
// tiles can be spread over the pool's threads while all of them read the
// same packed A.
//
// Layout: depth panels of kc columns (the last one shorter); panel p holds
// ceil(m/mr) slivers of [kcur][mr] (rows past m zeroed), as packABlock
// writes them. A PackedA is read-only once packed, so several goroutines
// may multiply with it at once.
type PackedA struct {
	kern    *microKernel
	m, k    int
	kc      int
	slivers int       // ceil(m/mr)
	data    []float32 // the panels, back to back
}

// PackScratch is per-goroutine scratch for MulPackedNT (a packed sliver of
// B and an edge tile); its zero value is ready and it grows on first use.
type PackScratch struct {
	bpack, tile []float32
}

// PackA packs a [m, k] (row-major, leading dimension lda) into pa for this
// engine's micro-kernel, reusing pa's buffer. It runs on the calling
// goroutine.
func (e *Engine) PackA(pa *PackedA, m, k int, a []float32, lda int) {
	if m < 1 || k < 1 {
		panic(fmt.Sprintf("kernels: PackA of a %d×%d matrix", m, k))
	}
	if lda < k || len(a) < (m-1)*lda+k {
		panic(fmt.Sprintf("kernels: PackA: a has %d elements, too few for %d×%d with lda %d", len(a), m, k, lda))
	}
	mk := e.kern
	pa.kern, pa.m, pa.k = mk, m, k
	pa.kc = blockLen(k, mk.kc, 1)
	pa.slivers = (m + mk.mr - 1) / mk.mr
	pa.data = growF32(pa.data, pa.slivers*mk.mr*k)
	for pc := 0; pc < k; pc += pa.kc {
		kcur := min(pa.kc, k-pc)
		packABlock(pa.panel(pc, kcur), false, a, lda, 0, m, pc, kcur, mk.mr, mk.pk)
	}
}

// panel is the packed depth panel starting at column pc.
func (p *PackedA) panel(pc, kcur int) []float32 {
	off := pc * p.slivers * p.kern.mr
	return p.data[off : off+p.slivers*p.kern.mr*kcur]
}

// MulPackedNT computes C[m, n] = A·Bᵀ for the packed A [m, k] and a
// row-major B [n, k] (leading dimension ldb), writing C with leading
// dimension ldc (C is overwritten, never read). It runs on the calling
// goroutine with the caller's scratch, so different goroutines may run it
// at once on disjoint parts of C.
//
//	b: [n, ldb], c: [m, ldc]
func (e *Engine) MulPackedNT(pa *PackedA, n int, b []float32, ldb int, c []float32, ldc int, sc *PackScratch) {
	mk := e.kern
	if pa.kern != mk {
		panic(fmt.Sprintf("kernels: MulPackedNT: A was packed for kernel %q, engine uses %q", pa.kern.name, mk.name))
	}
	m, k := pa.m, pa.k
	if n < 0 || ldb < k || ldc < n || (n > 0 && len(b) < (n-1)*ldb+k) || (n > 0 && len(c) < (m-1)*ldc+n) {
		panic(fmt.Sprintf("kernels: MulPackedNT: m=%d n=%d k=%d, len(b)=%d ldb=%d, len(c)=%d ldc=%d", m, n, k, len(b), ldb, len(c), ldc))
	}
	if n == 0 {
		return
	}
	if regionsOverlap(b, n, k, ldb, c, m, n, ldc) {
		panic("kernels: MulPackedNT: C overlaps B")
	}
	nr := mk.nr
	sc.bpack = growF32(sc.bpack, pa.kc*nr)
	sc.tile = growF32(sc.tile, maxTile)
	// One B sliver (nr rows of B = nr columns of C) at a time, through every
	// depth panel: the sliver stays in L1/L2 while the packed A streams.
	for j := 0; j < n; j += nr {
		cols := min(nr, n-j)
		for pc := 0; pc < k; pc += pa.kc {
			kcur := min(pa.kc, k-pc)
			bs := sc.bpack[:kcur*nr]
			packBSliver(bs, true, b, ldb, pc, kcur, j, cols, nr, mk.pk)
			acc := 0
			if pc > 0 {
				acc = 1
			}
			// macro with this one sliver as the whole panel, starting at column j.
			e.macro(pa.panel(pc, kcur), bs, sc.tile, kcur, 0, m, j, 0, 1, m, n, c, ldc, 1, acc)
		}
	}
}
