package fastmath

import (
	"math"
	"testing"
)

func TestExpMatchesMathExp(t *testing.T) {
	for x := -100.0; x <= 100; x += 0.0137 {
		got := float64(Exp(float32(x)))
		want := math.Exp(float64(float32(x)))
		if want > math.MaxFloat32 {
			if !math.IsInf(got, 1) {
				t.Fatalf("Exp(%g) = %g, want +Inf", x, got)
			}
			continue
		}
		if d := math.Abs(got - want); d > 4e-7*want && d > 1e-40 {
			t.Fatalf("Exp(%g) = %g, want %g (rel err %g)", x, got, want, d/want)
		}
	}
	if v := Exp(float32(math.NaN())); !math.IsNaN(float64(v)) {
		t.Fatalf("Exp(NaN) = %g", v)
	}
	if v := Exp(float32(math.Inf(-1))); v != 0 {
		t.Fatalf("Exp(-Inf) = %g", v)
	}
}
