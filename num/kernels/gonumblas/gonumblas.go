// Package gonumblas adapts distill's SIMD kernels (num/kernels) to gonum's
// BLAS interfaces, so that Gorgonia's matrix products run on them:
//
//	gorgonia.Use(gonumblas.Implementation{})
//
// Implementation satisfies gonum's blas.Float32, blas.Float64, blas.Complex64
// and blas.Complex128 (the set gorgonia.Use requires). Sgemm and Sgemv go to
// num/kernels; every other routine is gonum's pure-Go implementation,
// embedded. Both follow gonum's row-major convention, so arguments pass
// through unchanged.
package gonumblas

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/distill-ml/distill/num/kernels"
)

// Implementation is a gonum BLAS whose Sgemm and Sgemv run on num/kernels.
// The zero value uses kernels' default engine (the shared worker pool).
type Implementation struct {
	gonum.Implementation
	// Engine, if set, pins the pool and kernel; nil means the default.
	Engine *kernels.Engine
}

var _ interface {
	blas.Float32
	blas.Float64
	blas.Complex64
	blas.Complex128
} = Implementation{}

func trans(t blas.Transpose) bool {
	switch t {
	case blas.NoTrans:
		return false
	case blas.Trans, blas.ConjTrans:
		return true
	}
	panic("blas: illegal transpose")
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C (row-major) with num/kernels.
func (im Implementation) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := trans(tA), trans(tB)
	if im.Engine != nil {
		im.Engine.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	kernels.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Sgemv computes y = alpha·op(A)·x + beta·y (row-major) with num/kernels.
func (im Implementation) Sgemv(tA blas.Transpose, m, n int, alpha float32, a []float32, lda int, x []float32, incX int, beta float32, y []float32, incY int) {
	ta := trans(tA)
	if im.Engine != nil {
		im.Engine.Sgemv(ta, m, n, alpha, a, lda, x, incX, beta, y, incY)
		return
	}
	kernels.Sgemv(ta, m, n, alpha, a, lda, x, incX, beta, y, incY)
}
