// Package fastmath has the float32 transcendental functions the training
// kernels need in their inner loops (exp, sigmoid), faster than math.Exp,
// and the one exact log-sum-exp of a row of logits the scorers share.
package fastmath

import "math"

// Exp is a float32 exp accurate to about 1 ulp on [-87, 88] (range reduction
// by ln 2 in two parts, degree-6 polynomial, exponent assembled from bits),
// several times faster than math.Exp. Outside that range it defers to math.Exp.
func Exp(x float32) float32 {
	if !(x > -87 && x < 88) {
		return float32(math.Exp(float64(x)))
	}
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693145751953125
		ln2lo = 1.428606765330187045e-06
		magic = 12582912.0 // 1.5·2^23: adding it rounds to an integer
	)
	r := x*log2e + magic
	n := int32(math.Float32bits(r)) - 0x4B400000
	fn := r - magic
	f := x - fn*ln2hi - fn*ln2lo
	p := 1 + f*(1+f*(0.5+f*(1.0/6+f*(1.0/24+f*(1.0/120+f*(1.0/720))))))
	return math.Float32frombits(uint32(int32(math.Float32bits(p)) + n<<23))
}

// Sigmoid is 1/(1+e^-x) built on expf.
func Sigmoid(x float32) float32 { return 1 / (1 + Exp(-x)) }
