package ops

import "github.com/distill-ml/distill/num/kernels"

// sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major operands with
// num/kernels' blocked SIMD GEMM on the shared pool; op(X) = Xᵀ when the
// flag is set. A is m×k after op, B is k×n, C is m×n. Degenerate sizes are
// no-ops (C scaled by beta when k is 0).
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				if beta == 0 {
					row[j] = 0
				} else {
					row[j] *= beta
				}
			}
		}
		return
	}
	kernels.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
