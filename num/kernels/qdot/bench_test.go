package qdot

import (
	"math/rand"
	"testing"
	"time"

	"github.com/distill-ml/distill/internal/sysmem"
	"github.com/distill-ml/distill/num/parallel"
)

// BenchmarkMatVec streams a weight matrix of ~64 MiB per type (far larger
// than cache) through MulVec on a pool of GOMAXPROCS threads, once per
// implementation this CPU runs (MatVec/<type>/<go|avx2|avx512>). MB/s and
// GB/s are weight bytes read; %mem-bw is that against the read bandwidth
// readBandwidth measures with the same threads just before
// (BenchmarkMemoryRead reports the same figure on its own); GB/cpu-s divides
// by the process's CPU time instead of wall time:
//
//	go test ./num/kernels/qdot -run '^$' -bench 'MatVec|MemoryRead' -cpu 1,2
func BenchmarkMatVec(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	const cols = 1536
	readBuf := makeReadBuffer()
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
		for _, k := range benchKernelSets(typ) {
			b.Run(typ.String()+"/"+k.name, func(b *testing.B) {
				pool := parallel.New(0)
				defer pool.Close()
				// Read bandwidth with this many threads, measured right
				// before each sub-benchmark (the machine may be shared, so
				// conditions drift during a run).
				bw := readBandwidth(pool, readBuf, 4)
				ws := &Workspace{}
				b.SetBytes(int64(len(data)))
				b.ResetTimer()
				cpu0 := sysmem.CPUTime()
				for i := 0; i < b.N; i++ {
					m.mulBatch(k, pool, dst, x, 1, ws)
				}
				cpu := sysmem.CPUTime() - cpu0
				bytes := float64(len(data)) * float64(b.N)
				rate := bytes / b.Elapsed().Seconds()
				b.ReportMetric(rate/1e9, "GB/s")
				b.ReportMetric(100*rate/bw, "%mem-bw")
				if cpu > 0 {
					// Bytes per CPU-second of this process (all threads,
					// pool spinning included): less sensitive than GB/s to
					// other processes taking the cores.
					b.ReportMetric(bytes/cpu.Seconds()/1e9, "GB/cpu-s")
				}
			})
		}
	}
}

// BenchmarkMatVecInCache is BenchmarkMatVec on a 256 KiB matrix that stays
// in the L2 cache: the kernels' compute throughput without memory stalls
// (MatVecInCache/<type>/<implementation>; MB/s is weight bytes per second).
func BenchmarkMatVecInCache(b *testing.B) {
	rng := rand.New(rand.NewSource(2))
	const cols = 1536
	for _, typ := range weightTypes {
		rb, _ := RowBytes(typ, cols)
		rows := (256 << 10) / rb
		m, data := randomMatrix(b, rng, typ, rows, cols)
		x := make([]float32, cols)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		dst := make([]float32, rows)
		for _, k := range benchKernelSets(typ) {
			b.Run(typ.String()+"/"+k.name, func(b *testing.B) {
				pool := parallel.New(0)
				defer pool.Close()
				ws := &Workspace{}
				b.SetBytes(int64(len(data)))
				b.ResetTimer()
				cpu0 := sysmem.CPUTime()
				for i := 0; i < b.N; i++ {
					m.mulBatch(k, pool, dst, x, 1, ws)
				}
				if cpu := sysmem.CPUTime() - cpu0; cpu > 0 {
					b.ReportMetric(float64(len(data))*float64(b.N)/cpu.Seconds()/1e9, "GB/cpu-s")
				}
			})
		}
	}
}

// makeReadBuffer is the 256 MiB buffer the bandwidth measurement streams,
// holding ordinary float32 values (a byte pattern would make many of them
// subnormal, and subnormal FMAs are slow enough to hide the memory system).
func makeReadBuffer() []byte {
	buf := make([]byte, 256<<20)
	f := bytesAsFloat32(buf, len(buf)/4)
	for i := range f {
		f[i] = 1 + float32(i&1023)/1024
	}
	return buf
}

// readOnce streams buf once over pool through the float32 dot loop (the
// loads the F32 matvec issues): each thread reads its share as four
// interleaved sequential streams, 4 KiB at a time — one stream per thread
// leaves bandwidth unused here (measured: 24.6 GB/s for one stream against
// 34.9 GB/s for four on one core), and the AVX-512 row kernels read four.
func readOnce(pool *parallel.Pool, buf []byte, sink []float32) {
	const chunk, streams = 1024, 4 // float32s per read, streams per thread
	k := kernelSet
	pool.For(len(buf)/(4*chunk), streams, func(lo, hi int) {
		var s float32
		q := (hi - lo) / streams
		read := func(c int) {
			b := buf[c*4*chunk : (c+1)*4*chunk]
			s += k.f32(b, bytesAsFloat32(b, chunk))
		}
		for c := 0; c < q; c++ {
			for st := 0; st < streams; st++ {
				read(lo + st*q + c)
			}
		}
		for c := lo + streams*q; c < hi; c++ {
			read(c)
		}
		sink[lo%len(sink)] = s
	})
}

// readBandwidth is the best of reps full passes over buf, in bytes/s.
func readBandwidth(pool *parallel.Pool, buf []byte, reps int) float64 {
	sink := make([]float32, 64)
	var best float64
	for r := 0; r < reps; r++ {
		start := time.Now()
		readOnce(pool, buf, sink)
		if rate := float64(len(buf)) / time.Since(start).Seconds(); rate > best {
			best = rate
		}
	}
	return best
}

// BenchmarkMemoryRead is the machine's read bandwidth with a pool of
// GOMAXPROCS threads: each thread streams its share of a 256 MiB buffer
// once per iteration, as four interleaved streams (readOnce).
func BenchmarkMemoryRead(b *testing.B) {
	buf := makeReadBuffer()
	pool := parallel.New(0)
	defer pool.Close()
	sink := make([]float32, 64)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		readOnce(pool, buf, sink)
	}
	b.ReportMetric(float64(len(buf))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

// BenchmarkDequantizeRow expands one 1536-element row per type and
// implementation (the runtime's prompt path dequantizes weight tiles);
// MB/s counts the float32 output.
func BenchmarkDequantizeRow(b *testing.B) {
	rng := rand.New(rand.NewSource(3))
	const cols = 1536
	for _, typ := range []Type{Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K} {
		src := randomRow(rng, typ, cols, false)
		dst := make([]float32, cols)
		for _, k := range kernelSets() {
			b.Run(typ.String()+"/"+k.name, func(b *testing.B) {
				b.SetBytes(4 * cols)
				for i := 0; i < b.N; i++ {
					if k.dequant == nil || !k.dequant(typ, dst, src, cols) {
						_ = dequantizeRowGo(typ, dst, src, cols)
					}
				}
			})
		}
	}
}

// benchKernelSets is every implementation for typ, plus "avx512-all" (the
// AVX-512 kernels avx512 does not use) for Q4_K and Q5_K.
func benchKernelSets(typ Type) []*dotKernels {
	sets := kernelSets()
	if typ == Q4_K || typ == Q5_K {
		sets = append(sets, extraKernelSets()...)
	}
	return sets
}

// BenchmarkRowKernelInCache times one implementation's multi-row kernel
// alone (no activation quantization, no pool) over a 128 KiB matrix of 1536
// columns that stays in the L2 cache: the kernel's compute throughput
// (RowKernelInCache/<type>/<implementation>; MB/s is weight bytes).
func BenchmarkRowKernelInCache(b *testing.B) {
	rng := rand.New(rand.NewSource(3))
	const cols = 1536
	for _, typ := range []Type{Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K} {
		rb, _ := RowBytes(typ, cols)
		rows := (128 << 10) / rb &^ 3
		var data []byte
		for r := 0; r < rows; r++ {
			data = append(data, randomRow(rng, typ, cols, false)...)
		}
		x := make([]float32, cols)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		qa := make([]byte, cols/QK*BytesQ8_0+cols/QKK*BytesQ8_K)
		nb := cols / QK
		if VecDotType(typ) == Q8_K {
			QuantizeQ8_K(qa, x)
			nb = cols / QKK
		} else {
			QuantizeQ8_0(qa, x)
		}
		dst := make([]float32, rows)
		for _, k := range benchKernelSets(typ) {
			rowsK := rowsDot(k, typ)
			if rowsK == nil {
				continue
			}
			b.Run(typ.String()+"/"+k.name, func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for i := 0; i < b.N; i++ {
					rowsK(data, rb, qa, nb, dst)
				}
			})
		}
	}
}
