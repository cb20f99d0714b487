package qdot

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/distill-ml/distill/num/f16"
	"github.com/distill-ml/distill/num/parallel"
)

// impls is every implementation runnable here: the Go fallback always, then
// avx2 and avx512 when the CPU has them.
func impls() []*dotKernels { return kernelSets() }

var weightTypes = []Type{Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, F16, F32}

func putHalf(b []byte, v float32) { binary.LittleEndian.PutUint16(b, f16.Float16(v)) }

// randomRow fills a row of n elements of type t: random quant bytes, finite
// random scales; adversarial rows use extreme codes and scales.
func randomRow(rng *rand.Rand, t Type, n int, adversarial bool) []byte {
	rb, err := RowBytes(t, n)
	if err != nil {
		panic(err)
	}
	b := make([]byte, rb)
	scale := func() float32 {
		v := float32(math.Exp(rng.Float64()*6 - 5)) // 0.0067 .. 2.7
		if rng.Intn(2) == 0 {
			v = -v
		}
		return v
	}
	fill := func(p []byte) {
		for i := range p {
			if adversarial {
				p[i] = []byte{0x00, 0xFF, 0x80, 0x7F, 0x0F, 0xF0}[rng.Intn(6)]
			} else {
				p[i] = byte(rng.Intn(256))
			}
		}
	}
	switch t {
	case F32:
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(rng.NormFloat64())))
		}
	case F16:
		for i := 0; i < n; i++ {
			putHalf(b[2*i:], float32(rng.NormFloat64()))
		}
	default:
		bb := t.TypeSize()
		for off := 0; off < rb; off += bb {
			blk := b[off : off+bb]
			fill(blk)
			switch t {
			case Q8_0, Q4_0, Q5_0, IQ4_NL, IQ4_XS:
				putHalf(blk, scale())
			case Q4_K, Q5_K, Q5_1, Q4_1:
				putHalf(blk, scale())
				putHalf(blk[2:], scale())
			case Q2_K:
				putHalf(blk[80:], scale())
				putHalf(blk[82:], scale())
			case Q3_K:
				putHalf(blk[108:], scale())
			case Q6_K:
				putHalf(blk[208:], scale())
			}
		}
	}
	return b
}

// randomMatrix is a rows×cols matrix of type t made of randomRow rows, and
// its bytes.
func randomMatrix(tb testing.TB, rng *rand.Rand, t Type, rows, cols int) (Matrix, []byte) {
	tb.Helper()
	return randomMatrixEvery(tb, rng, t, rows, cols, 0)
}

// randomMatrixEvery is randomMatrix with adversarial rows 0, every,
// 2·every, … (none when every is 0).
func randomMatrixEvery(tb testing.TB, rng *rand.Rand, t Type, rows, cols, every int) (Matrix, []byte) {
	tb.Helper()
	var data []byte
	for r := 0; r < rows; r++ {
		data = append(data, randomRow(rng, t, cols, every > 0 && r%every == 0)...)
	}
	m, err := NewMatrix(t, rows, cols, data)
	if err != nil {
		tb.Fatal(err)
	}
	return m, data
}

// randomActivations quantizes random floats (with outliers when adversarial)
// the way the runtime does, or builds extreme ±127 blocks directly.
func randomActivations(rng *rand.Rand, t Type, n int, adversarial bool) ([]byte, []float32) {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
		if adversarial && rng.Intn(7) == 0 {
			x[i] *= 1e3
		}
		if adversarial && rng.Intn(5) == 0 {
			x[i] = 0
		}
	}
	if adversarial && n >= QKK {
		for i := 0; i < QKK; i++ { // a whole zero block
			x[i] = 0
		}
	}
	return QuantizeActivations(t, x, nil), x
}

// refDot dequantizes both sides and sums in float64.
func refDot(t Type, w, qa []byte, x []float32, n int) (dot, mag float64) {
	wf := make([]float32, n)
	if err := DequantizeRow(t, wf, w, n); err != nil {
		panic(err)
	}
	if t == Q5_1 || t == Q4_1 {
		// ggml defines Q5_1·Q8_1 per block as d·da·Σ q·qa + m·s, with s the
		// activation block's F16-rounded da·Σ qa (ggml_vec_dot_q5_1_q8_1_generic);
		// Q4_1 likewise.
		for b := 0; b < n/QK; b++ {
			wb, ab := w[b*t.TypeSize():], qa[b*BytesQ8_1:]
			qh := binary.LittleEndian.Uint32(wb[4:])
			for e := 0; e < QK; e++ {
				code := float64(iq4Code(wb[4:20], e))
				if t == Q5_1 {
					code = float64(q5_1Code(wb, qh, e))
				}
				p := float64(half(wb)) * code * float64(half(ab)) * float64(int8(ab[4+e]))
				dot += p
				mag += math.Abs(p)
			}
			p := float64(half(wb[2:])) * float64(half(ab[2:]))
			dot += p
			mag += math.Abs(p)
		}
		return dot, mag
	}
	af := x
	if vt := VecDotType(t); vt != F32 {
		af = make([]float32, n)
		if err := DequantizeRow(vt, af, qa, n); err != nil {
			panic(err)
		}
	}
	for i := 0; i < n; i++ {
		p := float64(wf[i]) * float64(af[i])
		dot += p
		mag += math.Abs(p)
	}
	return dot, mag
}

func TestDotAgainstFloat64Reference(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, k := range impls() {
		for _, typ := range weightTypes {
			for _, n := range []int{256, 512, 1536, 2304} {
				for _, adv := range []bool{false, true} {
					for trial := 0; trial < 8; trial++ {
						w := randomRow(rng, typ, n, adv)
						qa, x := randomActivations(rng, typ, n, adv)
						m, err := NewMatrix(typ, 1, n, w)
						if err != nil {
							t.Fatal(err)
						}
						got := float64(m.dotRow(k, 0, qa, x))
						want, mag := refDot(typ, w, qa, x, n)
						if math.Abs(got-want) > 2e-6*mag+1e-30 {
							t.Fatalf("%s %s n=%d adversarial=%v trial %d: got %.9g want %.9g (|terms| %.3g)", k.name, typ, n, adv, trial, got, want, mag)
						}
					}
				}
			}
		}
	}
}

func TestDotOddLengthsFloat(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, k := range impls() {
		for _, typ := range []Type{F32, F16} {
			for _, n := range []int{1, 7, 31, 33, 63, 255, 257} {
				w := randomRow(rng, typ, n, false)
				_, x := randomActivations(rng, F32, n, false)
				m, _ := NewMatrix(typ, 1, n, w)
				got := float64(m.dotRow(k, 0, nil, x))
				want, mag := refDot(typ, w, nil, x, n)
				if math.Abs(got-want) > 2e-6*mag {
					t.Fatalf("%s %s n=%d: got %g want %g", k.name, typ, n, got, want)
				}
			}
		}
	}
}

func TestQuantizeQ8_0(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	x := make([]float32, 4*QK)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 3)
	}
	for i := 2 * QK; i < 3*QK; i++ {
		x[i] = 0 // an all-zero block gets d = 0 and zero codes
	}
	b := make([]byte, 4*BytesQ8_0)
	QuantizeQ8_0(b, x)
	back := make([]float32, len(x))
	if err := DequantizeRow(Q8_0, back, b, len(x)); err != nil {
		t.Fatal(err)
	}
	for blk := 0; blk < 4; blk++ {
		var amax float64
		for _, v := range x[blk*QK : (blk+1)*QK] {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		for i := blk * QK; i < (blk+1)*QK; i++ {
			q := int8(b[blk*BytesQ8_0+2+i-blk*QK])
			if amax > 0 && math.Abs(float64(x[i])) == amax && (q != 127 && q != -127) {
				t.Fatalf("block %d: max element coded %d, want ±127", blk, q)
			}
			if math.Abs(float64(back[i]-x[i])) > amax/127*0.5+amax*1e-3 {
				t.Fatalf("element %d: %g decodes to %g", i, x[i], back[i])
			}
		}
	}
}

func TestQuantizeQ8_K(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	x := make([]float32, 3*QKK)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	x[17] = -9 // the largest magnitude codes as −127 whatever its sign; d = −max/127
	for i := QKK; i < 2*QKK; i++ {
		x[i] = 0
	}
	b := make([]byte, 3*BytesQ8_K)
	QuantizeQ8_K(b, x)
	if q := int8(b[4+17]); q != -127 {
		t.Fatalf("max-magnitude element coded %d, want -127", q)
	}
	if d := math.Float32frombits(binary.LittleEndian.Uint32(b)); math.Abs(float64(d)-9.0/127) > 1e-6 {
		t.Fatalf("d = %g, want %g", d, 9.0/127)
	}
	for blk := 0; blk < 3; blk++ {
		bb := b[blk*BytesQ8_K:]
		for g := 0; g < 16; g++ {
			var s int
			for _, q := range bb[4+16*g : 4+16*g+16] {
				s += int(int8(q))
			}
			if got := int(q8KBsum(bb, g)); got != s {
				t.Fatalf("block %d bsum %d = %d, want %d", blk, g, got, s)
			}
		}
	}
	back := make([]float32, len(x))
	_ = DequantizeRow(Q8_K, back, b, len(x))
	for i := range x {
		if math.Abs(float64(back[i]-x[i])) > 9.0/127*0.51 {
			t.Fatalf("element %d: %g decodes to %g", i, x[i], back[i])
		}
	}
}

func TestMulBatchMatchesRowDots(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	pool := parallel.New(3)
	for _, k := range impls() {
		for _, typ := range weightTypes {
			rows, cols, n := 37, 512, 5
			rb, _ := RowBytes(typ, cols)
			m, data := randomMatrix(t, rng, typ, rows, cols)
			x := make([]float32, n*cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			dst := make([]float32, n*rows)
			m.mulBatch(k, pool, dst, x, n, &Workspace{})
			for tk := 0; tk < n; tk++ {
				xt := x[tk*cols : (tk+1)*cols]
				if typ == F16 { // MulBatch rounds activations to F16 for F16 weights
					xr := make([]float32, len(xt))
					for i, v := range xt {
						xr[i] = f16.Float32(f16.Float16(v))
					}
					xt = xr
				}
				qa := QuantizeActivations(typ, xt, nil)
				for r := 0; r < rows; r++ {
					want, mag := refDot(typ, data[r*rb:(r+1)*rb], qa, xt, cols)
					if got := float64(dst[tk*rows+r]); math.Abs(got-want) > 2e-6*mag {
						t.Fatalf("%s %s token %d row %d: got %g want %g", k.name, typ, tk, r, got, want)
					}
				}
			}
		}
	}
}

func TestNewMatrixRejectsBadShapes(t *testing.T) {
	for _, tc := range []struct {
		t          Type
		rows, cols int
		bytes      int
	}{
		{Q4_K, 2, 576, 2 * 576 / 256 * 144}, // not a multiple of 256
		{Q8_0, 2, 64, 3 * 34},               // wrong size
		{Type(99), 1, 32, 32},               // unknown type
		{F32, 0, 4, 0},                      // empty
	} {
		if _, err := NewMatrix(tc.t, tc.rows, tc.cols, make([]byte, tc.bytes)); err == nil {
			t.Errorf("%s %dx%d with %d bytes: no error", tc.t, tc.rows, tc.cols, tc.bytes)
		}
	}
}

func ExampleImplementation() {
	fmt.Println(Implementation() != "")
	// Output: true
}

// MulBatchSet over matrices of different types equals their separate products.
func TestMulBatchSetMixedTypes(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	cols, n := 512, 3
	var mats []*Matrix
	var dsts [][]float32
	for i, typ := range []Type{Q4_K, Q8_0, F16, Q6_K, F32, Q5_0} {
		rows := 5 + 7*i
		m, _ := randomMatrix(t, rng, typ, rows, cols)
		mats = append(mats, &m)
		dsts = append(dsts, make([]float32, n*rows))
	}
	x := make([]float32, n*cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	MulBatchSet(parallel.New(2), mats, dsts, x, n, &Workspace{})
	for i, m := range mats {
		want := make([]float32, n*m.Rows)
		m.MulBatch(parallel.New(1), want, x, n, nil)
		for j := range want {
			if want[j] != dsts[i][j] {
				t.Fatalf("matrix %d (%s) element %d: set %g, alone %g", i, m.Type, j, dsts[i][j], want[j])
			}
		}
	}
}

// RoundActivations gives the activations the quantized dot products
// consume: a float64 dot product of a dequantized weight row with them
// equals the kernel's dot product to float32 summation noise (2e-6 of
// Σ|terms|) for every weight type, while the unrounded activations differ
// by the quantization noise (checked to be larger, so the test can tell
// the two apart).
func TestRoundActivationsGiveTheDotProductsOperands(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	pool := parallel.New(2)
	for _, typ := range weightTypes {
		if typ == Q5_1 || typ == Q4_1 {
			// Q5_1's (and Q4_1's) product adds m·s per block, s being the activation block's
			// F16-rounded d·Σq (ggml's Q8_1): no per-element rounding gives
			// that term; TestLowBitDotsMatchGGML pins it against ggml.
			continue
		}
		rows, cols := 16, 512
		rb, _ := RowBytes(typ, cols)
		m, data := randomMatrix(t, rng, typ, rows, cols)
		x := make([]float32, cols)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		got := make([]float32, rows)
		m.MulVec(pool, got, x, &Workspace{})
		xr := make([]float32, cols)
		RoundActivations(typ, xr, x, nil)
		var worstRounded, worstRaw float64
		for r := 0; r < rows; r++ {
			w := make([]float32, cols)
			if err := DequantizeRow(typ, w, data[r*rb:(r+1)*rb], cols); err != nil {
				t.Fatal(err)
			}
			var rounded, raw, mag float64
			for i := range w {
				rounded += float64(w[i]) * float64(xr[i])
				raw += float64(w[i]) * float64(x[i])
				mag += math.Abs(float64(w[i]) * float64(x[i]))
			}
			worstRounded = max(worstRounded, math.Abs(float64(got[r])-rounded)/mag)
			worstRaw = max(worstRaw, math.Abs(float64(got[r])-raw)/mag)
		}
		if worstRounded > 2e-6 {
			t.Errorf("%s: kernel vs rounded activations: %.2g of Σ|terms|", typ, worstRounded)
		}
		if typ != F32 && worstRaw < 4*worstRounded {
			t.Errorf("%s: unrounded activations as close (%.2g) as rounded (%.2g): the rounding is not what the kernel does", typ, worstRaw, worstRounded)
		}
		t.Logf("%s: kernel vs rounded %.2g, vs unrounded %.2g of Σ|terms|", typ, worstRounded, worstRaw)
	}
}
