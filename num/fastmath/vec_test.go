package fastmath

import (
	"math"
	"math/rand"
	"testing"
)

func vecInputs() []float32 {
	rng := rand.New(rand.NewSource(1))
	x := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 88, 89, -87, -88, -103, -104, -105, -1000, 1000,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-30, -1e-30}
	for len(x) < 16*40+7 {
		x = append(x, float32(rng.NormFloat64()*30))
	}
	return x
}

// forEachPath runs check on the AVX-512 path (when the CPU has it, asm
// true) and on the Go fallback; the CPU's path is restored after.
func forEachPath(check func(asm bool)) {
	has := useAVX512
	defer func() { useAVX512 = has }()
	for _, asm := range []bool{true, false} {
		if asm && !has {
			continue
		}
		useAVX512 = asm
		check(asm)
	}
}

// TestExpSumMatchesMath checks both paths (assembly when the CPU has it, and
// the Go fallback) element by element against math.Exp, and the sum.
func TestExpSumMatchesMath(t *testing.T) {
	x := vecInputs()
	forEachPath(func(asm bool) {
		for _, ms := range [][2]float32{{0, 1}, {3, 0.5}, {-2, 1.7}} {
			dst := make([]float32, len(x))
			sum := ExpSum(dst, x, ms[0], ms[1])
			var want float64
			for i, v := range x {
				arg := (v - ms[0]) * ms[1]
				w := math.Exp(float64(arg))
				if float32(w) == 0 || math.IsInf(w, 1) && float64(float32(w)) > math.MaxFloat32 {
					w = float64(float32(w))
				}
				got := float64(dst[i])
				switch {
				case math.IsNaN(float64(arg)):
					if !math.IsNaN(got) {
						t.Fatalf("asm %v: exp(NaN) = %g", asm, got)
					}
					continue
				case w > math.MaxFloat32:
					if !math.IsInf(got, 1) {
						t.Fatalf("asm %v: exp(%g) = %g, want +Inf", asm, arg, got)
					}
				case w < 1e-37:
					if got > 1e-37 {
						t.Fatalf("asm %v: exp(%g) = %g, want ~0", asm, arg, got)
					}
				default:
					if math.Abs(got-w) > 4e-7*w {
						t.Fatalf("asm %v: exp(%g) = %g, want %g", asm, arg, got, w)
					}
				}
				if !math.IsInf(w, 0) && w <= math.MaxFloat32 {
					want += float64(got)
				}
			}
			if !math.IsNaN(sum) && !math.IsInf(sum, 0) {
				t.Fatalf("asm %v: sum %g should be NaN or Inf (NaN and Inf inputs)", asm, sum)
			}
			clean := x[18:]
			sum = ExpSum(dst[18:], clean, ms[0], ms[1])
			want = 0
			for _, v := range dst[18:] {
				want += float64(v)
			}
			if math.Abs(sum-want) > 1e-9*math.Abs(want) {
				t.Fatalf("asm %v: sum %g, element sum %g", asm, sum, want)
			}
		}
	})
}

func TestSigmoidSliceMatchesMath(t *testing.T) {
	x := vecInputs()
	forEachPath(func(asm bool) {
		dst := make([]float32, len(x))
		SigmoidSlice(dst, x)
		for i, v := range x {
			w := 1 / (1 + math.Exp(-float64(v)))
			got := float64(dst[i])
			if math.IsNaN(float64(v)) {
				if !math.IsNaN(got) {
					t.Fatalf("asm %v: sigmoid(NaN) = %g", asm, got)
				}
				continue
			}
			if math.Abs(got-w) > 6e-7*w+1e-38 {
				t.Fatalf("asm %v: sigmoid(%g) = %g, want %g", asm, v, got, w)
			}
		}
	})
}

func BenchmarkExpSum(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i%97) * -0.1
	}
	dst := make([]float32, len(x))
	for _, asm := range []bool{true, false} {
		name := "go"
		if asm {
			name = "avx512"
			if !useAVX512 {
				continue
			}
		}
		b.Run(name, func(b *testing.B) {
			saved := useAVX512
			useAVX512 = asm
			defer func() { useAVX512 = saved }()
			b.SetBytes(4 * int64(len(x)))
			for i := 0; i < b.N; i++ {
				ExpSum(dst, x, 0, 1)
			}
		})
	}
}

// TestVecInputsHaveNegativeZero: the inputs hold -0 as well as +0 (a Go
// literal -0.0 is +0).
func TestVecInputsHaveNegativeZero(t *testing.T) {
	x := vecInputs()
	if math.Signbit(float64(x[0])) || !math.Signbit(float64(x[1])) {
		t.Fatalf("vecInputs starts %v, %v (sign bits %v, %v); want +0, -0", x[0], x[1], math.Signbit(float64(x[0])), math.Signbit(float64(x[1])))
	}
}
