package fastmath

import (
	"math"
	"testing"
)

// LogSumExp against closed forms, on rows whose naive sum would overflow
// float32 and float64 alike without the shift by the maximum.
func TestLogSumExpMatchesClosedForm(t *testing.T) {
	for _, c := range []struct {
		row  []float32
		want float64
	}{
		{[]float32{0}, 0},
		{[]float32{1, 2, 3}, 3 + math.Log(1+math.Exp(-1)+math.Exp(-2))},
		{[]float32{-5, 0.25, 7.5, 7.5, -1e3}, 7.5 + math.Log(2+math.Exp(-7.25)+math.Exp(-12.5))},
		{[]float32{800, 799, 790}, 800 + math.Log(1+math.Exp(-1)+math.Exp(-10))},
		{nil, math.Inf(-1)},
	} {
		got := LogSumExp(c.row)
		if math.IsInf(c.want, -1) {
			if !math.IsInf(got, -1) {
				t.Errorf("LogSumExp(%v) = %g, want -Inf", c.row, got)
			}
			continue
		}
		if math.Abs(got-c.want) > 1e-12*math.Max(1, math.Abs(c.want)) {
			t.Errorf("LogSumExp(%v) = %.17g, want %.17g", c.row, got, c.want)
		}
	}
}
