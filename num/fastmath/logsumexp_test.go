package fastmath

import (
	"math"
	"testing"
)

// LogSumExp against the definition in float64, on rows whose naive sum
// would overflow float32 and float64 alike without the shift by the maximum.
func TestLogSumExpMatchesDefinition(t *testing.T) {
	for _, row := range [][]float32{
		{0},
		{1, 2, 3},
		{-5, 0.25, 7.5, 7.5, -1e3},
		{800, 799, 790},
	} {
		top := math.Inf(-1)
		for _, v := range row {
			top = math.Max(top, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - top)
		}
		want := top + math.Log(s)
		if got := LogSumExp(row); math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
			t.Errorf("LogSumExp(%v) = %.17g, want %.17g", row, got, want)
		}
	}
	if got := LogSumExp(nil); !math.IsInf(got, -1) {
		t.Errorf("LogSumExp(nil) = %g, want -Inf", got)
	}
}
