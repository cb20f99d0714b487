package quant

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/distill-ml/distill/internal/sysmem"
)

// BenchmarkQuantize reports quantization throughput in MB/s of float32 input
// (a 4096×256 matrix of Gaussian weights): ours single-threaded ("go"), ours
// on the shared pool ("go-parallel"), and, in the same run, ggml's reference
// C quantizer single-threaded. Besides wall-clock MB/s, the "go" benchmarks
// report throughput per CPU second (cpu-MB/s, from getrusage) next to
// ggml's (ggml-cpu-MB/s, from the harness's CLOCK_PROCESS_CPUTIME_ID) and
// their ratio go/ggml, so that the comparison holds on a loaded machine.
func BenchmarkQuantize(b *testing.B) {
	const n = 4096 * 256
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 0.02)
	}
	for _, typ := range []Type{F16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K} {
		rs, _ := typ.RowSize(n)
		dst := make([]byte, rs)
		var ggmlMBps float64
		b.Run(typ.String()+"/go", func(b *testing.B) {
			if ggmlMBps == 0 {
				ggmlMBps = ggmlThroughput(b, typ, x)
			}
			b.SetBytes(4 * n)
			b.ResetTimer()
			c0 := sysmem.CPUTime().Seconds()
			for i := 0; i < b.N; i++ {
				Quantize(typ, dst, x)
			}
			cpu := sysmem.CPUTime().Seconds() - c0
			b.StopTimer()
			ours := float64(4*n) * float64(b.N) / cpu / 1e6
			b.ReportMetric(ours, "cpu-MB/s")
			b.ReportMetric(ggmlMBps, "ggml-cpu-MB/s")
			b.ReportMetric(ours/ggmlMBps, "go/ggml")
		})
		b.Run(typ.String()+"/go-parallel", func(b *testing.B) {
			b.SetBytes(4 * n)
			for i := 0; i < b.N; i++ {
				QuantizeParallel(typ, dst, x)
			}
		})
	}
}

// ggmlThroughput times ggml's reference quantizer (compiled -O2, one thread)
// on x: it repeats until at least ~0.5 CPU seconds of work and returns MB/s
// of input per CPU second.
func ggmlThroughput(b *testing.B, typ Type, x []float32) float64 {
	bin := refBinary(b)
	iters := uint32(4)
	for {
		var in bytes.Buffer
		binary.Write(&in, binary.LittleEndian, [3]uint32{uint32(typ) | 0x80000000, uint32(len(x)), iters})
		binary.Write(&in, binary.LittleEndian, x)
		cmd := exec.Command(bin)
		cmd.Stdin = &in
		out, err := cmd.Output()
		if err != nil || len(out) != 8 {
			b.Fatalf("ggml bench: %v (%d bytes)", err, len(out))
		}
		var secs float64
		binary.Read(bytes.NewReader(out), binary.LittleEndian, &secs)
		if secs >= 0.5 || iters >= 1<<12 {
			return float64(4*len(x)) * float64(iters) / secs / 1e6
		}
		iters *= 2
	}
}
