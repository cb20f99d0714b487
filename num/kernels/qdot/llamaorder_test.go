package qdot

import (
	"encoding/binary"
	"math"
	"math/big"
	"math/rand"
	"testing"

	"github.com/distill-ml/distill/num/f16"
	"github.com/distill-ml/distill/num/parallel"
)

// exactFMA32 rounds a·b+c computed exactly (256-bit mantissa) to float32.
func exactFMA32(a, b, c float32) float32 {
	x := new(big.Float).SetPrec(256).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetPrec(256).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetPrec(256).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}

func TestFMA32RoundsOnce(t *testing.T) {
	one := float32(1)
	ulp := float32(math.Nextafter32(1, 2) - 1) // 2⁻²³
	cases := [][3]float32{
		// a·b+c lies just below the midpoint between 1+2⁻²³ and 1+2⁻²²: the
		// float64 sum rounds onto the midpoint and a second rounding would
		// go up to the even neighbour.
		{one + ulp, (one - ulp) * ulp / 2, one + ulp},
		{-(one + ulp), (one - ulp) * ulp / 2, -(one + ulp)},
		{one + ulp, -(one - ulp) * ulp / 2, one + 2*ulp},
		{3, 5, 7}, {0, 5, -0}, {1e-30, 1e-15, 1e-40}, {1e-20, 1e-20, 0}, {-1e-23, 1e-20, 1e-42},
		{math.MaxFloat32, 2, -math.MaxFloat32}, {1e-3, 1e-3, -1e-6},
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 200000; i++ {
		r := func() float32 {
			return float32(rng.NormFloat64() * math.Pow(2, float64(rng.Intn(60)-30)))
		}
		a, b := r(), r()
		c := -a * b * float32(1+rng.NormFloat64()*1e-6) // heavy cancellation
		if i%2 == 0 {
			c = r()
		}
		cases = append(cases, [3]float32{a, b, c})
	}
	for _, c := range cases {
		got, want := FMA32(c[0], c[1], c[2]), exactFMA32(c[0], c[1], c[2])
		if math.Float32bits(got) != math.Float32bits(want) && !(got == 0 && want == 0) {
			t.Fatalf("FMA32(%g, %g, %g) = %g, want %g", c[0], c[1], c[2], got, want)
		}
	}
}

func randomF16(rng *rand.Rand, n int) ([]byte, []float32) {
	w := make([]byte, 2*n)
	x := make([]float32, n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint16(w[2*i:], f16.Float16(float32(rng.NormFloat64())))
		x[i] = f16.Float32(f16.Float16(float32(rng.NormFloat64() * 3)))
	}
	return w, x
}

// The lane orders written out plainly, independent of both implementations.
func refVecOrder(w []byte, x []float32, n int, padded bool) float32 {
	var acc [4][16]float32
	full := n / 64 * 64
	if padded {
		full = n
	}
	for e := 0; e < full; e++ {
		acc[e%64/16][e%16] += half(w[2*e:]) * x[e]
	}
	var v [16]float32
	for l := range v {
		v[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l])
	}
	s := float64(Reduce16(&v))
	for e := full; e < n; e++ {
		s += float64(half(w[2*e:]) * x[e])
	}
	return float32(s)
}

func refGemmOrder(w []byte, x []float32, n int) float32 {
	var acc [16]float32
	for e := 0; e < n; e++ {
		acc[e%16] += half(w[2*e:]) * x[e]
	}
	return Reduce16(&acc)
}

// withPortable runs fn with the assembly kernels disabled.
func withPortable(fn func()) {
	saved := llamaOrderAsm
	llamaOrderAsm = false
	defer func() { llamaOrderAsm = saved }()
	fn()
}

func TestF16OrdersMatchReference(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, n := range []int{1, 15, 16, 17, 63, 64, 65, 100, 128, 200, 256, 688, 1000} {
		w, x := randomF16(rng, n)
		for _, padded := range []bool{false, true} {
			want := refVecOrder(w, x, n, padded)
			got := F16VecOrder(w, x, n, padded)
			var gotGo float32
			withPortable(func() { gotGo = F16VecOrder(w, x, n, padded) })
			if math.Float32bits(got) != math.Float32bits(want) || math.Float32bits(gotGo) != math.Float32bits(want) {
				t.Errorf("F16VecOrder n=%d padded=%v: %g (portable %g), want %g", n, padded, got, gotGo, want)
			}
		}
		want := refGemmOrder(w, x, n)
		got := F16GemmOrder(w, x, n)
		var gotGo float32
		withPortable(func() { gotGo = F16GemmOrder(w, x, n) })
		if math.Float32bits(got) != math.Float32bits(want) || math.Float32bits(gotGo) != math.Float32bits(want) {
			t.Errorf("F16GemmOrder n=%d: %g (portable %g), want %g", n, got, gotGo, want)
		}
	}
}

// randomQ4 returns rows of Q4_0 or Q4_K with finite random scales.
func randomQ4(rng *rand.Rand, t Type, rows, cols int) []byte {
	rb, _ := RowBytes(t, cols)
	b := make([]byte, rows*rb)
	rng.Read(b)
	bb := t.TypeSize()
	for off := 0; off < len(b); off += bb {
		binary.LittleEndian.PutUint16(b[off:], f16.Float16(float32(rng.NormFloat64()*0.01)))
		if t == Q4_K {
			binary.LittleEndian.PutUint16(b[off+2:], f16.Float16(float32(rng.Float64()*0.01)))
		}
	}
	return b
}

func randomX(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// orderProducts runs mul (one of m's Mul…Order products) on the n rows of
// x with the kernels this CPU picks and with the portable ones, and
// m.MulBatch for comparison, over a pool of 2. Each result: [n, Rows].
func orderProducts(m *Matrix, x []float32, n int, mul func(*Matrix, *parallel.Pool, []float32, []float32, int, *Workspace)) (got, portable, other []float32) {
	pool := parallel.New(2)
	defer pool.Close()
	got, portable, other = make([]float32, n*m.Rows), make([]float32, n*m.Rows), make([]float32, n*m.Rows)
	mul(m, pool, got, x, n, nil)
	withPortable(func() { mul(m, pool, portable, x, n, nil) })
	m.MulBatch(pool, other, x, n, nil)
	return got, portable, other
}

func TestQ4_0RepackOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	const rows, cols, n = 26, 576, 3 // 26: six groups of 4 and two single rows
	m, err := NewMatrix(Q4_0, rows, cols, randomQ4(rng, Q4_0, rows, cols))
	if err != nil {
		t.Fatal(err)
	}
	x := randomX(rng, n*cols)
	got, portable, other := orderProducts(&m, x, n, (*Matrix).MulQ4_0RepackOrder)
	qa := make([]byte, cols/QK*BytesQ8_0)
	for tk := 0; tk < n; tk++ {
		QuantizeQ8_0(qa, x[tk*cols:(tk+1)*cols])
		for r := 0; r < rows; r++ {
			// reference: one scalar accumulator, one rounding per block
			var acc float32
			w := m.Data[r*m.RowBytes():]
			for i := 0; i < cols/QK; i++ {
				wb, ab := w[i*BytesQ4_0:], qa[i*BytesQ8_0:]
				var s int32
				for j := 0; j < 16; j++ {
					s += (int32(wb[2+j]&15) - 8) * int32(int8(ab[2+j]))
					s += (int32(wb[2+j]>>4) - 8) * int32(int8(ab[18+j]))
				}
				acc = exactFMA32(float32(s), half(wb)*half(ab), acc)
			}
			k := tk*rows + r
			if got[k] != acc || portable[k] != acc {
				t.Fatalf("token %d row %d: %g (portable %g), want %g", tk, r, got[k], portable[k], acc)
			}
			if d := math.Abs(float64(got[k] - other[k])); d > 1e-4*(1+math.Abs(float64(acc))) {
				t.Fatalf("token %d row %d: repack order %g far from qdot's %g", tk, r, got[k], other[k])
			}
		}
	}
}

func TestQ4KGemmOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	const rows, cols, n = 16, 512, 5
	m, err := NewMatrix(Q4_K, rows, cols, randomQ4(rng, Q4_K, rows, cols))
	if err != nil {
		t.Fatal(err)
	}
	x := randomX(rng, n*cols)
	got, portable, other := orderProducts(&m, x, n, (*Matrix).MulQ4KGemmOrder)
	qa := make([]byte, cols/QKK*BytesQ8_K)
	for tk := 0; tk < n; tk++ {
		QuantizeQ8_K(qa, x[tk*cols:(tk+1)*cols])
		for r := 0; r < rows; r++ {
			// reference from the dequantized weights: per 64-element pair of
			// sub-blocks, Σ (sc·q)·a and Σ m·a in exact integers.
			w := m.Data[r*m.RowBytes():]
			var acc, accm float32
			for i := 0; i < cols/QKK; i++ {
				wb, ab := w[i*BytesQ4_K:], qa[i*BytesQ8_K:]
				sc, mn := scaleMinK4(wb[4:16])
				da := q8KScale(ab)
				for j := 0; j < 4; j++ {
					var isb, imin int32
					for l := 0; l < 64; l++ {
						sub := 2*j + l/32
						q := int32(wb[16+32*j+l%32] >> (4 * (l / 32)) & 15)
						a := int32(int8(ab[4+64*j+l]))
						isb += int32(sc[sub]) * q * a
						imin += int32(mn[sub]) * a
					}
					acc = exactFMA32(float32(isb), half(wb)*da, acc)
					accm = exactFMA32(float32(imin), half(wb[2:])*da, accm)
				}
			}
			want := acc - accm
			k := tk*rows + r
			if got[k] != want || portable[k] != want {
				t.Fatalf("token %d row %d: %g (portable %g), want %g", tk, r, got[k], portable[k], want)
			}
			if d := math.Abs(float64(got[k] - other[k])); d > 1e-4*(1+math.Abs(float64(want))) {
				t.Fatalf("token %d row %d: GEMM order %g far from qdot's %g", tk, r, got[k], other[k])
			}
		}
	}
	if Q4KGemmRows(7) != 4 || Q4KGemmRows(3) != 0 || Q4KGemmRows(8) != 8 {
		t.Fatal("Q4KGemmRows: wrong group split")
	}
}

func TestF16LlamaOrderMatrix(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	const rows, cols = 12, 96
	w, _ := randomF16(rng, rows*cols)
	m, err := NewMatrix(F16, rows, cols, w)
	if err != nil {
		t.Fatal(err)
	}
	pool := parallel.New(2)
	defer pool.Close()
	for _, n := range []int{1, 3} {
		x := randomX(rng, n*cols)
		got := make([]float32, n*rows)
		m.MulF16LlamaOrder(pool, got, x, n, nil)
		for tk := 0; tk < n; tk++ {
			xh := make([]float32, cols)
			for i := range xh {
				xh[i] = f16.Float32(f16.Float16(x[tk*cols+i]))
			}
			for r := 0; r < rows; r++ {
				row := w[2*r*cols : 2*(r+1)*cols]
				want := refVecOrder(row, xh, cols, false)
				if n > 1 {
					want = refGemmOrder(row, xh, cols)
				}
				if got[tk*rows+r] != want {
					t.Fatalf("n=%d token %d row %d: %g, want %g", n, tk, r, got[tk*rows+r], want)
				}
			}
		}
	}
}

// The vector exponential and SiLU agree bit for bit with the portable
// ExpfLlama, including the arguments the assembly hands back (|x| > 87,
// NaN) and in-place use.
func TestExpAndSwiGLUAsmMatchPortable(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	for _, n := range []int{1, 7, 8, 9, 16, 63, 64, 65, 200, 1536} {
		x := make([]float32, n)
		u := make([]float32, n)
		for i := range x {
			switch i % 5 {
			case 0:
				x[i] = float32(rng.NormFloat64() * 60)
			case 1:
				x[i] = float32(-rng.Float64() * 200)
			default:
				x[i] = float32(rng.NormFloat64() * 4)
			}
			u[i] = float32(rng.NormFloat64())
		}
		if n > 3 {
			x[3] = float32(math.NaN())
		}
		got := append([]float32(nil), x...)
		ExpLlama(got, got)
		g := append([]float32(nil), x...)
		SwiGLULlama(g, u)
		for i, v := range x {
			if want := ExpfLlama(v); math.Float32bits(got[i]) != math.Float32bits(want) && !(v != v && got[i] != got[i]) {
				t.Fatalf("n=%d exp(%g) = %g, want %g", n, v, got[i], want)
			}
			want := v / (1 + ExpfLlama(0-v)) * u[i]
			if i >= n-n%16 {
				want = v / (1 + float32(math.Exp(float64(-v)))) * u[i]
			}
			if math.Float32bits(g[i]) != math.Float32bits(want) && !(v != v && g[i] != g[i]) {
				t.Fatalf("n=%d silu(%g)·%g = %g, want %g", n, v, u[i], g[i], want)
			}
		}
	}
}

func TestF16OrderRowsMatchSingle(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, is512 := range []bool{true, false} {
		saved := llama512
		llama512 = is512
		for _, n := range []int{64, 128, 96, 48, 40} {
			const rows = 9
			stride := 2*n + 6
			w := make([]byte, rows*stride)
			for r := 0; r < rows; r++ {
				row, _ := randomF16(rng, n)
				copy(w[r*stride:], row)
			}
			_, x := randomF16(rng, n)
			vec, gemm := make([]float32, rows), make([]float32, rows)
			F16VecOrderRows(w, stride, x, n, vec)
			F16GemmOrderRows(w, stride, x, n, gemm)
			for r := 0; r < rows; r++ {
				if v := F16VecOrder(w[r*stride:], x, n, false); v != vec[r] {
					t.Fatalf("512=%v n=%d row %d: vec rows %g, single %g", is512, n, r, vec[r], v)
				}
				if v := F16GemmOrder(w[r*stride:], x, n); v != gemm[r] {
					t.Fatalf("512=%v n=%d row %d: gemm rows %g, single %g", is512, n, r, gemm[r], v)
				}
			}
		}
		llama512 = saved
	}
}

// The AVX2-build orders (chosen on CPUs without AVX-512): assembly and
// portable code agree bit for bit.
func TestAVX2BuildAsmMatchesPortable(t *testing.T) {
	saved := llama512
	llama512 = false
	defer func() { llama512 = saved }()
	rng := rand.New(rand.NewSource(9))
	for _, n := range []int{8, 31, 32, 33, 64, 100, 256} {
		w, x := randomF16(rng, n)
		for _, padded := range []bool{false, true} {
			a := F16VecOrder(w, x, n, padded)
			var b float32
			withPortable(func() { b = F16VecOrder(w, x, n, padded) })
			if math.Float32bits(a) != math.Float32bits(b) {
				t.Fatalf("vec n=%d padded=%v: asm %g, portable %g", n, padded, a, b)
			}
		}
		a := F16GemmOrder(w, x, n)
		var b float32
		withPortable(func() { b = F16GemmOrder(w, x, n) })
		if math.Float32bits(a) != math.Float32bits(b) {
			t.Fatalf("gemm n=%d: asm %g, portable %g", n, a, b)
		}
		v := make([]float32, n)
		u := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 30)
			u[i] = float32(rng.NormFloat64())
		}
		e1 := make([]float32, n)
		ExpLlama(e1, v)
		g1 := append([]float32(nil), v...)
		SwiGLULlama(g1, u)
		var e2, g2 []float32
		withPortable(func() {
			e2 = make([]float32, n)
			ExpLlama(e2, v)
			g2 = append([]float32(nil), v...)
			SwiGLULlama(g2, u)
		})
		for i := range v {
			if math.Float32bits(e1[i]) != math.Float32bits(e2[i]) || math.Float32bits(g1[i]) != math.Float32bits(g2[i]) {
				t.Fatalf("n=%d x=%g: exp asm %g portable %g; swiglu asm %g portable %g", n, v[i], e1[i], e2[i], g1[i], g2[i])
			}
		}
	}
}

// F32 llama orders: assembly equals the portable FMA32 code in both builds'
// orders, and stays close to the plain dot product.
func TestF32LlamaOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(10))
	for _, is512 := range []bool{true, false} {
		saved := llama512
		llama512 = is512
		for _, n := range []int{64, 128, 576, 96, 40, 688, 100, 130, 65} {
			w, x := randomX(rng, n), randomX(rng, n)
			var exact float64
			for i := range w {
				exact += float64(w[i]) * float64(x[i])
			}
			for _, gemm := range []bool{false, true} {
				if gemm && n%F16GemmBlock() != 0 {
					continue
				}
				f := f32VecOrder
				if gemm {
					f = f32GemmOrder
				}
				a := f(w, x, n)
				var b float32
				withPortable(func() { b = f(w, x, n) })
				if math.Float32bits(a) != math.Float32bits(b) {
					t.Fatalf("512=%v gemm=%v n=%d: asm %g, portable %g", is512, gemm, n, a, b)
				}
				if math.Abs(float64(a)-exact) > 1e-4*math.Sqrt(float64(n)) {
					t.Fatalf("512=%v gemm=%v n=%d: %g far from %g", is512, gemm, n, a, exact)
				}
			}
		}
		llama512 = saved
	}
}
