package kernels

import (
	"strings"
	"testing"
)

// BenchmarkMicroKernel times each micro-kernel alone on cache-resident
// packed panels (depth 256): the ceiling the blocked GEMM can approach.
func BenchmarkMicroKernel(b *testing.B) {
	for _, mk := range availableKernels() {
		b.Run(strings.ReplaceAll(mk.name, " ", "_"), func(b *testing.B) {
			const kc = 256
			a := make([]float32, kc*mk.mr)
			bb := make([]float32, kc*mk.nr)
			c := make([]float32, mk.mr*mk.nr)
			for b.Loop() {
				mk.fn(kc, &a[0], &bb[0], &c[0], mk.nr, 1, 1)
			}
			b.ReportMetric(2*float64(kc*mk.mr*mk.nr)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
