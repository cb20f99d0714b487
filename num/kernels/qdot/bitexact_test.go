package qdot

import (
	"encoding/binary"
	"math"
	"math/rand"
	"testing"

	"github.com/distill-ml/distill/num/parallel"
)

// The AVX-512 kernels and the portable Go ones must return exactly the
// float32 bits of the AVX2 ones (which reproduce llama.cpp's order). These
// tests compare every quantized type, every block count 1..17, single-row
// and multi-row kernels, on random and adversarial rows and activations
// (zero, negative-zero, largest and subnormal f16 scales; all-extreme codes;
// activations all +127, all −127, alternating, and −128 for the K-quants).

var quantTypes = []Type{Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K}

func kernelByName(name string) *dotKernels {
	for _, k := range kernelSets() {
		if k.name == name {
			return k
		}
	}
	return nil
}

func singleDot(k *dotKernels, t Type) func(w, a []byte, nb int) float32 {
	switch t {
	case Q8_0:
		return k.q8_0
	case Q4_0:
		return k.q4_0
	case Q5_0:
		return k.q5_0
	case Q4_K:
		return k.q4_K
	case Q5_K:
		return k.q5_K
	case Q6_K:
		return k.q6_K
	}
	panic(t)
}

func rowsDot(k *dotKernels, t Type) rowsFunc {
	switch t {
	case Q8_0:
		return k.q8_0Rows
	case Q4_0:
		return k.q4_0Rows
	case Q5_0:
		return k.q5_0Rows
	case Q4_K:
		return k.q4_KRows
	case Q5_K:
		return k.q5_KRows
	case Q6_K:
		return k.q6_KRows
	}
	panic(t)
}

// sameBits treats any two NaNs as equal (their payloads are not specified).
func sameBits(a, b float32) bool {
	if a != a && b != b {
		return true
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// extremeScale is an f16 weight scale from the awkward corners: zero,
// negative zero, the largest half, a subnormal, or an ordinary value.
func extremeScale(rng *rand.Rand) float32 {
	switch rng.Intn(6) {
	case 0:
		return 0
	case 1:
		return float32(math.Copysign(0, -1))
	case 2:
		return 65504
	case 3:
		return -6e-8
	case 4:
		return 1
	}
	return float32(rng.NormFloat64())
}

// weightRow is a row of nb blocks of type t in one of several styles.
func weightRow(rng *rand.Rand, t Type, nb int, style int) []byte {
	n := nb * t.BlockSize()
	b := randomRow(rng, t, n, style == 1)
	if style < 2 {
		return b
	}
	bb := t.TypeSize()
	for off := 0; off < len(b); off += bb {
		blk := b[off : off+bb]
		if style == 3 { // every code at one extreme
			v := []byte{0x00, 0xFF, 0x80, 0x7F}[rng.Intn(4)]
			for i := range blk {
				blk[i] = v
			}
		}
		switch t {
		case Q8_0, Q4_0, Q5_0:
			putHalf(blk, extremeScale(rng))
		case Q4_K, Q5_K:
			putHalf(blk, extremeScale(rng))
			putHalf(blk[2:], extremeScale(rng))
		case Q6_K:
			putHalf(blk[208:], extremeScale(rng))
		}
	}
	return b
}

// activationRow is nb activation blocks for weight type t: quantized random
// floats (styles 0, 1) or raw blocks of extreme codes (±127 everywhere,
// alternating, and −128 where the kernels allow it).
func activationRow(rng *rand.Rand, t Type, nb int, style int) []byte {
	n := nb * t.BlockSize()
	if style < 2 {
		qa, _ := randomActivations(rng, t, n, style == 1)
		return qa
	}
	vt := VecDotType(t)
	codes := func(q []byte) {
		// −128 only for the K-quants: the 32-element kernels take
		// activations in [−127, 127], which is all the quantizer produces.
		lo := byte(0x81)
		if vt == Q8_K {
			lo = 0x80
		}
		pattern := rng.Intn(4)
		for i := range q {
			switch pattern {
			case 0:
				q[i] = 0x7F
			case 1:
				q[i] = lo
			case 2:
				q[i] = []byte{0x7F, lo}[i&1]
			default:
				q[i] = []byte{0x7F, lo, 0x81, 0, 1}[rng.Intn(5)]
			}
		}
	}
	if vt == Q8_0 {
		b := make([]byte, nb*BytesQ8_0)
		for i := 0; i < nb; i++ {
			blk := b[i*BytesQ8_0:]
			putHalf(blk, extremeScale(rng))
			codes(blk[2:BytesQ8_0])
		}
		return b
	}
	b := make([]byte, nb*BytesQ8_K)
	for i := 0; i < nb; i++ {
		blk := b[i*BytesQ8_K : (i+1)*BytesQ8_K]
		d := float32(rng.NormFloat64())
		if rng.Intn(4) == 0 {
			d = 0
		}
		binary.LittleEndian.PutUint32(blk, math.Float32bits(d))
		codes(blk[4 : 4+QKK])
		for g := 0; g < QKK/16; g++ {
			var s int16
			for _, q := range blk[4+16*g : 4+16*g+16] {
				s += int16(int8(q))
			}
			binary.LittleEndian.PutUint16(blk[4+QKK+2*g:], uint16(s))
		}
	}
	return b
}

// Every implementation (the portable Go one included) returns the AVX2
// kernels' bits for every quantized type.
func TestDotsBitIdenticalToAVX2(t *testing.T) {
	ref := kernelByName("avx2")
	if ref == nil {
		t.Skipf("this CPU runs %v; the comparison needs avx2", Implementations())
	}
	for _, k := range append(kernelSets(), extraKernelSets()...) {
		compareWithAVX2(t, ref, k) // for avx2 itself: its row kernels
	}
}

func compareWithAVX2(t *testing.T, ref, k *dotKernels) {
	rng := rand.New(rand.NewSource(8))
	const nrows = 13 // 1..13 rows: the four-row kernels with Q = 1..3 and every remainder
	for _, typ := range quantTypes {
		single, rows := singleDot(k, typ), rowsDot(k, typ)
		refDot := singleDot(ref, typ)
		for nb := 1; nb <= 17; nb++ {
			for wStyle := 0; wStyle < 4; wStyle++ {
				for aStyle := 0; aStyle < 4; aStyle++ {
					a := activationRow(rng, typ, nb, aStyle)
					rb := nb * typ.TypeSize()
					stride := rb + rng.Intn(3)*7 // also rows with gaps between them
					w := make([]byte, (nrows-1)*stride+rb)
					want := make([]float32, nrows)
					for r := 0; r < nrows; r++ {
						row := w[r*stride : r*stride+rb]
						copy(row, weightRow(rng, typ, nb, wStyle))
						want[r] = refDot(row, a, nb)
						if got := single(row, a, nb); !sameBits(got, want[r]) {
							t.Fatalf("%s nb=%d weights %d activations %d row %d: %s %v (%#08x), avx2 %v (%#08x)",
								typ, nb, wStyle, aStyle, r, k.name, got, math.Float32bits(got), want[r], math.Float32bits(want[r]))
						}
					}
					if rows == nil {
						continue
					}
					for n := 1; n <= nrows; n++ {
						got := make([]float32, n)
						rows(w[:(n-1)*stride+rb], stride, a, nb, got)
						for r := range got {
							if !sameBits(got[r], want[r]) {
								t.Fatalf("%s nb=%d weights %d activations %d: %s %d-row kernel row %d = %v, avx2 %v",
									typ, nb, wStyle, aStyle, k.name, n, r, got[r], want[r])
							}
						}
					}
				}
			}
		}
	}
}

// The 32-element AVX-512 kernels are exact for −128 activation codes too
// (the AVX2 ones require [−127, 127]); check them against float64.
func TestAVX512Minus128Activations(t *testing.T) {
	k := kernelByName("avx512")
	if k == nil {
		t.Skipf("this CPU runs %v", Implementations())
	}
	rng := rand.New(rand.NewSource(9))
	for _, typ := range []Type{Q8_0, Q4_0, Q5_0} {
		for nb := 1; nb <= 9; nb++ {
			w := weightRow(rng, typ, nb, 1)
			a := make([]byte, nb*BytesQ8_0)
			for i := 0; i < nb; i++ {
				putHalf(a[i*BytesQ8_0:], float32(rng.NormFloat64()))
				for j := 2; j < BytesQ8_0; j++ {
					a[i*BytesQ8_0+j] = []byte{0x80, 0x7F}[rng.Intn(2)]
				}
			}
			got := float64(singleDot(k, typ)(w, a, nb))
			want, mag := refDot(typ, w, a, nil, nb*QK)
			if math.Abs(got-want) > 2e-6*mag+1e-30 {
				t.Fatalf("%s nb=%d: got %g want %g", typ, nb, got, want)
			}
		}
	}
}

// Whole products: every implementation's MulBatch equals avx2's bit for
// bit, with odd row counts split over a pool.
func TestMulBatchBitIdenticalAcrossImplementations(t *testing.T) {
	ref := kernelByName("avx2")
	if ref == nil {
		t.Skipf("this CPU runs %v", Implementations())
	}
	rng := rand.New(rand.NewSource(10))
	pool := parallel.New(3)
	for _, typ := range quantTypes {
		for _, n := range []int{1, 3} {
			rows, cols := 37, 2*typ.BlockSize()*3
			if typ.BlockSize() == QK {
				cols = 17 * QK
			}
			m, _ := randomMatrixEvery(t, rng, typ, rows, cols, 3)
			x := randomX(rng, n*cols)
			want := make([]float32, n*rows)
			m.mulBatch(ref, pool, want, x, n, &Workspace{})
			for _, k := range kernelSets() {
				got := make([]float32, n*rows)
				m.mulBatch(k, pool, got, x, n, &Workspace{})
				for i := range got {
					if !sameBits(got[i], want[i]) {
						t.Fatalf("%s %s n=%d element %d: %v, avx2 %v", k.name, typ, n, i, got[i], want[i])
					}
				}
			}
		}
	}
}

func TestChooseKernels(t *testing.T) {
	avail := Implementations()
	if avail[0] != "go" {
		t.Fatalf("Implementations() = %v, want the Go fallback first", avail)
	}
	best := avail[len(avail)-1]
	has := func(name string) bool {
		for _, a := range avail {
			if a == name {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct{ env, want string }{
		{"", best},
		{"bogus", best},
		{"go", "go"},
		{"avx2", map[bool]string{true: "avx2", false: "go"}[has("avx2")]},
		{"avx512", map[bool]string{true: "avx512", false: best}[has("avx512")]},
	} {
		if got := chooseKernels(tc.env).name; got != tc.want {
			t.Errorf("%s=%q chose %q, want %q (available %v)", EnvImplementation, tc.env, got, tc.want, avail)
		}
	}
}

// Short slices make the assembly wrappers panic with an index error before
// any out-of-bounds read.
func TestRowKernelsCheckBounds(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for _, k := range append(kernelSets(), extraKernelSets()...) {
		for _, typ := range quantTypes {
			nb := 3
			rb := nb * typ.TypeSize()
			w := weightRow(rng, typ, nb, 0)
			w = append(w, weightRow(rng, typ, nb, 0)...)
			a := activationRow(rng, typ, nb, 0)
			mustPanic := func(what string, f func()) {
				t.Helper()
				defer func() {
					if recover() == nil {
						t.Errorf("%s %s: %s did not panic", k.name, typ, what)
					}
				}()
				f()
			}
			// (full slice expressions: the Go code may reslice up to cap)
			mustPanic("short weights", func() { singleDot(k, typ)(w[:rb-1:rb-1], a, nb) })
			mustPanic("short activations", func() { singleDot(k, typ)(w, a[:len(a)-1:len(a)-1], nb) })
			if rows := rowsDot(k, typ); rows != nil {
				mustPanic("short second row", func() { rows(w[:2*rb-1:2*rb-1], rb, a, nb, make([]float32, 2)) })
				mustPanic("overlapping rows", func() { rows(w, rb-1, a, nb, make([]float32, 2)) })
				got := make([]float32, 2)
				rows(w, rb, a, nb, got)
				if !sameBits(got[1], singleDot(k, typ)(w[rb:], a, nb)) {
					t.Errorf("%s %s: second row of the row kernel differs from the single-row dot", k.name, typ)
				}
			}
		}
	}
}

// The assembly dequantizers return exactly the Go code's floats (the
// runtime's prompt path multiplies dequantized tiles).
func TestDequantizeBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	for _, k := range kernelSets() {
		if k.dequant == nil {
			continue
		}
		for _, typ := range []Type{Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K, Q8_K, F16, F32} {
			for nb := 1; nb <= 9; nb++ {
				for style := 0; style < 4; style++ {
					n := nb * typ.BlockSize()
					var src []byte
					if typ == Q8_K {
						src = activationRow(rng, Q4_K, nb, style)
					} else if typ.BlockSize() == 1 {
						src = randomRow(rng, typ, n, false)
					} else {
						src = weightRow(rng, typ, nb, style)
					}
					want := make([]float32, n)
					if err := dequantizeRowGo(typ, want, src, n); err != nil {
						t.Fatal(err)
					}
					got := make([]float32, n+1)
					got[n] = 42 // must stay untouched
					if !k.dequant(typ, got[:n], src, n) {
						continue
					}
					for i := 0; i < n; i++ {
						if !sameBits(got[i], want[i]) {
							t.Fatalf("%s %s nb=%d style %d element %d: %v, Go %v", k.name, typ, nb, style, i, got[i], want[i])
						}
					}
					if got[n] != 42 {
						t.Fatalf("%s %s nb=%d: wrote past the row", k.name, typ, nb)
					}
				}
			}
		}
	}
}
