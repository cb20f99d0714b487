package tokenizer

import (
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/synth"
	"github.com/distill-ml/distill/data/tokenizer/tokenizertest"
	"github.com/distill-ml/distill/internal/sysmem"
)

// BenchmarkEncodeVsReference measures encode throughput of ours and of the
// JS reference (@lenml/tokenizers, best of three passes after loading) on
// the same text with the real Qwen3 and Llama 3 tokenizers (fast path) and
// gpt-oss and Llama 2 (general pipeline), and reports both
// and their ratio, by wall-clock time (MB/s, js-MB/s, x-vs-js) and by process
// CPU time (cpu-MB/s, js-cpu-MB/s, x-vs-js-cpu; CPU time is robust to other
// processes competing for the cores). Two corpora: "parity", the 1 MB
// parity corpus (adversarial: scripts, invalid UTF-8, runs of up to 900
// bytes), and "policy", 1 MB of the embedded maintenance-policy corpus
// (data/synth, plain English prose as the pipeline tokenizes it):
//
//	go test ./data/tokenizer -run '^$' -bench EncodeVsReference -benchtime 5x
func BenchmarkEncodeVsReference(b *testing.B) {
	corpora := []struct {
		name   string
		chunks [][]byte
	}{{"parity", tokenizertest.ParityCorpus(1, parityCorpusBytes)}, {"policy", policyCorpus(b, parityCorpusBytes)}}
	for _, corpus := range corpora {
		chunks := corpus.chunks
		size := totalBytes(chunks)
		texts := make([]string, len(chunks))
		for i, c := range chunks {
			texts[i] = string(c)
		}
		for _, model := range []string{"qwen3", "llama3", "gptoss", "llama2"} {
			var jsWall, jsCPU float64
			b.Run(corpus.name+"/"+model, func(b *testing.B) {
				jsonPath, configPath := lenmlModel(b, model)
				tok := loadLenml(b, model)
				if jsWall == 0 {
					jsWall, jsCPU = referenceSpeed(b, jsonPath, configPath, chunks)
				}
				b.SetBytes(int64(size))
				cpu0 := sysmem.CPUTime()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for _, s := range texts {
						tok.Encode(s)
					}
				}
				b.StopTimer()
				cpu := sysmem.CPUTime() - cpu0
				ours := float64(size) * float64(b.N) / b.Elapsed().Seconds() / 1e6
				oursCPU := float64(size) * float64(b.N) / cpu.Seconds() / 1e6
				b.ReportMetric(jsWall, "js-MB/s")
				b.ReportMetric(ours/jsWall, "x-vs-js")
				b.ReportMetric(oursCPU, "cpu-MB/s")
				b.ReportMetric(jsCPU, "js-cpu-MB/s")
				b.ReportMetric(oursCPU/jsCPU, "x-vs-js-cpu")
			})
		}
	}
}

// policyCorpus is the first n bytes of the embedded default corpus's
// tokenizer text, cut at line ends into chunks of about 4 KB.
func policyCorpus(b *testing.B, n int) [][]byte {
	cfg := synth.DefaultConfig()
	cfg.Scale = 0.3
	c, err := synth.Generate(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	text := c.TokenizerCorpus()
	if len(text) < n {
		b.Fatalf("policy corpus has %d bytes, want %d", len(text), n)
	}
	text = text[:n]
	var chunks [][]byte
	for len(text) > 0 {
		cut := min(len(text), 4096)
		if i := strings.IndexByte(text[cut:], '\n'); i >= 0 {
			cut += i + 1
		} else {
			cut = len(text)
		}
		chunks = append(chunks, []byte(text[:cut]))
		text = text[cut:]
	}
	return chunks
}

// BenchmarkTrain trains a 4096-token llama-bpe tokenizer on 10 MB of the
// parity corpus (no peer: a timing of our trainer alone):
//
//	go test ./data/tokenizer -run '^$' -bench Train -benchtime 1x
func BenchmarkTrain(b *testing.B) {
	var texts []string
	size := 0
	for _, c := range tokenizertest.ParityCorpus(11, 10<<20) {
		texts = append(texts, string(c))
		size += len(c)
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tok, err := TrainStrings(texts, TrainConfig{VocabSize: 4096}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if tok.VocabSize() != 4096 {
			b.Fatalf("vocab %d", tok.VocabSize())
		}
	}
}

// BenchmarkEncodeGeneralVsFast measures encode throughput of the general
// pipeline (the split regex run by regexp2) against the hand-written
// scanner (fast path) for the same real tokenizers on the 1 MB parity
// corpus; report, not assertion:
//
//	go test ./data/tokenizer -run '^$' -bench GeneralVsFast -benchtime 3x
func BenchmarkEncodeGeneralVsFast(b *testing.B) {
	chunks := tokenizertest.ParityCorpus(1, parityCorpusBytes)
	texts := make([]string, len(chunks))
	for i, c := range chunks {
		texts[i] = string(c)
	}
	size := totalBytes(chunks)
	for _, model := range []string{"llama3", "qwen3"} {
		for _, path := range []string{"fast", "general"} {
			b.Run(model+"/"+path, func(b *testing.B) {
				tok := loadLenml(b, model)
				if path == "general" {
					tok = loadGeneral(b, model)
				}
				b.SetBytes(int64(size))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for _, s := range texts {
						tok.Encode(s)
					}
				}
			})
		}
	}
}
