package gonumblas

import (
	"math"
	"math/rand"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// counting records that Gorgonia really dispatched to our Sgemm/Sgemv.
type counting struct {
	Implementation
	gemm, gemv *int
}

func (c counting) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, cc []float32, ldc int) {
	*c.gemm++
	c.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, cc, ldc)
}

func (c counting) Sgemv(tA blas.Transpose, m, n int, alpha float32, a []float32, lda int, x []float32, incX int, beta float32, y []float32, incY int) {
	*c.gemv++
	c.Implementation.Sgemv(tA, m, n, alpha, a, lda, x, incX, beta, y, incY)
}

func randTensor(r *rand.Rand, shape ...int) *tensor.Dense {
	n := 1
	for _, s := range shape {
		n *= s
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(r.NormFloat64())
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
}

// runGraph evaluates y = x·w, z = x·Wᵀ (a transposed view) and v = x·u
// (matrix-vector) in a Gorgonia graph and returns the three outputs.
func runGraph(t *testing.T, x, w, u *tensor.Dense) (y, z, v []float32) {
	t.Helper()
	g := G.NewGraph()
	xn := G.NodeFromAny(g, x, G.WithName("x"))
	wn := G.NodeFromAny(g, w, G.WithName("w"))
	un := G.NodeFromAny(g, u, G.WithName("u"))
	yn := G.Must(G.Mul(xn, wn))
	wt := G.Must(G.Transpose(G.Must(G.Transpose(wn)))) // round trip, still [k, n]
	zn := G.Must(G.Mul(xn, wt))
	vn := G.Must(G.Mul(xn, un))
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	cp := func(n *G.Node) []float32 {
		return append([]float32(nil), n.Value().Data().([]float32)...)
	}
	return cp(yn), cp(zn), cp(vn)
}

// TestGorgoniaMulUsesKernels installs the implementation with gorgonia.Use,
// checks that graph matmuls dispatch to it, and that the results match
// Gorgonia's default (gonum) BLAS and a float64 reference.
func TestGorgoniaMulUsesKernels(t *testing.T) {
	const m, k, n = 67, 45, 131
	r := rand.New(rand.NewSource(9))
	x, w, u := randTensor(r, m, k), randTensor(r, k, n), randTensor(r, k)

	G.Use(gonum.Implementation{})
	wantY, wantZ, wantV := runGraph(t, x, w, u)

	var gemm, gemv int
	G.Use(counting{gemm: &gemm, gemv: &gemv})
	defer G.Use(gonum.Implementation{})
	gotY, gotZ, gotV := runGraph(t, x, w, u)
	if gemm < 2 || gemv < 1 {
		t.Fatalf("Gorgonia called Sgemm %d and Sgemv %d times through the installed BLAS, want ≥ 2 and ≥ 1", gemm, gemv)
	}
	xs, ws, us := x.Data().([]float32), w.Data().([]float32), u.Data().([]float32)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var ref, abs float64
			for p := 0; p < k; p++ {
				q := float64(xs[i*k+p]) * float64(ws[p*n+j])
				ref += q
				abs += math.Abs(q)
			}
			tol := 1e-5 * abs
			for _, c := range []struct {
				name      string
				got, gonm float32
			}{{"Mul", gotY[i*n+j], wantY[i*n+j]}, {"Mul(Transpose²)", gotZ[i*n+j], wantZ[i*n+j]}} {
				if math.Abs(float64(c.got)-ref) > tol || math.Abs(float64(c.got)-float64(c.gonm)) > 2*tol {
					t.Fatalf("%s[%d][%d] = %g, gonum %g, reference %g", c.name, i, j, c.got, c.gonm, ref)
				}
			}
		}
		var ref, abs float64
		for p := 0; p < k; p++ {
			q := float64(xs[i*k+p]) * float64(us[p])
			ref += q
			abs += math.Abs(q)
		}
		if math.Abs(float64(gotV[i])-ref) > 1e-5*abs || math.Abs(float64(gotV[i]-wantV[i])) > 2e-5*abs {
			t.Fatalf("Mul(matrix, vector)[%d] = %g, gonum %g, reference %g", i, gotV[i], wantV[i], ref)
		}
	}
}

// TestTransposedOperands calls Sgemm and Sgemv through the blas interface
// with every transpose flag and compares with gonum's implementation.
func TestTransposedOperands(t *testing.T) {
	r := rand.New(rand.NewSource(10))
	const m, n, k = 23, 37, 29
	rnd := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		return x
	}
	var ours blas.Float32 = Implementation{}
	var ref blas.Float32 = gonum.Implementation{}
	for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans, blas.ConjTrans} {
		for _, tB := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			lda, ldb := k, n
			if tA != blas.NoTrans {
				lda = m
			}
			if tB != blas.NoTrans {
				ldb = k
			}
			a, b, c := rnd(m*k), rnd(k*n), rnd(m*n)
			c2 := append([]float32(nil), c...)
			ours.Sgemm(tA, tB, m, n, k, 0.5, a, lda, b, ldb, 2, c, n)
			ref.Sgemm(tA, tB, m, n, k, 0.5, a, lda, b, ldb, 2, c2, n)
			for i := range c {
				if math.Abs(float64(c[i]-c2[i])) > 1e-4 {
					t.Fatalf("tA=%c tB=%c: c[%d] = %g, gonum %g", tA, tB, i, c[i], c2[i])
				}
			}
		}
		a, x, y := rnd(m*n), rnd(max(m, n)), rnd(max(m, n))
		y2 := append([]float32(nil), y...)
		ours.Sgemv(tA, m, n, 1.5, a, n, x, 1, -1, y, 1)
		ref.Sgemv(tA, m, n, 1.5, a, n, x, 1, -1, y2, 1)
		for i := range y {
			if math.Abs(float64(y[i]-y2[i])) > 1e-4 {
				t.Fatalf("Sgemv tA=%c: y[%d] = %g, gonum %g", tA, i, y[i], y2[i])
			}
		}
	}
}
