package qdot

import (
	"encoding/binary"
	"math"
	"math/rand"
	"testing"

	"github.com/distill-ml/distill/num/f16"
)

// quantizeQ8_0Ref and quantizeQ8_KRef are the straightforward float64
// formulations (math.Abs, math.RoundToEven) of the two activation
// quantizers; the fast ones must produce the same bytes.
func quantizeQ8_0Ref(dst []byte, x []float32) {
	for i := 0; i < len(x)/QK; i++ {
		xb := x[i*QK : i*QK+QK]
		b := dst[i*BytesQ8_0 : i*BytesQ8_0+BytesQ8_0]
		var amax float32
		for _, v := range xb {
			if a := float32(math.Abs(float64(v))); a > amax {
				amax = a
			}
		}
		d := amax / 127
		var id float32
		if amax != 0 {
			id = 127 / amax
		}
		binary.LittleEndian.PutUint16(b, f16.Float16(d))
		for j, v := range xb {
			b[2+j] = byte(int8(math.RoundToEven(float64(v * id))))
		}
	}
}

func quantizeQ8_KRef(dst []byte, x []float32) {
	for i := 0; i < len(x)/QKK; i++ {
		xb := x[i*QKK : i*QKK+QKK]
		b := dst[i*BytesQ8_K : i*BytesQ8_K+BytesQ8_K]
		var amax, max float32
		for _, v := range xb {
			if a := float32(math.Abs(float64(v))); a > amax {
				amax, max = a, v
			}
		}
		if amax == 0 {
			clear(b)
			continue
		}
		iscale := -127 / max
		for j, v := range xb {
			q := math.RoundToEven(float64(iscale * v))
			if q > 127 {
				q = 127
			}
			b[4+j] = byte(int8(q))
		}
		for g := 0; g < QKK/16; g++ {
			var s int16
			for _, q := range b[4+16*g : 4+16*g+16] {
				s += int16(int8(q))
			}
			binary.LittleEndian.PutUint16(b[4+QKK+2*g:], uint16(s))
		}
		binary.LittleEndian.PutUint32(b, math.Float32bits(1/iscale))
	}
}

func TestQuantizersMatchFloat64Reference(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	for trial := 0; trial < 400; trial++ {
		x := make([]float32, 2*QKK)
		scale := math.Pow(10, float64(rng.Intn(16)-8))
		for i := range x {
			x[i] = float32(rng.NormFloat64() * scale)
			switch rng.Intn(40) {
			case 0:
				x[i] = 0
			case 1: // exact half-way codes after scaling
				x[i] = float32(rng.Intn(255)-127) + 0.5
			case 2:
				x[i] = float32(math.Copysign(0, -1))
			case 3:
				x[i] = float32(rng.Intn(255) - 127)
			}
		}
		if trial%7 == 0 {
			for i := 0; i < QK; i++ { // a block of ties: ±k.5 with amax 127
				x[i] = float32(i-16) + 0.5
			}
			x[5] = 127
		}
		if trial%11 == 0 {
			x[rng.Intn(len(x))] = float32(math.Inf(1 - 2*rng.Intn(2)))
		}
		if trial%13 == 0 {
			x[rng.Intn(len(x))] = float32(math.NaN())
		}
		if trial%17 == 0 { // a block of NaNs, and a block of zeros with one NaN
			for i := 0; i < QK; i++ {
				x[QK+i] = float32(math.NaN())
				x[2*QK+i] = 0
			}
			x[2*QK+3] = float32(math.NaN())
		}
		want := make([]byte, len(x)/QK*BytesQ8_0)
		quantizeQ8_0Ref(want, x)
		quantizers := map[string]func([]byte, []float32){"Go": quantizeQ8_0Go, "QuantizeQ8_0": QuantizeQ8_0}
		for _, k := range kernelSets() {
			if k.quantizeQ8_0 != nil {
				quantizers[k.name] = k.quantizeQ8_0
			}
		}
		for name, q := range quantizers {
			got := make([]byte, len(want))
			q(got, x)
			if string(got) != string(want) {
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("trial %d: %s quantizer differs from the float64 reference at byte %d (block %d): %#x, want %#x",
							trial, name, i, i/BytesQ8_0, got[i], want[i])
					}
				}
			}
		}
		want = make([]byte, len(x)/QKK*BytesQ8_K)
		quantizeQ8_KRef(want, x)
		quantizersK := map[string]func([]byte, []float32){"Go": quantizeQ8_KGo, "QuantizeQ8_K": QuantizeQ8_K}
		for _, k := range kernelSets() {
			if k.quantizeQ8_K != nil {
				quantizersK[k.name] = k.quantizeQ8_K
			}
		}
		for name, q := range quantizersK {
			got := make([]byte, len(want))
			q(got, x)
			if string(got) != string(want) {
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("trial %d: %s Q8_K quantizer differs from the float64 reference at byte %d (block %d): %#x, want %#x",
							trial, name, i, i/BytesQ8_K, got[i], want[i])
					}
				}
			}
		}
	}
}

func BenchmarkQuantizeActivations(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	x := make([]float32, 1536)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for _, typ := range []Type{Q8_0, Q8_K} {
		buf := QuantizeActivations(map[Type]Type{Q8_0: Q8_0, Q8_K: Q4_K}[typ], x, nil)
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * len(x)))
			for i := 0; i < b.N; i++ {
				QuantizeActivations(map[Type]Type{Q8_0: Q8_0, Q8_K: Q4_K}[typ], x, buf)
			}
		})
	}
}

// The assembly Q8_K quantizers give the Go code's bytes on the blocks the
// float64 reference leaves aside: a largest magnitude so small that
// iscale = −127/max overflows to ∓Inf (codes clamp to 127 or become 0),
// infinities, NaNs, signed zeros, and ties for the first largest value.
func TestQuantizeQ8_KKernelsMatchGoOnExtremes(t *testing.T) {
	rng := rand.New(rand.NewSource(19))
	for trial := 0; trial < 200; trial++ {
		x := make([]float32, 3*QKK)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		tiny := x[QKK : 2*QKK]
		for i := range tiny {
			tiny[i] = float32(rng.NormFloat64() * 1e-39) // subnormal: iscale = ∓Inf
		}
		switch trial % 5 {
		case 0:
			x[rng.Intn(len(x))] = float32(math.Inf(1 - 2*rng.Intn(2)))
		case 1:
			x[rng.Intn(len(x))] = float32(math.NaN())
		case 2:
			for i := 2 * QKK; i < 3*QKK; i++ {
				x[i] = float32(math.Copysign(0, float64(rng.Intn(2)*2-1)))
			}
		case 3: // the largest magnitude twice, with both signs
			j, k := rng.Intn(QKK), rng.Intn(QKK)
			x[j], x[k] = 1e3, -1e3
		}
		want := make([]byte, len(x)/QKK*BytesQ8_K)
		quantizeQ8_KGo(want, x)
		for _, k := range kernelSets() {
			if k.quantizeQ8_K == nil {
				continue
			}
			got := make([]byte, len(want))
			k.quantizeQ8_K(got, x)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("trial %d: %s Q8_K quantizer byte %d (block %d) = %#x, Go %#x", trial, k.name, i, i/BytesQ8_K, got[i], want[i])
				}
			}
		}
	}
}
