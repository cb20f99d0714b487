package ops

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// blas32 is the single-precision GEMM every op uses. It is gonum's pure-Go
// implementation until model/kernels lands its SIMD Sgemm (same signature).
var blas32 blas.Float32Level3 = gonum.Implementation{}

// sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major operands,
// op(X) = Xᵀ when the flag is set. A is m×k after op, B is k×n, C is m×n.
// Degenerate sizes are no-ops (C scaled by beta when k is 0).
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
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	blas32.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
