package quant

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// TestCheckFiniteFindsNaNInEveryType plants a NaN (or Inf) element or block
// scale by hand in each supported type and checks the error names where it is;
// the untouched data passes.
func TestCheckFiniteFindsNaNInEveryType(t *testing.T) {
	const nanF16, infF16 = 0x7e00, 0x7c00
	cases := []struct {
		t      Type
		n      int // elements
		poke   func(b []byte)
		want   string
		scaleB int // byte offset of a scale to set to a finite value first (quantized types)
	}{
		{F32, 8, func(b []byte) { binary.LittleEndian.PutUint32(b[4*5:], math.Float32bits(float32(math.NaN()))) }, "element 5 is NaN", -1},
		{F32, 8, func(b []byte) { binary.LittleEndian.PutUint32(b[4*7:], math.Float32bits(float32(math.Inf(-1)))) }, "element 7 is -Inf", -1},
		{F16, 8, func(b []byte) { binary.LittleEndian.PutUint16(b[2*3:], infF16) }, "element 3 is +Inf", -1},
		{Q8_0, 64, func(b []byte) { binary.LittleEndian.PutUint16(b[34:], nanF16) }, "block 1 (elements 32..63): scale d is NaN", -1},
		{Q4_0, 64, func(b []byte) { binary.LittleEndian.PutUint16(b[18:], nanF16) }, "block 1 (elements 32..63): scale d", -1},
		{Q5_0, 32, func(b []byte) { binary.LittleEndian.PutUint16(b[0:], infF16) }, "block 0 (elements 0..31): scale d is +Inf", -1},
		{Q5_1, 32, func(b []byte) { binary.LittleEndian.PutUint16(b[2:], nanF16) }, "scale m is NaN", -1},
		{Q4_K, 512, func(b []byte) { binary.LittleEndian.PutUint16(b[144+2:], nanF16) }, "block 1 (elements 256..511): scale dmin is NaN", -1},
		{Q5_K, 256, func(b []byte) { binary.LittleEndian.PutUint16(b[0:], nanF16) }, "scale d is NaN", -1},
		{Q6_K, 256, func(b []byte) { binary.LittleEndian.PutUint16(b[208:], nanF16) }, "block 0 (elements 0..255): scale d is NaN", -1},
		{Q4_1, 64, func(b []byte) { binary.LittleEndian.PutUint16(b[20+2:], infF16) }, "block 1 (elements 32..63): scale m is +Inf", -1},
		{IQ4_NL, 64, func(b []byte) { binary.LittleEndian.PutUint16(b[18:], nanF16) }, "block 1 (elements 32..63): scale d is NaN", -1},
		{IQ4_XS, 512, func(b []byte) { binary.LittleEndian.PutUint16(b[136:], nanF16) }, "block 1 (elements 256..511): scale d is NaN", -1},
	}
	for _, c := range cases {
		size, err := c.t.RowSize(c.n)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, size)
		// Fill the quantized codes with every bit pattern: codes never make a value non-finite.
		if c.t != F32 && c.t != F16 {
			for i := range b {
				b[i] = byte(i * 37)
			}
			for off := 0; off < len(b); off += c.t.TypeSize() {
				for _, f := range scaleFields[c.t] {
					binary.LittleEndian.PutUint16(b[off+f.off:], 0x3c00) // 1.0
				}
			}
		}
		if err := CheckFinite(c.t, b, 0); err != nil {
			t.Errorf("%s: finite data refused: %v", c.t, err)
		}
		c.poke(b)
		err = CheckFinite(c.t, b, 0)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.t, err, c.want)
		}
	}
	if err := CheckFinite(Q8_0, make([]byte, 33), 0); err == nil {
		t.Error("a partial Q8_0 block passed")
	}
}
