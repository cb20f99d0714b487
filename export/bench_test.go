package export

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/distill-ml/distill/model/student"
)

// BenchmarkExport writes a `tiny`-preset student (d 256, 8 layers, FFN 688,
// vocab 32000: 14.4M parameters) with random weights to a GGUF file, in MB/s
// of float32 weights; it includes quantization on the shared pool, the
// streaming write and fsync.
func BenchmarkExport(b *testing.B) {
	cfg := student.Config{VocabSize: 32000, DModel: 256, NLayers: 8, NHeads: 4, NKVHeads: 2, FFNDim: 688,
		ContextLength: 2048, RopeBase: 10000, NormEps: 1e-5}
	m, err := RandomModel(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "bench.gguf")
	for _, ft := range []FileType{F16, Q8_0, Q4_K_M} {
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
