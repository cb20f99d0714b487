//go:build arm64

package qdot

import (
	"encoding/binary"
	"math"
	"math/rand"
	"testing"

	"github.com/distill-ml/distill/num/f16"
	"github.com/distill-ml/distill/num/parallel"
)

// The NEON kernels return exactly the portable Go kernels' bits (as gc
// compiles them for arm64). arm64_qemu_test.go runs these on amd64 hosts
// under qemu-aarch64-static.

func TestNEONQuantDotsBitIdenticalToGo(t *testing.T) {
	rng := rand.New(rand.NewSource(15))
	for _, typ := range quantTypes {
		got, want := singleDot(&neonKernels, typ), singleDot(&genericKernels, typ)
		for nb := 1; nb <= 17; nb++ {
			for wStyle := 0; wStyle < 4; wStyle++ {
				for aStyle := 0; aStyle < 5; aStyle++ {
					w := weightRow(rng, typ, nb, wStyle)
					var a []byte
					if aStyle < 4 {
						a = activationRow(rng, typ, nb, aStyle)
					} else { // −128 codes: outside the quantizer's range, still exact here
						a = activationRow(rng, typ, nb, 3)
						for i := 0; i < len(a) && VecDotType(typ) == Q8_0; i += BytesQ8_0 {
							for j := 2; j < BytesQ8_0; j += 1 + rng.Intn(3) {
								a[i+j] = 0x80
							}
						}
					}
					g, w0 := got(w, a, nb), want(w, a, nb)
					if !sameBits(g, w0) {
						t.Fatalf("%s nb=%d weights %d activations %d: neon %v (%#08x), go %v (%#08x)",
							typ, nb, wStyle, aStyle, g, math.Float32bits(g), w0, math.Float32bits(w0))
					}
				}
			}
		}
	}
}

// floatOperand is a random float32 from the awkward corners: normal values
// of mixed magnitude, zeros of both signs, subnormals, values whose products
// overflow, and exact cancellations (a value and then its negation).
func floatOperand(rng *rand.Rand, prev float32) float32 {
	switch rng.Intn(10) {
	case 0:
		return 0
	case 1:
		return float32(math.Copysign(0, -1))
	case 2:
		return math.Float32frombits(uint32(rng.Intn(1 << 23))) // subnormal
	case 3:
		return float32(rng.NormFloat64()) * 1e30
	case 4:
		return -prev
	case 5:
		return float32(rng.NormFloat64()) * 1e-20
	}
	return float32(rng.NormFloat64())
}

func TestNEONFloatDotsBitIdenticalToGo(t *testing.T) {
	rng := rand.New(rand.NewSource(16))
	lengths := []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 255, 257, 576, 688, 1000}
	for _, n := range lengths {
		for trial := 0; trial < 40; trial++ {
			adversarial := trial%2 == 1
			x := make([]float32, n)
			w32 := make([]byte, 4*n+4) // one spare element: the kernels must read only n
			w16 := make([]byte, 2*n+2)
			var px, pw float32
			for i := range x {
				if adversarial {
					x[i], px = floatOperand(rng, px), x[i]
					wv := floatOperand(rng, pw)
					pw = wv
					binary.LittleEndian.PutUint32(w32[4*i:], math.Float32bits(wv))
					h := uint16(rng.Intn(1 << 16)) // every half: subnormals, ±Inf, NaN
					binary.LittleEndian.PutUint16(w16[2*i:], h)
				} else {
					x[i] = float32(rng.NormFloat64())
					binary.LittleEndian.PutUint32(w32[4*i:], math.Float32bits(float32(rng.NormFloat64())))
					binary.LittleEndian.PutUint16(w16[2*i:], f16.Float16(float32(rng.NormFloat64())))
				}
			}
			binary.LittleEndian.PutUint32(w32[4*n:], math.Float32bits(float32(math.NaN())))
			binary.LittleEndian.PutUint16(w16[2*n:], 0x7e00)
			if g, w := neonKernels.f32(w32, x), genericKernels.f32(w32, x); !sameBits(g, w) {
				t.Fatalf("F32 n=%d trial %d: neon %v (%#08x), go %v (%#08x)", n, trial, g, math.Float32bits(g), w, math.Float32bits(w))
			}
			if g, w := neonKernels.f16(w16, x), genericKernels.f16(w16, x); !sameBits(g, w) {
				t.Fatalf("F16 n=%d trial %d: neon %v (%#08x), go %v (%#08x)", n, trial, g, math.Float32bits(g), w, math.Float32bits(w))
			}
		}
	}
}

func TestNEONIsChosenByDefault(t *testing.T) {
	if got := Implementation(); got != "neon" {
		t.Fatalf("Implementation() = %q on arm64, want neon", got)
	}
	for env, want := range map[string]string{"go": "go", "neon": "neon", "avx2": "go", "avx512": "neon"} {
		if got := chooseKernels(env).name; got != want {
			t.Errorf("%s=%s chose %q, want %q", EnvImplementation, env, got, want)
		}
	}
}

// Whole products, F16/F32 included, split over a pool: neon's MulBatch
// equals the Go kernels' bit for bit.
func TestNEONMulBatchBitIdenticalToGo(t *testing.T) {
	rng := rand.New(rand.NewSource(17))
	pool := parallel.New(3)
	for _, typ := range weightTypes {
		for _, n := range []int{1, 3} {
			rows, cols := 37, 3*QKK
			if typ.BlockSize() == QK {
				cols = 17 * QK
			}
			if typ == F16 || typ == F32 {
				cols = 17*QK + 3 // a tail after the groups of four
			}
			m, _ := randomMatrixEvery(t, rng, typ, rows, cols, 3)
			x := randomX(rng, n*cols)
			want, got := make([]float32, n*rows), make([]float32, n*rows)
			m.mulBatch(&genericKernels, pool, want, x, n, &Workspace{})
			m.mulBatch(&neonKernels, pool, got, x, n, &Workspace{})
			for i := range got {
				if !sameBits(got[i], want[i]) {
					t.Fatalf("%s n=%d element %d: neon %v, go %v", typ, n, i, got[i], want[i])
				}
			}
		}
	}
}
