package qdot

import (
	"math/rand"
	"testing"
	"time"

	"github.com/distill-ml/distill/internal/sysmem"
	"github.com/distill-ml/distill/num/kernels"
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

// readProbe streams a buffer once per pass through the probe
// bench/runtime's ReadBandwidth uses: an F32 matrix-vector product
// (kernels.Engine.Sgemv) over rows of readCols float32s split across the
// pool's threads — decode's access pattern with almost none of its
// arithmetic. (The float32 dot loop over four streams interleaved 4 KiB at
// a time that this replaced read 13.2 GB/s on one Zen 5 core and 24.8 on
// two while the matvec kernels streamed 43.8–47.8: every 4 KiB chunk was a
// new page, where the hardware prefetcher starts over.)
type readProbe struct {
	e    *kernels.Engine
	a    []float32 // a: [rows, readCols], the buffer
	x, y []float32 // x: [readCols], y: [rows]
}

// readCols is the row length of the probe: one 16 KiB row per dot product.
const readCols = 4096

func newReadProbe(pool *parallel.Pool, buf []byte) *readProbe {
	rows := len(buf) / 4 / readCols
	x := make([]float32, readCols)
	for i := range x {
		x[i] = 1
	}
	return &readProbe{e: kernels.NewEngine(pool), a: bytesAsFloat32(buf, rows*readCols), x: x, y: make([]float32, rows)}
}

// bytes is how many bytes one pass reads.
func (r *readProbe) bytes() int { return 4 * len(r.a) }

// pass reads the whole buffer once.
func (r *readProbe) pass() {
	r.e.Sgemv(false, len(r.y), readCols, 1, r.a, readCols, r.x, 1, 0, r.y, 1)
}

// readBandwidth is the best of reps full passes over buf, in bytes/s.
func readBandwidth(pool *parallel.Pool, buf []byte, reps int) float64 {
	r := newReadProbe(pool, buf)
	var best float64
	for range reps {
		start := time.Now()
		r.pass()
		if rate := float64(r.bytes()) / time.Since(start).Seconds(); rate > best {
			best = rate
		}
	}
	return best
}

// BenchmarkMemoryRead is the machine's read bandwidth with a pool of
// GOMAXPROCS threads: one pass of the read probe (readProbe, bench/runtime's
// probe) over a 256 MiB buffer per iteration.
func BenchmarkMemoryRead(b *testing.B) {
	pool := parallel.New(0)
	defer pool.Close()
	r := newReadProbe(pool, makeReadBuffer())
	b.SetBytes(int64(r.bytes()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.pass()
	}
	b.ReportMetric(float64(r.bytes())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
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
