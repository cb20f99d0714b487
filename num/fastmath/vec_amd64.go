package fastmath

import "golang.org/x/sys/cpu"

// useAVX512 selects the assembly paths; tests flip it to cover the fallback.
var useAVX512 = cpu.X86.HasAVX512F

//go:noescape
func expSumAVX512(dst, src []float32, m, s float32, acc *[8]float64)

//go:noescape
func sigmoidAVX512(dst, src []float32)
