package kernels

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/distill-ml/distill/num/parallel"
)

// engines returns one engine per micro-kernel this CPU runs (the portable
// one always included), on a 1-thread and a 2-thread pool.
func engines(t *testing.T) []*Engine {
	t.Helper()
	var es []*Engine
	pools := []*parallel.Pool{parallel.New(1), parallel.New(2)}
	for _, k := range availableKernels() {
		for _, p := range pools {
			es = append(es, &Engine{pool: p, kern: k})
		}
	}
	if es[len(es)-1].kern != genericKernel {
		t.Fatal("portable kernel missing from availableKernels")
	}
	return es
}

func engineName(e *Engine) string { return fmt.Sprintf("%s/%dthr", e.kern.name, e.pool.Threads()) }

// gemmCase is one Sgemm call with its operands.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

func randSlice(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// newCase builds operands with leading dimensions width+pad.
func newCase(r *rand.Rand, transA, transB bool, m, n, k, pad int, alpha, beta float32) *gemmCase {
	g := &gemmCase{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	ar, ac := storedDims(transA, m, k)
	br, bc := storedDims(transB, k, n)
	g.lda, g.ldb, g.ldc = max(1, ac+pad), max(1, bc+pad), max(1, n+pad)
	g.a = randSlice(r, max(0, ar*g.lda))
	g.b = randSlice(r, max(0, br*g.ldb))
	g.c = randSlice(r, max(0, m*g.ldc))
	if beta == 0 {
		for i := range g.c {
			g.c[i] = float32(math.NaN()) // must not be read
		}
	}
	return g
}

func (g *gemmCase) opA(i, p int) float64 {
	if g.transA {
		return float64(g.a[p*g.lda+i])
	}
	return float64(g.a[i*g.lda+p])
}

func (g *gemmCase) opB(p, j int) float64 {
	if g.transB {
		return float64(g.b[j*g.ldb+p])
	}
	return float64(g.b[p*g.ldb+j])
}

// reference computes the expected C in float64 and a per-element error bound
// (k+2)·2^-23·(|alpha|·Σ|a·b| + |beta·c|), the classic dot-product bound.
// Elements of C outside the m×n window are expected unchanged.
func (g *gemmCase) reference() (want, tol []float64) {
	want = make([]float64, len(g.c))
	tol = make([]float64, len(g.c))
	for i, v := range g.c {
		want[i] = float64(v)
	}
	eps := math.Ldexp(1, -23)
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.n; j++ {
			var s, abs float64
			if g.alpha != 0 {
				for p := 0; p < g.k; p++ {
					x := g.opA(i, p) * g.opB(p, j)
					s += x
					abs += math.Abs(x)
				}
			}
			s *= float64(g.alpha)
			abs *= math.Abs(float64(g.alpha))
			idx := i*g.ldc + j
			if g.beta != 0 {
				s += float64(g.beta) * float64(g.c[idx])
				abs += math.Abs(float64(g.beta) * float64(g.c[idx]))
			}
			want[idx] = s
			tol[idx] = float64(g.k+2)*eps*abs + 1e-30
		}
	}
	return want, tol
}

func (g *gemmCase) run(e *Engine) []float32 {
	c := append([]float32(nil), g.c...)
	e.Sgemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.a, g.lda, g.b, g.ldb, g.beta, c, g.ldc)
	return c
}

func (g *gemmCase) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d lda=%d ldb=%d ldc=%d alpha=%g beta=%g",
		g.transA, g.transB, g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.alpha, g.beta)
}

func compare(t *testing.T, what string, got []float32, want, tol []float64) {
	t.Helper()
	bad := 0
	for i := range got {
		g, w := float64(got[i]), want[i]
		ok := math.Abs(g-w) <= tol[i] || (math.IsNaN(w) && math.IsNaN(g))
		if math.IsInf(w, 0) {
			ok = g == w
		}
		if !ok {
			if bad < 3 {
				t.Errorf("%s: c[%d] = %g, want %g (tol %g)", what, i, g, w, tol[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d wrong elements", what, bad)
	}
}

// TestSgemmAgainstReference covers odd and degenerate sizes (non-multiples
// of every tile: 4×8, 6×16, 12×32, and of the k block), all transpose
// combinations, padded strides, alpha/beta including beta = 0 over a NaN C.
func TestSgemmAgainstReference(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	sizes := [][3]int{
		{0, 5, 3}, {5, 0, 3}, {4, 6, 0}, {0, 0, 0},
		{1, 1, 1}, {1, 7, 1}, {7, 1, 7}, {7, 7, 7}, {1, 33, 300},
		{12, 32, 16}, {13, 33, 17}, {11, 31, 9}, {24, 64, 255}, {25, 47, 257},
		{6, 16, 1}, {5, 15, 2}, {37, 3, 513},
		{255, 257, 7}, {257, 255, 33}, {100, 130, 300},
		{3, 4100, 5},                                       // more than one column panel
		{1, 3000, 40}, {3000, 1, 40}, {2, 1, 9}, {1, 2, 9}, // single row / column: matrix-vector path
		{50, 70, 300}, {13, 300, 300}, {5, 999, 200}, // parallel with few row blocks: column splits
		{40, 50, 1100}, // several depth blocks, accumulated
		{30, 600, 300}, // B panel packed by both threads
	}
	es := engines(t)
	combo := 0
	for _, s := range sizes {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			combo++
			alpha := []float32{1, -0.5, 2}[combo%3]
			beta := []float32{0, 1, 0.25}[(combo/3)%3]
			pad := []int{0, 3}[combo%2]
			g := newCase(r, tr[0], tr[1], s[0], s[1], s[2], pad, alpha, beta)
			want, tol := g.reference()
			for _, e := range es {
				compare(t, engineName(e)+" "+g.String(), g.run(e), want, tol)
			}
		}
	}
}

// TestSgemmNaNInfPropagation: NaN and Inf in A or B reach exactly the C
// elements IEEE arithmetic says they reach, on every path (zero padding in
// the packed panels must not leak NaN into C).
func TestSgemmNaNInfPropagation(t *testing.T) {
	const m, n, k = 29, 45, 19
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, e := range engines(t) {
		r := rand.New(rand.NewSource(3))
		g := newCase(r, false, false, m, n, k, 0, 1, 0)
		for i := range g.a {
			g.a[i] = 0.5 + r.Float32() // positive, so Inf·a = +Inf
		}
		for i := range g.b {
			g.b[i] = 0.5 + r.Float32()
		}
		g.a[5*k+3] = nan   // row 5 of C: all NaN
		g.b[7*n+11] = inf  // column 11: +Inf except row 5 (NaN)
		g.a[9*k+7] = 0     // row 9 meets B[7][11] = Inf with 0: NaN at (9, 11)
		g.b[7*n+12] = -inf // column 12: -Inf
		g.a[9*k+7] = 0
		c := g.run(e)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				v := float64(c[i*n+j])
				var want string
				switch {
				case i == 5, i == 9 && (j == 11 || j == 12):
					want = "NaN"
				case j == 11:
					want = "+Inf"
				case j == 12:
					want = "-Inf"
				default:
					want = "finite"
				}
				got := "finite"
				switch {
				case math.IsNaN(v):
					got = "NaN"
				case math.IsInf(v, 1):
					got = "+Inf"
				case math.IsInf(v, -1):
					got = "-Inf"
				}
				if got != want {
					t.Fatalf("%s: c[%d][%d] = %v, want %s", engineName(e), i, j, v, want)
				}
			}
		}
	}
}

// TestSgemmBLASQuickReturns: alpha = 0 and k = 0 give C = beta·C without
// reading A or B (NaN there must not propagate), beta = 0 zeroes a NaN C.
func TestSgemmBLASQuickReturns(t *testing.T) {
	nan := float32(math.NaN())
	for _, e := range engines(t) {
		a := []float32{nan, nan, nan, nan}
		b := []float32{nan, nan, nan, nan}
		c := []float32{1, 2, 3, 4}
		e.Sgemm(false, false, 2, 2, 2, 0, a, 2, b, 2, 3, c, 2)
		if fmt.Sprint(c) != "[3 6 9 12]" {
			t.Errorf("%s alpha=0: C = %v, want beta·C", engineName(e), c)
		}
		c = []float32{nan, nan, nan, nan}
		e.Sgemm(false, false, 2, 2, 2, 0, a, 2, b, 2, 0, c, 2)
		if fmt.Sprint(c) != "[0 0 0 0]" {
			t.Errorf("%s alpha=0 beta=0: C = %v, want zeros", engineName(e), c)
		}
		c = []float32{1, 2, 3, 4}
		e.Sgemm(true, true, 2, 2, 0, 1, nil, 2, nil, 1, 0.5, c, 2)
		if fmt.Sprint(c) != "[0.5 1 1.5 2]" {
			t.Errorf("%s k=0: C = %v, want beta·C", engineName(e), c)
		}
		// Elements between rows (ldc > n) are never touched.
		c = []float32{nan, nan, 7, nan, nan}
		e.Sgemm(false, false, 2, 2, 1, 1, []float32{1, 2}, 1, []float32{1, 1}, 2, 0, c, 3)
		if fmt.Sprint(c) != "[1 1 7 2 2]" {
			t.Errorf("%s ldc>n: C = %v", engineName(e), c)
		}
	}
}

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("no panic, want %q", want)
			return
		}
		if !strings.Contains(fmt.Sprint(r), want) {
			t.Errorf("panic %q, want it to mention %q", r, want)
		}
	}()
	f()
}

// TestSgemmAliasingAndArguments: C may not overlap A or B (BLAS rule), but
// matrices interleaved in one buffer (heads side by side in a row) are fine;
// bad strides and short slices panic naming the argument.
func TestSgemmAliasingAndArguments(t *testing.T) {
	buf := make([]float32, 64)
	mustPanic(t, "C overlaps A", func() { Sgemm(false, false, 2, 2, 2, 1, buf, 2, buf[16:], 2, 0, buf[2:], 2) })
	mustPanic(t, "C overlaps B", func() { Sgemm(false, false, 2, 2, 2, 1, buf, 2, buf[16:], 2, 0, buf[17:], 2) })
	// Two 4×2 blocks side by side in a 4×4 buffer: A in columns 0-1, C in 2-3.
	x := make([]float32, 16)
	for i := range x {
		x[i] = float32(i)
	}
	b := []float32{1, 0, 0, 1} // identity
	Sgemm(false, false, 4, 2, 2, 1, x, 4, b, 2, 0, x[2:], 4)
	for i := 0; i < 4; i++ {
		if x[i*4+2] != float32(i*4) || x[i*4+3] != float32(i*4+1) {
			t.Fatalf("interleaved copy: row %d = %v", i, x[i*4:i*4+4])
		}
	}
	mustPanic(t, "lda", func() { Sgemm(false, false, 2, 2, 3, 1, buf, 2, buf, 2, 0, make([]float32, 4), 2) })
	mustPanic(t, "ldb", func() { Sgemm(false, true, 2, 2, 3, 1, buf, 3, buf, 2, 0, make([]float32, 4), 2) })
	mustPanic(t, "ldc", func() { Sgemm(false, false, 2, 3, 2, 1, buf, 2, buf, 3, 0, make([]float32, 9), 2) })
	mustPanic(t, "len(a)", func() { Sgemm(false, false, 2, 2, 2, 1, buf[:3], 2, buf, 2, 0, make([]float32, 4), 2) })
	mustPanic(t, "len(c)", func() { Sgemm(false, false, 2, 2, 2, 1, buf, 2, buf, 2, 0, make([]float32, 3), 2) })
	mustPanic(t, "negative", func() { Sgemm(false, false, -1, 2, 2, 1, buf, 2, buf, 2, 0, buf, 2) })
}

func TestStridedHit(t *testing.T) {
	// Brute force over small shapes against the closed form.
	for ld := 1; ld <= 6; ld++ {
		for r1 := 1; r1 <= 3; r1++ {
			for c1 := 1; c1 <= ld; c1++ {
				for r2 := 1; r2 <= 3; r2++ {
					for c2 := 1; c2 <= ld; c2++ {
						for d := 0; d < 4*ld; d++ {
							want := false
							for i1 := 0; i1 < r1; i1++ {
								for j1 := 0; j1 < c1; j1++ {
									for i2 := 0; i2 < r2; i2++ {
										for j2 := 0; j2 < c2; j2++ {
											if i1*ld+j1 == d+i2*ld+j2 {
												want = true
											}
										}
									}
								}
							}
							if got := stridedHit(d, r1, c1, r2, c2, ld); got != want {
								t.Fatalf("stridedHit(d=%d, %d×%d, %d×%d, ld=%d) = %v, want %v", d, r1, c1, r2, c2, ld, got, want)
							}
						}
					}
				}
			}
		}
	}
}

// checkPanel fails t unless the packed panel dst holds src(p, j) at
// dst[p*w+j] for every step p < depth and lane j < n, and 0 in the padding
// lanes n ≤ j < w; the failure names the case by format and args.
func checkPanel(t *testing.T, dst []float32, w, depth, n int, src func(p, j int) float32, format string, args ...any) {
	t.Helper()
	for p := 0; p < depth; p++ {
		for j := 0; j < w; j++ {
			want := float32(0)
			if j < n {
				want = src(p, j)
			}
			if got := dst[p*w+j]; got != want {
				t.Fatalf("%s: dst[%d][%d] = %g, want %g", fmt.Sprintf(format, args...), p, j, got, want)
			}
		}
	}
}

// TestPackTransposed checks the packing routine, with and without the
// assembly transpose, against its definition.
func TestPackTransposed(t *testing.T) {
	r := rand.New(rand.NewSource(13))
	var trs []*packers
	for _, k := range availableKernels() {
		trs = append(trs, k.pk)
	}
	for _, tr := range trs {
		for rows := 0; rows <= 20; rows++ {
			for _, depth := range []int{0, 1, 7, 8, 9, 16, 31, 40} {
				width := rows + r.Intn(3)
				ld := depth + r.Intn(3)
				src := randSlice(r, max(0, rows*ld))
				dst := randSlice(r, depth*width+5)
				packTransposed(dst, width, src, ld, rows, depth, tr)
				checkPanel(t, dst, width, depth, rows, func(p, i int) float32 { return src[i*ld+p] }, "asm=%v rows=%d depth=%d width=%d ld=%d", tr != nil, rows, depth, width, ld)
			}
		}
	}
}

// TestPackSegments checks the packing of contiguous row segments (op(B) of
// an NN product, op(A) of a TN one), through each kernel's assembly row
// copies and in pure Go, against its definition, on the full-sliver widths
// the copies take (32, 16) and the others, with strided rows and a
// destination longer than the panel (left alone past it).
func TestPackSegments(t *testing.T) {
	r := rand.New(rand.NewSource(17))
	pks := []*packers{nil}
	for _, k := range availableKernels() {
		pks = append(pks, k.pk)
	}
	for _, pk := range pks {
		for _, w := range []int{6, 12, 16, 32} {
			for _, n := range []int{w, w - 1, 1} {
				for _, kcur := range []int{0, 1, 2, 31, 33, 100} {
					ld := n + r.Intn(40)
					src := randSlice(r, max(0, (kcur-1)*ld+n))
					dst := randSlice(r, kcur*w+7)
					tail := append([]float32(nil), dst[kcur*w:]...)
					packSegments(dst, w, src, ld, n, kcur, pk)
					checkPanel(t, dst, w, kcur, n, func(p, j int) float32 { return src[p*ld+j] }, "asm=%v w=%d n=%d kcur=%d ld=%d", pk != nil, w, n, kcur, ld)
					for i, v := range tail {
						if dst[kcur*w+i] != v {
							t.Fatalf("asm=%v w=%d n=%d kcur=%d: wrote dst[%d] past the panel", pk != nil, w, n, kcur, kcur*w+i)
						}
					}
				}
			}
		}
	}
}
