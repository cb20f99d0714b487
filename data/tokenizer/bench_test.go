package tokenizer

import (
	"testing"
)

// BenchmarkEncodeVsReference measures encode throughput of ours and of the
// JS reference (@lenml/tokenizers, best of three passes after loading) on
// the same 1 MB parity corpus, and reports both and their ratio:
//
//	go test ./data/tokenizer -run '^$' -bench EncodeVsReference -benchtime 5x
func BenchmarkEncodeVsReference(b *testing.B) {
	chunks := ParityCorpus(1, parityCorpusBytes)
	size := totalBytes(chunks)
	texts := make([]string, len(chunks))
	for i, c := range chunks {
		texts[i] = string(c)
	}
	for _, model := range []string{"qwen3", "llama3"} {
		jsMBs := 0.0
		b.Run(model, func(b *testing.B) {
			jsonPath, configPath := lenmlModel(b, model)
			tok, err := Load(jsonPath)
			if err != nil {
				b.Fatal(err)
			}
			if jsMBs == 0 {
				jsMBs = referenceSpeed(b, jsonPath, configPath, chunks)
			}
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, s := range texts {
					tok.Encode(s)
				}
			}
			b.StopTimer()
			ours := float64(size) * float64(b.N) / b.Elapsed().Seconds() / 1e6
			b.ReportMetric(jsMBs, "js-MB/s")
			b.ReportMetric(ours/jsMBs, "x-vs-js")
		})
	}
}
