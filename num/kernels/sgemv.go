package kernels

import "fmt"

// Sgemv computes y = alpha·op(A)·x + beta·y on the default pool, where A is
// m×n row-major with leading dimension lda ≥ n and op(A) is A (trans false:
// x has n elements, y has m) or Aᵀ (trans true: x has m, y has n). incX and
// incY are element strides (non-zero; negative strides walk backwards as in
// BLAS). As with Sgemm, y is not read when beta is 0 and A, x are not read
// when alpha is 0.
func Sgemv(trans bool, m, n int, alpha float32, a []float32, lda int, x []float32, incX int, beta float32, y []float32, incY int) {
	defaultEngine().Sgemv(trans, m, n, alpha, a, lda, x, incX, beta, y, incY)
}

// Sgemv is the package-level Sgemv on this engine's pool.
func (e *Engine) Sgemv(trans bool, m, n int, alpha float32, a []float32, lda int, x []float32, incX int, beta float32, y []float32, incY int) {
	if m < 0 || n < 0 {
		panic(fmt.Sprintf("kernels: negative size m=%d n=%d", m, n))
	}
	if lda < max(1, n) {
		panic(fmt.Sprintf("kernels: lda=%d < n=%d", lda, n))
	}
	if incX == 0 || incY == 0 {
		panic("kernels: zero vector increment")
	}
	lenX, lenY := n, m
	if trans {
		lenX, lenY = m, n
	}
	if lenX > 0 && len(x) < 1+(lenX-1)*abs(incX) {
		panic(fmt.Sprintf("kernels: len(x)=%d too short for %d elements at stride %d", len(x), lenX, incX))
	}
	if lenY > 0 && len(y) < 1+(lenY-1)*abs(incY) {
		panic(fmt.Sprintf("kernels: len(y)=%d too short for %d elements at stride %d", len(y), lenY, incY))
	}
	if m > 0 && n > 0 && len(a) < (m-1)*lda+n {
		panic(fmt.Sprintf("kernels: len(a)=%d < %d needed for a %d×%d A with lda=%d", len(a), (m-1)*lda+n, m, n, lda))
	}
	e.gemv(e.pool.Threads(), trans, m, n, alpha, a, lda, x, incX, beta, y, incY)
}

// gemvState is a gemmCall's state for a matrix-vector product: operands,
// contiguous copies of strided vectors, and the worker function bound once.
type gemvState struct {
	vtrans     bool
	vm, vn     int
	valpha     float32
	vbeta      float32
	va         []float32
	vlda       int
	xs, ys     []float32 // contiguous x and y (views, or xbuf/ybuf)
	xbuf, ybuf []float32 // copies of strided x, y
	gemvRun    func(lo, hi int)
}

func (g *gemvState) release() { g.va, g.xs, g.ys = nil, nil, nil }

// gemv is Sgemv on up to threads goroutines, arguments already validated.
func (e *Engine) gemv(threads int, trans bool, m, n int, alpha float32, a []float32, lda int, x []float32, incX int, beta float32, y []float32, incY int) {
	lenX, lenY := n, m
	if trans {
		lenX, lenY = m, n
	}
	if lenY == 0 {
		return
	}
	cl := e.getCall()
	defer e.putCall(cl)
	g := &cl.gemvState
	// Work on contiguous copies when strided (BLAS allows negative strides).
	g.xs = x[:0]
	if lenX > 0 {
		if incX == 1 {
			g.xs = x[:lenX]
		} else {
			g.xbuf = growF32(g.xbuf, lenX)
			gather(g.xbuf, x, incX)
			g.xs = g.xbuf
		}
	}
	g.ys = y[:lenY]
	if incY != 1 {
		g.ybuf = growF32(g.ybuf, lenY)
		gather(g.ybuf, y, incY)
		g.ys = g.ybuf
	}
	g.vtrans, g.vm, g.vn, g.valpha, g.vbeta, g.va, g.vlda = trans, m, n, alpha, beta, a, lda
	switch {
	case alpha == 0 || lenX == 0:
		scaleVec(g.ys, beta)
	case !trans:
		// y[i] = alpha·dot(A[i,:], x) + beta·y[i]: rows in parallel.
		if grain := max(64, 1<<16/max(1, n)); threads == 1 {
			cl.gemvWork(0, m)
		} else {
			e.pool.For(m, grain, cl.gemvRun)
		}
	default:
		// y[j] = alpha·Σ_i A[i,j]·x[i] + beta·y[j]: column ranges in parallel,
		// each streaming all rows.
		if grain := max(256, 1<<16/max(1, m)); threads == 1 {
			cl.gemvWork(0, n)
		} else {
			e.pool.For(n, grain, cl.gemvRun)
		}
	}
	if incY != 1 {
		scatter(y, g.ys, incY)
	}
}

// gemvWork computes rows [lo, hi) of y (not transposed) or columns [lo, hi)
// (transposed) of the current gemv.
func (cl *gemmCall) gemvWork(lo, hi int) {
	g, e := &cl.gemvState, cl.e
	a, lda, n, alpha, beta, xs, ys := g.va, g.vlda, g.vn, g.valpha, g.vbeta, g.xs, g.ys
	if !g.vtrans {
		for i := lo; i < hi; i++ {
			d := alpha * e.dot(a[i*lda:i*lda+n], xs)
			if beta != 0 {
				d += beta * ys[i]
			}
			ys[i] = d
		}
		return
	}
	yj := ys[lo:hi]
	scaleVec(yj, beta)
	for i := 0; i < g.vm; i++ {
		e.axpy(alpha*xs[i], a[i*lda+lo:i*lda+hi], yj)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// gather writes the len(out) elements x[0], x[inc], ... in BLAS order (a
// negative inc starts from the far end) to out, contiguous.
func gather(out, x []float32, inc int) {
	start := 0
	if inc < 0 {
		start = (1 - len(out)) * inc
	}
	for i := range out {
		out[i] = x[start+i*inc]
	}
}

func scatter(y, ys []float32, inc int) {
	start := 0
	if inc < 0 {
		start = (1 - len(ys)) * inc
	}
	for i, v := range ys {
		y[start+i*inc] = v
	}
}

func scaleVec(y []float32, beta float32) {
	switch beta {
	case 1:
	case 0:
		clear(y)
	default:
		for i := range y {
			y[i] *= beta
		}
	}
}

// dot returns Σ a[i]·b[i] (len(b) ≥ len(a)) with the engine's vector
// kernel when it has one.
func (e *Engine) dot(a, b []float32) float32 {
	b = b[:len(a)]
	if n := len(a) &^ 7; e.kern.dot != nil && n > 0 {
		return e.kern.dot(&a[0], &b[0], n) + dot(a[n:], b[n:])
	}
	return dot(a, b)
}

// axpy sets y += alpha·x (len(y) ≥ len(x)) with the engine's vector kernel
// when it has one.
func (e *Engine) axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	if n := len(x) &^ 7; e.kern.axpy != nil && n > 0 {
		e.kern.axpy(alpha, &x[0], &y[0], n)
		x, y = x[n:], y[n:]
	}
	axpy(alpha, x, y)
}

// dot returns Σ a[i]·b[i] (len(b) ≥ len(a)) with 8 partial sums.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		x, y := (*[8]float32)(a[i:]), (*[8]float32)(b[i:])
		s0 += x[0] * y[0]
		s1 += x[1] * y[1]
		s2 += x[2] * y[2]
		s3 += x[3] * y[3]
		s4 += x[4] * y[4]
		s5 += x[5] * y[5]
		s6 += x[6] * y[6]
		s7 += x[7] * y[7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// axpy sets y += alpha·x (len(y) ≥ len(x)).
func axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	i := 0
	for ; i+8 <= len(x); i += 8 {
		xv, yv := (*[8]float32)(x[i:]), (*[8]float32)(y[i:])
		yv[0] += alpha * xv[0]
		yv[1] += alpha * xv[1]
		yv[2] += alpha * xv[2]
		yv[3] += alpha * xv[3]
		yv[4] += alpha * xv[4]
		yv[5] += alpha * xv[5]
		yv[6] += alpha * xv[6]
		yv[7] += alpha * xv[7]
	}
	for ; i < len(x); i++ {
		y[i] += alpha * x[i]
	}
}
