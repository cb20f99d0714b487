package fastmath

import "math"

// LogSumExp is log Σ exp(x[i]) of a row of logits: the maximum m and each
// x[i] − m in float32, exp, sum and log in float64 (math.Exp, exact to the
// last bit the way the server, engine and on-policy scorers have always
// computed it); -Inf for an empty row.
func LogSumExp(x []float32) float64 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v - m))
	}
	return float64(m) + math.Log(s)
}
