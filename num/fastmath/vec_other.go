//go:build !amd64

package fastmath

var useAVX512 = false

func expSumAVX512(dst, src []float32, m, s float32, acc *[8]float64) { panic("unreachable") }
func sigmoidAVX512(dst, src []float32)                               { panic("unreachable") }
