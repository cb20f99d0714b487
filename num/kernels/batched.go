package kernels

import (
	"fmt"
	"sync/atomic"
)

// SgemmStridedBatched computes batch GEMMs on the default pool:
//
//	C_i = alpha·op(A_i)·op(B_i) + beta·C_i,  i in [0, batch)
//
// with A_i = a[i·strideA:], B_i = b[i·strideB:], C_i = c[i·strideC:], each
// laid out as in Sgemm. A stride of 0 shares one operand across the batch.
// For attention over x: [batch, seq, heads, headDim], head h of sequence s
// starts at (s·seq·heads + h)·headDim with leading dimension heads·headDim,
// so no transpose or copy is needed (see SgemmBatched for per-entry offsets,
// e.g. grouped-query attention sharing K/V between heads).
func SgemmStridedBatched(transA, transB bool, m, n, k int, alpha float32,
	a []float32, lda, strideA int, b []float32, ldb, strideB int,
	beta float32, c []float32, ldc, strideC int, batch int) {
	defaultEngine().SgemmStridedBatched(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch)
}

// SgemmStridedBatched is the package-level SgemmStridedBatched on this engine.
func (e *Engine) SgemmStridedBatched(transA, transB bool, m, n, k int, alpha float32,
	a []float32, lda, strideA int, b []float32, ldb, strideB int,
	beta float32, c []float32, ldc, strideC int, batch int) {
	if batch < 0 || strideA < 0 || strideB < 0 || strideC < 0 {
		panic(fmt.Sprintf("kernels: negative batch=%d or stride (A %d, B %d, C %d)", batch, strideA, strideB, strideC))
	}
	e.batched(transA, transB, m, n, k, alpha, a, lda, nil, strideA, b, ldb, nil, strideB, beta, c, ldc, nil, strideC, batch)
}

// SgemmBatched computes len(offC) GEMMs on the default pool:
//
//	C_i = alpha·op(A_i)·op(B_i) + beta·C_i
//
// with A_i = a[offA[i]:], B_i = b[offB[i]:], C_i = c[offC[i]:], each laid
// out as in Sgemm. Entries may share A or B (grouped-query attention: heads
// of one group point at the same K/V offset) but their C matrices must be
// disjoint, and no C may overlap an A or B; violations panic. The entries run
// in parallel on the pool, each on one thread; a remainder smaller than the
// thread count runs entry by entry, each GEMM parallel.
func SgemmBatched(transA, transB bool, m, n, k int, alpha float32,
	a []float32, lda int, offA []int, b []float32, ldb int, offB []int,
	beta float32, c []float32, ldc int, offC []int) {
	defaultEngine().SgemmBatched(transA, transB, m, n, k, alpha, a, lda, offA, b, ldb, offB, beta, c, ldc, offC)
}

// SgemmBatched is the package-level SgemmBatched on this engine.
func (e *Engine) SgemmBatched(transA, transB bool, m, n, k int, alpha float32,
	a []float32, lda int, offA []int, b []float32, ldb int, offB []int,
	beta float32, c []float32, ldc int, offC []int) {
	batch := len(offC)
	if len(offA) != batch || len(offB) != batch {
		panic(fmt.Sprintf("kernels: batched offsets differ in length: A %d, B %d, C %d", len(offA), len(offB), batch))
	}
	e.batched(transA, transB, m, n, k, alpha, a, lda, offA, 0, b, ldb, offB, 0, beta, c, ldc, offC, 0, batch)
}

// batchState is a gemmCall's state for a batched GEMM: entry i uses offsets
// offX[i], or i·strideX when offX is nil.
type batchState struct {
	offA, offB, offC          []int
	strideA, strideB, strideC int
	bthreads                  int          // threads per entry GEMM
	bnext                     atomic.Int64 // next entry to claim
	bwhole                    int          // entries run one per thread
	offs                      []int        // scratch for the disjointness check
	// inner[p] is the call state of the entry GEMMs pool chunk p runs, taken
	// from the free list for the whole batch: every chunk runs in every
	// call, so each is sized by the first call and none is taken (or grown)
	// later however the chunks are scheduled.
	inner    []*gemmCall
	batchRun func(lo, hi int)
}

func (s *batchState) release() { s.offA, s.offB, s.offC = nil, nil, nil }

func offset(off []int, stride, i int) int {
	if off != nil {
		return off[i]
	}
	return i * stride
}

// batched validates and runs a batched GEMM (see SgemmBatched).
func (e *Engine) batched(transA, transB bool, m, n, k int, alpha float32,
	a []float32, lda int, offA []int, strideA int, b []float32, ldb int, offB []int, strideB int,
	beta float32, c []float32, ldc int, offC []int, strideC int, batch int) {
	sub := func(x []float32, off int, name string, i int) []float32 {
		if off < 0 || off > len(x) {
			panic(fmt.Sprintf("kernels: batch entry %d: offset %d of %s outside len %d", i, off, name, len(x)))
		}
		return x[off:]
	}
	for i := range batch {
		ai, bi, ci := sub(a, offset(offA, strideA, i), "A", i), sub(b, offset(offB, strideB, i), "B", i), sub(c, offset(offC, strideC, i), "C", i)
		if k == 0 || alpha == 0 {
			ai, bi = nil, nil
		}
		checkGemm(transA, transB, m, n, k, ai, lda, bi, ldb, ci, ldc)
		if m > 0 && n > 0 {
			checkNoOverlap(ai, bi, ci, transA, transB, m, n, k, lda, ldb, ldc)
		}
	}
	if m == 0 || n == 0 || batch == 0 {
		return
	}
	cl := e.getCall()
	defer e.putCall(cl)
	bs := &cl.batchState
	if cap(bs.offs) < batch {
		bs.offs = make([]int, batch)
	}
	bs.offs = bs.offs[:batch]
	for i := range bs.offs {
		bs.offs[i] = offset(offC, strideC, i)
	}
	checkDisjointC(bs.offs, m, n, ldc)
	cl.transA, cl.transB, cl.m, cl.n, cl.k, cl.alpha, cl.beta = transA, transB, m, n, k, alpha, beta
	cl.a, cl.b, cl.c, cl.lda, cl.ldb, cl.ldc = a, b, c, lda, ldb, ldc
	bs.offA, bs.offB, bs.offC, bs.strideA, bs.strideB, bs.strideC = offA, offB, offC, strideA, strideB, strideC
	threads := e.pool.Threads()
	whole := batch
	if float64(m)*float64(n)*float64(k) >= serialFlops {
		whole = batch / threads * threads // the rest runs one parallel GEMM at a time
	}
	if whole > 0 {
		bs.bnext.Store(0)
		bs.bwhole = whole
		w := min(threads, whole)
		for len(bs.inner) < w {
			bs.inner = append(bs.inner, nil)
		}
		for p := range w {
			bs.inner[p] = e.getCall()
		}
		e.pool.For(w, 1, bs.batchRun)
		for p := w - 1; p >= 0; p-- {
			e.putCall(bs.inner[p])
			bs.inner[p] = nil
		}
	}
	for i := whole; i < batch; i++ {
		cl.entry(nil, i, threads)
	}
}

// entry runs batch entry i on up to threads goroutines, with call state use
// (nil: one from the free list).
func (cl *gemmCall) entry(use *gemmCall, i, threads int) {
	bs := &cl.batchState
	cl.e.gemmWith(use, threads, cl.transA, cl.transB, cl.m, cl.n, cl.k, cl.alpha,
		cl.a[offset(bs.offA, bs.strideA, i):], cl.lda, cl.b[offset(bs.offB, bs.strideB, i):], cl.ldb,
		cl.beta, cl.c[offset(bs.offC, bs.strideC, i):], cl.ldc)
}

// batchWork claims entries one by one and runs each on one thread, with
// the call state of its pool chunk lo.
func (cl *gemmCall) batchWork(lo, _ int) {
	use := cl.batchState.inner[lo]
	for {
		i := int(cl.batchState.bnext.Add(1) - 1)
		if i >= cl.batchState.bwhole {
			return
		}
		cl.entry(use, i, 1)
	}
}
