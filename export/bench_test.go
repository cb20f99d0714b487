package export

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/sysmem"
	"github.com/distill-ml/distill/model/student"
)

// tinyPresetModel is a `tiny`-preset student (d 256, 8 layers, FFN 688,
// vocab 32000: 14.4M parameters) with random weights (seed 1).
func tinyPresetModel(b *testing.B) (student.Config, *Model) {
	b.Helper()
	cfg := student.Config{VocabSize: 32000, DModel: 256, NLayers: 8, NHeads: 4, NKVHeads: 2, FFNDim: 688,
		ContextLength: 2048, RopeBase: 10000, NormEps: 1e-5}
	m, err := RandomModel(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	return cfg, m
}

// BenchmarkExport writes a `tiny`-preset student (d 256, 8 layers, FFN 688,
// vocab 32000: 14.4M parameters) with random weights to a GGUF file, in MB/s
// of float32 weights; it includes quantization on the shared pool, the
// streaming write and fsync.
func BenchmarkExport(b *testing.B) {
	cfg, m := tinyPresetModel(b)
	path := filepath.Join(b.TempDir(), "bench.gguf")
	for _, ft := range []quant.FileType{quant.FileF16, quant.FileQ8_0, quant.FileQ4_K_M} {
		b.Run(fmt.Sprintf("tiny/%s", ft), func(b *testing.B) {
			b.SetBytes(4 * cfg.ParamCount())
			for i := 0; i < b.N; i++ {
				if err := Write(path, m, Options{Type: ft}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRequantize re-quantizes the same F16 `tiny`-preset file to Q4_K_M
// with Requantize (what `distill quantize` runs) and, in the same run, with
// llama.cpp's llama_model_quantize (libllama from node-llama-cpp, one
// thread). Both report CPU seconds per file (cpu-s/op: our process's
// getrusage delta, the llama.cpp child's user+system time), which stays
// comparable on a loaded machine; ns/op is wall time.
func BenchmarkRequantize(b *testing.B) {
	cfg, m := tinyPresetModel(b)
	dir := b.TempDir()
	src := filepath.Join(dir, "f16.gguf")
	if err := Write(src, m, Options{Type: quant.FileF16}); err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(dir, "out.gguf")
	b.Run("tiny-q4_k_m/distill", func(b *testing.B) {
		b.SetBytes(4 * cfg.ParamCount())
		c0 := sysmem.CPUTime().Seconds()
		for i := 0; i < b.N; i++ {
			if err := Requantize(src, out, quant.FileQ4_K_M, Options{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric((sysmem.CPUTime().Seconds()-c0)/float64(b.N), "cpu-s/op")
	})
	b.Run("tiny-q4_k_m/llama.cpp", func(b *testing.B) {
		bin := llamaQuantizeBinary(b)
		b.SetBytes(4 * cfg.ParamCount())
		var cpu float64
		for i := 0; i < b.N; i++ {
			cmd := exec.Command(bin, src, out, "15", "0")
			if o, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, o)
			}
			cpu += (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
		}
		b.ReportMetric(cpu/float64(b.N), "cpu-s/op")
	})
}

// BenchmarkRequantizeImatrix is BenchmarkRequantize with an importance
// matrix (log-normal weights for every block matrix), to
// Q4_K_M and IQ4_XS: distill's Requantize against llama.cpp's
// llama_model_quantize given the same weights, CPU seconds per file.
func BenchmarkRequantizeImatrix(b *testing.B) {
	cfg := student.Config{VocabSize: 32000, DModel: 256, NLayers: 8, NHeads: 4, NKVHeads: 2, FFNDim: 688,
		ContextLength: 2048, RopeBase: 10000, NormEps: 1e-5}
	m, err := RandomModel(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	src := filepath.Join(dir, "f16.gguf")
	if err := Write(src, m, Options{Type: quant.FileF16}); err != nil {
		b.Fatal(err)
	}
	imatrix := randomImatrix(cfg, rand.New(rand.NewPCG(3, 4)), "")
	imPath := filepath.Join(dir, "imatrix.bin")
	writeImatrixForLlama(b, imPath, imatrix)
	out := filepath.Join(dir, "out.gguf")
	for _, ft := range []quant.FileType{quant.FileQ4_K_M, quant.FileIQ4_XS} {
		b.Run("tiny-"+ft.String()+"-imatrix/distill", func(b *testing.B) {
			b.SetBytes(4 * cfg.ParamCount())
			c0 := sysmem.CPUTime().Seconds()
			for i := 0; i < b.N; i++ {
				if err := Requantize(src, out, ft, Options{Imatrix: imatrix}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((sysmem.CPUTime().Seconds()-c0)/float64(b.N), "cpu-s/op")
		})
		b.Run("tiny-"+ft.String()+"-imatrix/llama.cpp", func(b *testing.B) {
			bin := llamaQuantizeBinary(b)
			b.SetBytes(4 * cfg.ParamCount())
			var cpu float64
			for i := 0; i < b.N; i++ {
				cmd := exec.Command(bin, src, out, fmt.Sprint(ft.GGUFFileType()), "0", imPath)
				if o, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, o)
				}
				cpu += (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
			}
			b.ReportMetric(cpu/float64(b.N), "cpu-s/op")
		})
	}
}
