package kernels

import (
	"math/rand"
	"testing"

	"github.com/distill-ml/distill/num/parallel"
)

// FuzzSgemm checks every micro-kernel against the float64 reference on
// fuzzed small shapes, transposes, paddings, alpha/beta and operand seeds.
func FuzzSgemm(f *testing.F) {
	f.Add(uint8(7), uint8(9), uint8(5), uint8(0), uint8(0), int64(1), float32(1), float32(0))
	f.Add(uint8(13), uint8(33), uint8(40), uint8(3), uint8(2), int64(2), float32(-0.5), float32(0.25))
	f.Add(uint8(1), uint8(64), uint8(1), uint8(1), uint8(1), int64(3), float32(2), float32(1))
	pool := parallel.New(2)
	f.Fuzz(func(t *testing.T, m8, n8, k8, flags, pad8 uint8, seed int64, alpha, beta float32) {
		m, n, k := int(m8%70), int(n8%70), int(k8%70)
		if alpha != alpha || beta != beta || alpha > 1e6 || alpha < -1e6 || beta > 1e6 || beta < -1e6 {
			return // NaN/huge scalars make the tolerance meaningless
		}
		g := newCase(rand.New(rand.NewSource(seed)), flags&1 != 0, flags&2 != 0, m, n, k, int(pad8%4), alpha, beta)
		want, tol := g.reference()
		for _, kern := range availableKernels() {
			compare(t, kern.name+" "+g.String(), g.run(&Engine{pool: pool, kern: kern}), want, tol)
		}
	})
}
