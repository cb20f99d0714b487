package qdot

import (
	"math/rand"
	"testing"

	"github.com/distill-ml/distill/model/kernels/parallel"
)

// BenchmarkMatVec streams a weight matrix of ~64 MiB per type (far larger
// than cache) through MulVec on the shared pool; MB/s is weight bytes read.
// Compare with BenchmarkMemoryRead from the same run:
//
//	go test ./model/kernels/qdot -run '^$' -bench 'MatVec|MemoryRead' -cpu 2
func BenchmarkMatVec(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	const cols = 1536
	for _, typ := range weightTypes {
		rb, _ := RowBytes(typ, cols)
		rows := (64 << 20) / rb
		data := make([]byte, rows*rb)
		for off := 0; off < len(data); off += 1 << 20 {
			row := randomRow(rng, typ, cols, false)
			for p := off; p < off+(1<<20) && p < len(data); p += rb {
				copy(data[p:], row)
			}
		}
		m, err := NewMatrix(typ, rows, cols, data)
		if err != nil {
			b.Fatal(err)
		}
		x := make([]float32, cols)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		dst := make([]float32, rows)
		pool := parallel.Default()
		ws := &Workspace{}
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				m.MulVec(pool, dst, x, ws)
			}
		})
	}
}

// BenchmarkMemoryRead is the machine's read bandwidth with the same pool:
// each thread streams its share of a 256 MiB buffer once per iteration.
func BenchmarkMemoryRead(b *testing.B) {
	const n = 64 << 20 // float32s
	buf := make([]byte, 4*n)
	for i := range buf {
		buf[i] = byte(i)
	}
	pool := parallel.Default()
	k := kernelSet
	sink := make([]float32, 64)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pool.For(n/4096, 1, func(lo, hi int) {
			var s float32
			for c := lo; c < hi; c++ {
				chunk := buf[c*4096*4 : (c+1)*4096*4]
				s += k.f32(chunk, bytesAsFloat32(chunk, 4096))
			}
			sink[lo%64] = s
		})
	}
}
