package kernels

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/distill-ml/distill/num/parallel"
)

// microKernel is one register-tiled inner kernel with its block sizes.
type microKernel struct {
	name   string
	mr, nr int // tile rows (broadcast A values) and columns (vector lanes)
	kc     int // depth of a packed panel
	mc     int // rows of op(A) packed per block (multiple of mr)
	nc     int // columns of op(B) packed per panel (multiple of nr)
	// fn computes C[0:mr, 0:nr] (row stride ldc) = alpha·a·b (+ C when
	// accumulate != 0) from a: [k][mr] and b: [k][nr].
	fn func(k int, a, b, c *float32, ldc int, alpha float32, accumulate int)
	// pk, if set, holds the assembly packing routines (see packTransposed
	// and packSegments).
	pk *packers
	// dot and axpy, if set, handle the multiple-of-8 prefix of a vector
	// for Sgemv (see dot and axpy in sgemv.go).
	dot  func(a, b *float32, n int) float32
	axpy func(alpha float32, x, y *float32, n int)
}

// packers are the assembly routines of the packing: the block transposes
// used by packTransposed, t8 writing dst[(8b+i)*dstStride+j] =
// src[j*srcStride+8b+i] for b < blocks and i, j < 8 and t4 the same for
// j < 4; and the row copies used by packSegments, rows12, rows16 and rows32
// writing dst[p*w+j] = src[p*ld+j] for p < rows, j < w (w = 12, 16, 32): op(B)
// slivers of an NN product, op(A) slivers of a TN one. All of them
// prefetch the source rows they will read next: packed panels come from
// rows of A or B far apart in memory, which the hardware prefetcher alone
// does not fetch early enough (the copy of a 2560×960 op(B) out of cache
// runs at 11 GB/s without, 20 GB/s with, on Zen 5).
type packers struct {
	t8, t4                 func(dst *float32, dstStride int, src *float32, srcStride int, blocks int)
	rows12, rows16, rows32 func(dst, src *float32, ld, rows int)
}

// rowCopy is pk's row copy for width w, nil if it has none.
func (pk *packers) rowCopy(w int) func(dst, src *float32, ld, rows int) {
	switch {
	case pk == nil:
		return nil
	case w == 12:
		return pk.rows12
	case w == 16:
		return pk.rows16
	case w == 32:
		return pk.rows32
	}
	return nil
}

// Engine runs GEMMs with one micro-kernel on one worker pool. It is safe for
// concurrent use: each call takes its own state and scratch from a free list
// the engine keeps (one entry per call that ever ran concurrently), so calls
// in steady state allocate nothing.
type Engine struct {
	pool *parallel.Pool
	kern *microKernel

	free parallel.FreeList[gemmCall]
}

// NewEngine returns an engine computing on pool (parallel.Default() if nil)
// with the fastest micro-kernel this CPU supports.
func NewEngine(pool *parallel.Pool) *Engine {
	if pool == nil {
		pool = parallel.Default()
	}
	return &Engine{pool: pool, kern: bestKernel()}
}

// Threads is the number of goroutines the engine's pool computes on.
func (e *Engine) Threads() int { return e.pool.Threads() }

// Kernel names the micro-kernel in use, e.g. "avx512 12x32".
func (e *Engine) Kernel() string { return e.kern.name }

var defaultEngine = sync.OnceValue(func() *Engine { return NewEngine(nil) })

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on the default pool, where
// op(A) is m×k and op(B) is k×n (see the package doc for layouts).
//
//	a: [m, lda] (transA false) or [k, lda] (transA true)
//	b: [k, ldb] (transB false) or [n, ldb] (transB true)
//	c: [m, ldc]
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	defaultEngine().Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Sgemm is the package-level Sgemm on this engine's pool and kernel.
func (e *Engine) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	checkNoOverlap(a, b, c, transA, transB, m, n, k, lda, ldb, ldc)
	e.gemm(e.pool.Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: negative size m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k // stored shape of A
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if lda < max(1, ac) {
		panic(fmt.Sprintf("kernels: lda=%d < %d columns of A", lda, ac))
	}
	if ldb < max(1, bc) {
		panic(fmt.Sprintf("kernels: ldb=%d < %d columns of B", ldb, bc))
	}
	if ldc < max(1, n) {
		panic(fmt.Sprintf("kernels: ldc=%d < n=%d", ldc, n))
	}
	if m == 0 || n == 0 {
		return
	}
	if k > 0 {
		if need := (ar-1)*lda + ac; len(a) < need {
			panic(fmt.Sprintf("kernels: len(a)=%d < %d needed for a %d×%d A with lda=%d", len(a), need, ar, ac, lda))
		}
		if need := (br-1)*ldb + bc; len(b) < need {
			panic(fmt.Sprintf("kernels: len(b)=%d < %d needed for a %d×%d B with ldb=%d", len(b), need, br, bc, ldb))
		}
	}
	if need := (m-1)*ldc + n; len(c) < need {
		panic(fmt.Sprintf("kernels: len(c)=%d < %d needed for a %d×%d C with ldc=%d", len(c), need, m, n, ldc))
	}
}

// regionsOverlap reports whether the xr×xc matrix x (row stride ldx) and
// the yr×yc matrix y (row stride ldy) share an element. With equal strides
// the test is exact, so interleaved matrices in one buffer (heads side by
// side in a row) are allowed; otherwise it compares address ranges.
func regionsOverlap(x []float32, xr, xc, ldx int, y []float32, yr, yc, ldy int) bool {
	if xr == 0 || xc == 0 || yr == 0 || yc == 0 || len(x) == 0 || len(y) == 0 {
		return false
	}
	px, py := uintptr(unsafe.Pointer(&x[0])), uintptr(unsafe.Pointer(&y[0]))
	xEnd := px + uintptr((xr-1)*ldx+xc)*4
	yEnd := py + uintptr((yr-1)*ldy+yc)*4
	if px >= yEnd || py >= xEnd {
		return false
	}
	if ldx != ldy {
		return true
	}
	if py < px {
		px, py = py, px
		xr, xc, yr, yc = yr, yc, xr, xc
	}
	d := int((py - px) / 4) // y starts d elements after x
	return stridedHit(d, xr, xc, yr, yc, ldx)
}

// stridedHit reports whether d = (i1-i2)·ld + (j1-j2) for some i1 < r1,
// i2 < r2, j1 < c1, j2 < c2 (c1, c2 ≤ ld, d ≥ 0).
func stridedHit(d, r1, c1, r2, c2, ld int) bool {
	q, r := d/ld, d%ld
	for _, cand := range [2][2]int{{q, r}, {q + 1, r - ld}} {
		di, dj := cand[0], cand[1]
		if di >= -(r2-1) && di <= r1-1 && dj >= -(c2-1) && dj <= c1-1 {
			return true
		}
	}
	return false
}

// storedDims is the rows × cols an operand op(X) of rows × cols occupies in
// memory: cols × rows when it is stored transposed.
func storedDims(trans bool, rows, cols int) (int, int) {
	if trans {
		return cols, rows
	}
	return rows, cols
}

// checkNoOverlap panics if C shares memory with A or B (BLAS forbids it).
func checkNoOverlap(a, b, c []float32, transA, transB bool, m, n, k, lda, ldb, ldc int) {
	if k == 0 {
		return
	}
	ar, ac := storedDims(transA, m, k)
	br, bc := storedDims(transB, k, n)
	if regionsOverlap(a, ar, ac, lda, c, m, n, ldc) {
		panic("kernels: C overlaps A")
	}
	if regionsOverlap(b, br, bc, ldb, c, m, n, ldc) {
		panic("kernels: C overlaps B")
	}
}

// scaleC sets C = beta·C (C = 0 without reading it when beta is 0).
func scaleC(c []float32, m, n, ldc int, beta float32) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// serialFlops is the size (m·n·k) under which a GEMM runs on one thread:
// handing work to the pool costs a few microseconds.
const serialFlops = 96 * 96 * 96

// blockLen splits total into ceil(total/max) near-equal blocks, each a
// multiple of unit, and returns the block length.
func blockLen(total, maxLen, unit int) int {
	if total <= maxLen {
		return (total + unit - 1) / unit * unit
	}
	nb := (total + maxLen - 1) / maxLen
	l := (total + nb - 1) / nb
	return (l + unit - 1) / unit * unit
}

// maxTile bounds mr·nr over all micro-kernels (scratch tile for edges).
const maxTile = 16 * 64

// gemmCall is the state of one GEMM (or GEMV) call: its operands, blocking,
// the packed op(B) panel and per-worker scratch (packed op(A) block and edge
// tile). Calls take one from the engine's free list and return it, and the
// worker function is bound once, so a steady-state call allocates nothing:
// no closures, channels or scratch per call.
type gemmCall struct {
	e *Engine

	// Operands of the current call (cleared when the call returns).
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int

	// Blocking of the current call.
	mc, units, nBlocks int

	// Current panel: columns [jc, jc+nc) and depth [pc, pc+kcur) of op(B).
	jc, pc, kcur, nSlivers int
	nSplit, tasks          int
	accumulate             int
	packNext               atomic.Int64   // next op(B) sliver to pack
	packed                 sync.WaitGroup // one count per sliver of the panel
	next                   atomic.Int64   // next (row block, column split) task

	bpack  []float32   // [kc][nc] packed op(B) panel
	worker [][]float32 // per pool chunk: packed op(A) block [mc·kc] + edge tile [maxTile]
	run    func(lo, hi int)

	gemvState
}

// getCall takes a gemmCall from the engine's free list (or makes one).
func (e *Engine) getCall() *gemmCall {
	c := e.free.Get()
	if c == nil {
		c = &gemmCall{e: e}
		c.run = c.work
		c.gemvRun = c.gemvWork
	}
	return c
}

// putCall returns c to the free list, dropping its references to the
// caller's operands.
func (e *Engine) putCall(c *gemmCall) {
	c.a, c.b, c.c = nil, nil, nil
	c.gemvState.release()
	e.free.Put(c)
}

// growF32 returns b resliced to n elements, reallocated only when too small.
func growF32(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// gemm runs the blocked algorithm on up to threads goroutines of e.pool.
// Arguments are already validated.
func (e *Engine) gemm(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if alpha == 0 || k == 0 {
		scaleC(c, m, n, ldc, beta)
		return
	}
	// A single row or column of C is a matrix-vector product: no packing,
	// no zero-padded tiles.
	if m == 1 {
		incX := 1 // row 0 of op(A)
		if transA {
			incX = lda
		}
		// C[0,:] = op(B)ᵀ·x: op(B) = B (k×n, transposed product) or Bᵀ (B is n×k).
		e.gemv(threads, !transB, cond(transB, n, k), cond(transB, k, n), alpha, b, ldb, a, incX, beta, c, 1)
		return
	}
	if n == 1 {
		incX := ldb // column 0 of op(B)
		if transB {
			incX = 1
		}
		// C[:,0] = op(A)·x: op(A) = A (m×k) or Aᵀ (A is k×m).
		e.gemv(threads, transA, cond(transA, k, m), cond(transA, m, k), alpha, a, lda, b, incX, beta, c, ldc)
		return
	}
	if beta != 0 && beta != 1 {
		scaleC(c, m, n, ldc, beta)
		beta = 1
	}
	mk := e.kern
	mr, nr := mk.mr, mk.nr
	if float64(m)*float64(n)*float64(k) < serialFlops {
		threads = 1
	}
	kc := blockLen(k, mk.kc, 1)
	nc := blockLen(n, mk.nc, nr)
	// Row blocks: whole mr-row units shared out evenly, at most mk.mc rows
	// each; with several threads at least 3 per thread and a multiple of the
	// thread count, so that equal tasks balance.
	units := (m + mr - 1) / mr
	nBlocks := (units + mk.mc/mr - 1) / (mk.mc / mr)
	if threads > 1 {
		nBlocks = max(nBlocks, 3*threads)
		nBlocks = min(units, (nBlocks+threads-1)/threads*threads)
	}
	cl := e.getCall()
	defer e.putCall(cl)
	cl.transA, cl.transB, cl.m, cl.n, cl.k, cl.alpha = transA, transB, m, n, k, alpha
	cl.a, cl.b, cl.c, cl.lda, cl.ldb, cl.ldc = a, b, c, lda, ldb, ldc
	cl.units, cl.nBlocks = units, nBlocks
	cl.mc = (units + nBlocks - 1) / nBlocks * mr // largest block
	cl.bpack = growF32(cl.bpack, kc*nc)
	if len(cl.worker) < threads {
		cl.worker = append(cl.worker, make([][]float32, threads-len(cl.worker))...)
	}

	for jc := 0; jc < n; jc += nc {
		ncur := min(nc, n-jc)
		nSlivers := (ncur + nr - 1) / nr
		for pc := 0; pc < k; pc += kc {
			kcur := min(kc, k-pc)
			accumulate := 1
			if pc == 0 && beta == 0 {
				accumulate = 0
			}
			// Split columns too when there are too few row blocks to balance.
			nSplit := 1
			if threads > 1 && nBlocks < 2*threads {
				nSplit = min(nSlivers, (2*threads+nBlocks-1)/nBlocks)
			}
			cl.jc, cl.pc, cl.kcur, cl.nSlivers, cl.accumulate = jc, pc, kcur, nSlivers, accumulate
			cl.nSplit, cl.tasks = nSplit, nBlocks*nSplit
			cl.packNext.Store(0)
			cl.next.Store(0)
			cl.packed.Add(nSlivers)
			if workers := min(threads, cl.tasks); workers <= 1 {
				cl.work(0, 1)
			} else {
				e.pool.For(workers, 1, cl.run)
			}
		}
	}
}

// blockRows is the row range [i0, i0+rows) of row block b.
func (cl *gemmCall) blockRows(b int) (i0, rows int) {
	mr := cl.e.kern.mr
	u0, u1 := b*cl.units/cl.nBlocks, (b+1)*cl.units/cl.nBlocks
	return u0 * mr, min(u1*mr, cl.m) - u0*mr
}

// work is one worker's share of the current panel; lo is its pool chunk
// (chunks of one index, so lo selects the worker's scratch). Every worker
// first helps pack op(B): slivers are claimed one by one and the panel is
// ready when all are packed, so a worker that starts late finds it ready and
// goes straight to its tiles (one pool round trip per panel, no spinning).
// Then workers take (row block, column split) tasks dynamically.
func (cl *gemmCall) work(lo, _ int) {
	mk := cl.e.kern
	mr, nr := mk.mr, mk.nr
	kcur, jc, pc, n := cl.kcur, cl.jc, cl.pc, cl.n
	for {
		s := int(cl.packNext.Add(1) - 1)
		if s >= cl.nSlivers {
			break
		}
		packBSliver(cl.bpack[s*kcur*nr:(s+1)*kcur*nr], cl.transB, cl.b, cl.ldb, pc, kcur, jc+s*nr, min(nr, n-jc-s*nr), nr, mk.pk)
		cl.packed.Done()
	}
	cl.packed.Wait()

	scratch := growF32(cl.worker[lo], cl.mc*kcur+maxTile)
	cl.worker[lo] = scratch
	apack, tile := scratch[:cl.mc*kcur], scratch[cl.mc*kcur:]
	inA := -1 // row block currently in apack
	for {
		t := int(cl.next.Add(1) - 1)
		if t >= cl.tasks {
			break
		}
		blk, split := t/cl.nSplit, t%cl.nSplit
		i0, mcur := cl.blockRows(blk)
		if inA != blk {
			packABlock(apack, cl.transA, cl.a, cl.lda, i0, mcur, pc, kcur, mr, mk.pk)
			inA = blk
		}
		s0, s1 := split*cl.nSlivers/cl.nSplit, (split+1)*cl.nSlivers/cl.nSplit
		cl.e.macro(apack, cl.bpack, tile, kcur, i0, mcur, jc, s0, s1, cl.m, n, cl.c, cl.ldc, cl.alpha, cl.accumulate)
	}
}

// macro sweeps the MR×NR tiles of rows [i0, i0+mcur) and B slivers [s0, s1)
// of the current panel: apack holds the row block, bpack the column panel
// starting at column jc; edge tiles are computed into tile (≥ mr·nr) and
// merged into C.
func (e *Engine) macro(apack, bpack, tile []float32, kcur, i0, mcur, jc, s0, s1, m, n int, c []float32, ldc int, alpha float32, accumulate int) {
	mk := e.kern
	mr, nr := mk.mr, mk.nr
	tile = tile[:mr*nr]
	for s := s0; s < s1; s++ {
		j := jc + s*nr
		nw := min(nr, n-j)
		bs := &bpack[s*kcur*nr]
		for r := 0; r*mr < mcur; r++ {
			i := i0 + r*mr
			mh := min(mr, m-i)
			as := &apack[r*kcur*mr]
			if mh == mr && nw == nr {
				mk.fn(kcur, as, bs, &c[i*ldc+j], ldc, alpha, accumulate)
				continue
			}
			mk.fn(kcur, as, bs, &tile[0], nr, alpha, 0)
			for ii := 0; ii < mh; ii++ {
				dst := c[(i+ii)*ldc+j : (i+ii)*ldc+j+nw]
				src := tile[ii*nr : ii*nr+nw]
				if accumulate != 0 {
					for jj, v := range src {
						dst[jj] += v
					}
				} else {
					copy(dst, src)
				}
			}
		}
	}
}

// packABlock packs rows [i0, i0+mcur) × depth [pc, pc+kcur) of op(A) into
// slivers of mr rows: sliver r holds [kcur][mr], rows past mcur zeroed.
func packABlock(dst []float32, transA bool, a []float32, lda, i0, mcur, pc, kcur, mr int, pk *packers) {
	for r := 0; r*mr < mcur; r++ {
		d := dst[r*kcur*mr : (r+1)*kcur*mr]
		rows := min(mr, mcur-r*mr)
		ib := i0 + r*mr
		if transA { // op(A)[i][p] = a[p*lda+i]: each depth step is a contiguous row segment
			packSegments(d, mr, a[pc*lda+ib:], lda, rows, kcur, pk)
			continue
		}
		packTransposed(d, mr, a[ib*lda+pc:], lda, rows, kcur, pk)
	}
}

// packSegments packs kcur contiguous segments of n values, src[p*ld:][:n]
// for p < kcur, into dst rows of w values: [kcur][w], zero past n. Full
// slivers (12 rows of A, 32 and 16 columns of B) go through pk's
// prefetching row copies when pk has them; otherwise the tile widths of the
// kernels (12 and 6 rows of A, 32 and 16 columns of B) are copied as arrays,
// inline instead of memmove calls.
func packSegments(dst []float32, w int, src []float32, ld, n, kcur int, pk *packers) {
	if kcur > 0 && n == w {
		if rows := pk.rowCopy(w); rows != nil {
			_ = src[(kcur-1)*ld+n-1] // every row is in bounds
			_ = dst[kcur*w-1]
			rows(&dst[0], &src[0], ld, kcur)
			return
		}
	}
	switch {
	case n == 32 && w == 32:
		for p := 0; p < kcur; p++ {
			*(*[32]float32)(dst[p*32:]) = *(*[32]float32)(src[p*ld:])
		}
	case n == 16 && w == 16:
		for p := 0; p < kcur; p++ {
			*(*[16]float32)(dst[p*16:]) = *(*[16]float32)(src[p*ld:])
		}
	case n == 12 && w == 12:
		for p := 0; p < kcur; p++ {
			*(*[12]float32)(dst[p*12:]) = *(*[12]float32)(src[p*ld:])
		}
	case n == 6 && w == 6:
		for p := 0; p < kcur; p++ {
			*(*[6]float32)(dst[p*6:]) = *(*[6]float32)(src[p*ld:])
		}
	default:
		for p := 0; p < kcur; p++ {
			dp := dst[p*w : p*w+w]
			copy(dp, src[p*ld:p*ld+n])
			clear(dp[n:])
		}
	}
}

// packBSliver packs depth [pc, pc+kcur) × columns [j, j+cols) of op(B) into
// dst: [kcur][nr], columns past cols zeroed.
func packBSliver(dst []float32, transB bool, b []float32, ldb, pc, kcur, j, cols, nr int, pk *packers) {
	if !transB { // op(B)[p][j] = b[p*ldb+j]: contiguous
		packSegments(dst, nr, b[pc*ldb+j:], ldb, cols, kcur, pk)
		return
	}
	packTransposed(dst, nr, b[j*ldb+pc:], ldb, cols, kcur, pk) // op(B)[p][j] = b[j*ldb+p]
}

// transposeBlocks transposes the leading whole 8-column blocks of the n
// (8 or 4) source rows from row r into dst as packTransposed lays them out,
// with pk's t8 or t4, and returns the first column it left to Go: 0 when pk
// is nil or depth < 8.
func (pk *packers) transposeBlocks(n int, dst []float32, width int, src []float32, ld, r, depth int) int {
	if pk == nil || depth < 8 {
		return 0
	}
	t := pk.t8
	if n == 4 {
		t = pk.t4
	}
	_ = src[(r+n-1)*ld+depth-1] // the n source rows are in bounds
	t(&dst[r], width, &src[r*ld], ld, depth/8)
	return depth &^ 7
}

// packTransposed writes dst[p*width+r] = src[r*ld+p] for r < rows, p < depth,
// and zeroes columns rows..width-1 of every dst row: it packs rows of src
// (rows of a non-transposed A, or of a transposed B) into depth-major slivers.
// Eight (then four) source rows go at a time, so destination writes are
// 32 (16) contiguous bytes; pk (nil: pure Go) transposes 8×8 and 4×8
// blocks in registers.
func packTransposed(dst []float32, width int, src []float32, ld, rows, depth int, pk *packers) {
	dst = dst[:depth*width]
	r := 0
	for ; r+8 <= rows; r += 8 {
		p0 := pk.transposeBlocks(8, dst, width, src, ld, r, depth)
		s0 := src[r*ld : r*ld+depth]
		s1 := src[(r+1)*ld:][:len(s0)]
		s2 := src[(r+2)*ld:][:len(s0)]
		s3 := src[(r+3)*ld:][:len(s0)]
		s4 := src[(r+4)*ld:][:len(s0)]
		s5 := src[(r+5)*ld:][:len(s0)]
		s6 := src[(r+6)*ld:][:len(s0)]
		s7 := src[(r+7)*ld:][:len(s0)]
		for p := p0; p < len(s0); p++ {
			d := (*[8]float32)(dst[p*width+r:])
			d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = s0[p], s1[p], s2[p], s3[p], s4[p], s5[p], s6[p], s7[p]
		}
	}
	for ; r+4 <= rows; r += 4 {
		p0 := pk.transposeBlocks(4, dst, width, src, ld, r, depth)
		s0 := src[r*ld : r*ld+depth]
		s1 := src[(r+1)*ld:][:len(s0)]
		s2 := src[(r+2)*ld:][:len(s0)]
		s3 := src[(r+3)*ld:][:len(s0)]
		for p := p0; p < len(s0); p++ {
			d := (*[4]float32)(dst[p*width+r:])
			d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
		}
	}
	for ; r < rows; r++ {
		for p, v := range src[r*ld : r*ld+depth] {
			dst[p*width+r] = v
		}
	}
	if rows < width {
		for p := 0; p < depth; p++ {
			clear(dst[p*width+rows : p*width+width])
		}
	}
}

func bestKernel() *microKernel { return availableKernels()[0] }

// Kernels names the micro-kernels this CPU can run, fastest first; the last
// is always the portable pure-Go one.
func Kernels() []string {
	var names []string
	for _, k := range availableKernels() {
		names = append(names, k.name)
	}
	return names
}

// WithKernel returns a copy of e that uses the named micro-kernel (one of
// Kernels()), for benchmarks and diagnostics.
func (e *Engine) WithKernel(name string) (*Engine, error) {
	for _, k := range availableKernels() {
		if k.name == name {
			return &Engine{pool: e.pool, kern: k}, nil
		}
	}
	return nil, fmt.Errorf("kernels: no micro-kernel %q on this CPU (have %v)", name, Kernels())
}

func cond(c bool, a, b int) int {
	if c {
		return a
	}
	return b
}
