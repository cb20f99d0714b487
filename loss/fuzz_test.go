package loss

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzRow feeds arbitrary finite logits and teacher signals to Row: it must
// not panic, and with finite inputs CE and every KL kind are finite and
// non-negative (up to rounding), and the gradient is finite.
func FuzzRow(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, uint8(3), uint8(1), float32(0.2), uint8(0))
	f.Add(make([]byte, 64), uint8(0), uint8(7), float32(0), uint8(2))
	f.Fuzz(func(t *testing.T, raw []byte, target, k uint8, tail float32, kind uint8) {
		V := len(raw) / 4
		if V < 2 || V > 512 {
			return
		}
		z := make([]float32, V)
		for i := range z {
			v := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.Abs(float64(v)) > 1e4 {
				v = float32(i % 7)
			}
			z[i] = v
		}
		K := int(k)%V + 1
		teacher := &RowTeacher{Tail: float32(math.Min(math.Max(float64(tail), 0), 1)), HasTailT: true}
		if math.IsNaN(float64(tail)) {
			teacher.Tail = 0
		}
		// Any tempered tail in [0, 1] is a distribution Row must handle.
		teacher.TailT = float32(math.Sqrt(float64(teacher.Tail)))
		rest := 1 - float64(teacher.Tail)
		for i := 0; i < K; i++ {
			teacher.IDs = append(teacher.IDs, int32((i*7+int(target))%V))
			teacher.Logprobs = append(teacher.Logprobs, float32(math.Log(math.Max(rest/float64(K), 1e-30))))
		}
		c := Config{Alpha: 0.5, Temperature: []float64{1, 2, 0.5}[kind%3], KL: []string{KLForward, KLReverse, KLJSD}[kind%3], JSDBeta: 0.5}
		var sc Scratch
		r := c.Row(z, int32(int(target)%V), teacher, 0.5, 0.5, true, &sc)
		if math.IsNaN(r.CE) || r.CE < -1e-4 || math.IsInf(r.CE, 0) {
			t.Fatalf("CE %g", r.CE)
		}
		if math.IsNaN(r.KL) || r.KL < -1e-3 {
			t.Fatalf("%s KL %g", c.KL, r.KL)
		}
		if c.KL != KLForward && math.IsInf(r.KL, 0) {
			t.Fatalf("%s KL %g", c.KL, r.KL)
		}
		if !math.IsInf(r.KL, 0) {
			for j, g := range z {
				if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
					t.Fatalf("gradient[%d] = %g", j, g)
				}
			}
		}
	})
}
