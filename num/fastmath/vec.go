package fastmath

// ExpSum sets dst[i] = exp((src[i] − m)·s) for every i and returns the sum of
// the results in float64. dst and src must have the same length and may be
// the same slice. With AVX-512 sixteen lanes are computed at once (same
// range reduction and polynomial as Exp); other CPUs use Exp.
func ExpSum(dst, src []float32, m, s float32) float64 {
	dst = dst[:len(src)]
	n := 0
	var sum float64
	if useAVX512 && len(src) >= 16 {
		n = len(src) &^ 15
		var acc [8]float64
		expSumAVX512(dst[:n], src[:n], m, s, &acc)
		sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
	}
	return sum + expSumGo(dst[n:], src[n:], m, s)
}

func expSumGo(dst, src []float32, m, s float32) float64 {
	var a0, a1 float64
	i := 0
	for ; i+1 < len(src); i += 2 {
		e0, e1 := Exp((src[i]-m)*s), Exp((src[i+1]-m)*s)
		dst[i], dst[i+1] = e0, e1
		a0 += float64(e0)
		a1 += float64(e1)
	}
	for ; i < len(src); i++ {
		e := Exp((src[i] - m) * s)
		dst[i] = e
		a0 += float64(e)
	}
	return a0 + a1
}

// SigmoidSlice sets dst[i] = 1/(1+exp(−src[i])); dst may alias src.
func SigmoidSlice(dst, src []float32) {
	dst = dst[:len(src)]
	n := 0
	if useAVX512 && len(src) >= 16 {
		n = len(src) &^ 15
		sigmoidAVX512(dst[:n], src[:n])
	}
	for i := n; i < len(src); i++ {
		dst[i] = Sigmoid(src[i])
	}
}
