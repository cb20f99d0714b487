package quant

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkQuantize reports quantization throughput in MB/s of float32 input
// (a 4096×256 matrix of Gaussian weights), single-threaded and on the shared pool.
func BenchmarkQuantize(b *testing.B) {
	const n = 4096 * 256
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 0.02)
	}
	for _, typ := range []Type{F16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K} {
		rs, _ := typ.RowSize(n)
		dst := make([]byte, rs)
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(4 * n)
			for i := 0; i < b.N; i++ {
				Quantize(typ, dst, x)
			}
		})
		b.Run(typ.String()+"/parallel", func(b *testing.B) {
			b.SetBytes(4 * n)
			for i := 0; i < b.N; i++ {
				QuantizeParallel(typ, dst, x)
			}
		})
	}
}
