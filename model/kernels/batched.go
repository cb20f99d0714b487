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
	offA, offB, offC := make([]int, batch), make([]int, batch), make([]int, batch)
	for i := range batch {
		offA[i], offB[i], offC[i] = i*strideA, i*strideB, i*strideC
	}
	e.SgemmBatched(transA, transB, m, n, k, alpha, a, lda, offA, b, ldb, offB, beta, c, ldc, offC)
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
	sub := func(x []float32, off int, name string, i int) []float32 {
		if off < 0 || off > len(x) {
			panic(fmt.Sprintf("kernels: batch entry %d: offset %d of %s outside len %d", i, off, name, len(x)))
		}
		return x[off:]
	}
	for i := range batch {
		ai, bi, ci := sub(a, offA[i], "A", i), sub(b, offB[i], "B", i), sub(c, offC[i], "C", i)
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
	checkDisjointC(offC, m, n, ldc)
	one := func(i, threads int) {
		e.gemm(threads, transA, transB, m, n, k, alpha, a[offA[i]:], lda, b[offB[i]:], ldb, beta, c[offC[i]:], ldc)
	}
	threads := e.pool.Threads()
	whole := batch
	if float64(m)*float64(n)*float64(k) >= serialFlops {
		whole = batch / threads * threads // the rest runs one parallel GEMM at a time
	}
	if whole > 0 {
		var next atomic.Int64
		e.pool.For(min(threads, whole), 1, func(_, _ int) {
			for {
				i := int(next.Add(1) - 1)
				if i >= whole {
					return
				}
				one(i, 1)
			}
		})
	}
	for i := whole; i < batch; i++ {
		one(i, threads)
	}
}
