package f16

import (
	"encoding/binary"
	"math"
	"math/rand"
	"os"
	"testing"

	"github.com/distill-ml/distill/internal/testpeers"
)

// halfValue computes the value of a finite half from its fields in float64,
// independently of Float32.
func halfValue(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	if exp == 0 {
		return sign * math.Ldexp(mant, -24)
	}
	return sign * math.Ldexp(1024+mant, exp-25)
}

func isHalfNaN(h uint16) bool { return h&0x7c00 == 0x7c00 && h&0x3ff != 0 }

func TestFloat32AllHalves(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := Float32(h)
		bits := math.Float32bits(f)
		switch {
		case isHalfNaN(h):
			want := uint32(h&0x8000)<<16 | 0x7fc00000 | uint32(h&0x3ff)<<13
			if bits != want {
				t.Fatalf("Float32(%#04x) = %#08x, want quiet NaN %#08x", h, bits, want)
			}
		case h&0x7fff == 0x7c00:
			if !math.IsInf(float64(f), 0) || math.Signbit(float64(f)) != (h&0x8000 != 0) {
				t.Fatalf("Float32(%#04x) = %v, want signed Inf", h, f)
			}
		default:
			if float64(f) != halfValue(h) || math.Signbit(float64(f)) != (h&0x8000 != 0) {
				t.Fatalf("Float32(%#04x) = %v, want %v", h, f, halfValue(h))
			}
		}
		// Round trip: exact for every non-NaN half; NaNs come back quieted.
		back := Float16(f)
		want := h
		if isHalfNaN(h) {
			want |= 0x0200
		}
		if back != want {
			t.Fatalf("Float16(Float32(%#04x)) = %#04x, want %#04x", h, back, want)
		}
	}
}

// nearestHalf is a brute-force reference for finite f: the half with the
// smallest distance (ties to the even mantissa), by comparing neighbours in
// float64. It does not share code with Float16.
func nearestHalf(f float32) uint16 {
	x := float64(f)
	var sign uint16
	if math.Signbit(x) {
		sign = 0x8000
		x = -x
	}
	const maxHalf = 65504.0
	if x >= 65520 { // halfway between maxHalf and 2^16 rounds to even = Inf
		return sign | 0x7c00
	}
	// Binary search for the largest non-negative half ≤ x.
	lo, hi := uint16(0), uint16(0x7bff)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if halfValue(mid) <= x {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if x > maxHalf {
		return sign | 0x7bff // below 65520: rounds down to max
	}
	below := lo
	if halfValue(below) == x {
		return sign | below
	}
	above := below + 1
	db, da := x-halfValue(below), halfValue(above)-x
	switch {
	case db < da:
		return sign | below
	case da < db:
		return sign | above
	case below&1 == 0:
		return sign | below
	default:
		return sign | above
	}
}

// edgeFloats returns floats around every half rounding boundary: for each
// float exponent, sign and top-10 mantissa pattern, low 13 bits at the
// boundary cases, plus random bits.
func edgeFloats(r *rand.Rand, stride int) []float32 {
	lows := []uint32{0, 1, 0x0fff, 0x1000, 0x1001, 0x1fff}
	var out []float32
	for exp := uint32(0); exp < 256; exp++ {
		for top := uint32(0); top < 1024; top += uint32(stride) {
			for _, sign := range []uint32{0, 1} {
				for _, low := range append(lows, r.Uint32()&0x1fff) {
					out = append(out, math.Float32frombits(sign<<31|exp<<23|top<<13|low))
				}
			}
		}
	}
	for i := 0; i < 100000; i++ {
		out = append(out, math.Float32frombits(r.Uint32()))
	}
	return out
}

func TestFloat16AgainstNearest(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, f := range edgeFloats(r, 7) {
		if f != f || math.IsInf(float64(f), 0) {
			continue
		}
		got, want := Float16(f), nearestHalf(f)
		if got != want {
			t.Fatalf("Float16(%g = %#08x) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
}

func TestFloat16Specials(t *testing.T) {
	cases := []struct {
		in   uint32
		want uint16
	}{
		{0x7f800000, 0x7c00}, {0xff800000, 0xfc00}, // ±Inf
		{0x7fc00000, 0x7e00}, {0xffc00000, 0xfe00}, // canonical quiet NaN
		{0x7f800001, 0x7e00}, // signalling NaN, payload below half's bits: quieted, still NaN
		{0x7fa00000, 0x7f00}, // signalling NaN with payload: quieted, payload kept
		{0x477ff000, 0x7c00}, // 65520: tie between 65504 and 2^16 → Inf
		{0x477fefff, 0x7bff}, // just below 65520
		{0x33000000, 0x0000}, // 2^-25: tie between 0 and the smallest subnormal → 0 (even)
		{0x33000001, 0x0001}, // just above 2^-25
		{0x33c00000, 0x0002}, // 1.5·2^-24: tie between 1 and 2 → 2 (even)
		{0x80000001, 0x8000}, // negative float subnormal → -0
		{0x387fe000, 0x0400}, // rounds up from the largest subnormal into the smallest normal
	}
	for _, c := range cases {
		if got := Float16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("Float16(%#08x) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
}

func TestSlicesMatchScalar(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	src := make([]float32, 300)
	for i := range src {
		src[i] = math.Float32frombits(r.Uint32())
	}
	for n := 0; n < 100; n++ {
		for off := 0; off < 3; off++ {
			s := src[off : off+n]
			h := make([]uint16, n+1)
			h[n] = 0xabcd
			FromFloat32(h, s)
			for i, f := range s {
				if h[i] != Float16(f) {
					t.Fatalf("n=%d off=%d: FromFloat32[%d] = %#04x, want %#04x", n, off, i, h[i], Float16(f))
				}
			}
			if h[n] != 0xabcd {
				t.Fatalf("FromFloat32 wrote past len(src)")
			}
			back := make([]float32, n)
			ToFloat32(back, h[:n])
			for i := range back {
				if math.Float32bits(back[i]) != math.Float32bits(Float32(h[i])) {
					t.Fatalf("n=%d: ToFloat32[%d] mismatch", n, i)
				}
			}
		}
	}
}

// TestF16CMatchesGeneric compares the assembly path with the portable one,
// bit for bit: all 65536 halves, and the edge floats (every float32 when
// DISTILL_F16_EXHAUSTIVE=1, ~10 s).
func TestF16CMatchesGeneric(t *testing.T) {
	if !hasF16C {
		t.Skip("CPU has no F16C; the portable path is the only one")
	}
	halves := make([]uint16, 1<<16)
	for i := range halves {
		halves[i] = uint16(i)
	}
	a, b := make([]float32, len(halves)), make([]float32, len(halves))
	toFloat32F16C(&a[0], &halves[0], len(halves))
	toFloat32Generic(b, halves)
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("half %#04x: F16C %#08x, generic %#08x", i, math.Float32bits(a[i]), math.Float32bits(b[i]))
		}
	}
	check := func(fs []float32) {
		fs = fs[:len(fs)&^7]
		x, y := make([]uint16, len(fs)), make([]uint16, len(fs))
		fromFloat32F16C(&x[0], &fs[0], len(fs))
		fromFloat32Generic(y, fs)
		for i := range x {
			if x[i] != y[i] {
				t.Fatalf("float %#08x: F16C %#04x, generic %#04x", math.Float32bits(fs[i]), x[i], y[i])
			}
		}
	}
	check(edgeFloats(rand.New(rand.NewSource(3)), 1))
	if os.Getenv("DISTILL_F16_EXHAUSTIVE") == "1" {
		buf := make([]float32, 1<<20)
		for base := uint64(0); base < 1<<32; base += uint64(len(buf)) {
			for i := range buf {
				buf[i] = math.Float32frombits(uint32(base) + uint32(i))
			}
			check(buf)
		}
	}
}

const numpyScript = `
import sys, numpy as np
data = sys.stdin.buffer.read()
n = int(sys.argv[1])
f = np.frombuffer(data[:4*n], dtype='<f4')
h = np.frombuffer(data[4*n:], dtype='<u2')
sys.stdout.buffer.write(f.astype(np.float16).view('<u2').tobytes())
sys.stdout.buffer.write(h.view(np.float16).astype(np.float32).view('<u4').tobytes())
`

// TestAgainstNumpy cross-checks both directions with numpy's float16.
// numpy keeps signalling NaNs signalling where F16C quiets them, so NaNs are
// compared as NaNs with the same sign and payload, quiet bit masked.
func TestAgainstNumpy(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with numpy: not in -short")
	}
	r := rand.New(rand.NewSource(4))
	fs := edgeFloats(r, 5)
	var in []byte
	for _, f := range fs {
		in = binary.LittleEndian.AppendUint32(in, math.Float32bits(f))
	}
	for i := 0; i < 1<<16; i++ {
		in = binary.LittleEndian.AppendUint16(in, uint16(i))
	}
	out := testpeers.RunPython(t, numpyScript, in, itoa(len(fs)))
	if len(out) != 2*len(fs)+4<<16 {
		t.Fatalf("numpy returned %d bytes, want %d", len(out), 2*len(fs)+4<<16)
	}
	hs := make([]uint16, len(fs))
	FromFloat32(hs, fs)
	for i, f := range fs {
		want := binary.LittleEndian.Uint16(out[2*i:])
		got := hs[i]
		if f != f {
			// numpy turns a NaN whose kept payload bits are all zero into
			// payload 1 instead of quieting it: then compare only sign.
			samePayload := got|0x0200 == want|0x0200
			if (math.Float32bits(f)>>13)&0x1ff == 0 {
				samePayload = got&0x8000 == want&0x8000
			}
			if !isHalfNaN(got) || !isHalfNaN(want) || !samePayload {
				t.Fatalf("NaN %#08x: got %#04x, numpy %#04x", math.Float32bits(f), got, want)
			}
			continue
		}
		if got != want {
			t.Fatalf("Float16(%g = %#08x) = %#04x, numpy %#04x", f, math.Float32bits(f), got, want)
		}
	}
	rest := out[2*len(fs):]
	halves := make([]uint16, 1<<16)
	for i := range halves {
		halves[i] = uint16(i)
	}
	got := make([]float32, 1<<16)
	ToFloat32(got, halves)
	for i := range halves {
		want := binary.LittleEndian.Uint32(rest[4*i:])
		g := math.Float32bits(got[i])
		if isHalfNaN(uint16(i)) {
			g, want = g|0x00400000, want|0x00400000
		}
		if g != want {
			t.Fatalf("Float32(%#04x) = %#08x, numpy %#08x", i, g, want)
		}
	}
}

func itoa(n int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

func BenchmarkFromFloat32(b *testing.B) {
	src := make([]float32, 4096)
	for i := range src {
		src[i] = float32(i) * 0.37
	}
	dst := make([]uint16, len(src))
	b.SetBytes(int64(4 * len(src)))
	for b.Loop() {
		FromFloat32(dst, src)
	}
}

func BenchmarkToFloat32(b *testing.B) {
	src := make([]uint16, 4096)
	for i := range src {
		src[i] = uint16(i * 7)
	}
	dst := make([]float32, len(src))
	b.SetBytes(int64(2 * len(src)))
	for b.Loop() {
		ToFloat32(dst, src)
	}
}

// FuzzF16CMatchesGeneric compares the F16C and portable conversions on
// fuzzed bit patterns (8 lanes each way).
func FuzzF16CMatchesGeneric(f *testing.F) {
	f.Add(uint32(0x7f800001), uint32(0x33000000), uint16(0x7c01), uint16(0x0001))
	f.Fuzz(func(t *testing.T, x, y uint32, h1, h2 uint16) {
		fs := []float32{math.Float32frombits(x), math.Float32frombits(y), math.Float32frombits(x ^ y),
			math.Float32frombits(x + 1), math.Float32frombits(y - 1), math.Float32frombits(x | 0x7f800000),
			math.Float32frombits(y &^ 0x7f800000), math.Float32frombits(x>>3 | 0x38000000)}
		hs := []uint16{h1, h2, h1 ^ h2, h1 + 1, h2 - 1, h1 | 0x7c00, h2 &^ 0x7c00, h1 >> 1}
		got := make([]uint16, 8)
		FromFloat32(got, fs)
		for i, v := range fs {
			if got[i] != Float16(v) {
				t.Fatalf("FromFloat32(%#08x) = %#04x, Float16 %#04x", math.Float32bits(v), got[i], Float16(v))
			}
		}
		back := make([]float32, 8)
		ToFloat32(back, hs)
		for i, h := range hs {
			if math.Float32bits(back[i]) != math.Float32bits(Float32(h)) {
				t.Fatalf("ToFloat32(%#04x) = %#08x, Float32 %#08x", h, math.Float32bits(back[i]), math.Float32bits(Float32(h)))
			}
		}
	})
}
