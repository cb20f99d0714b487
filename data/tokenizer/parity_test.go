package tokenizer

import (
	"testing"
)

// parityCorpusBytes is the size of the corpus checked against the reference.
const parityCorpusBytes = 1 << 20

func totalBytes(chunks [][]byte) int {
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	return n
}

// TestParityWithReference checks that our ids equal the JS reference's on
// ≥ 1 MB of generated text with the real Qwen3 and Llama 3 tokenizer.json files.
func TestParityWithReference(t *testing.T) {
	chunks := ParityCorpus(1, parityCorpusBytes)
	if n := totalBytes(chunks); n < parityCorpusBytes {
		t.Fatalf("corpus is %d bytes", n)
	}
	for _, model := range []string{"qwen3", "llama3"} {
		t.Run(model, func(t *testing.T) {
			t.Parallel() // two reference processes: one per core
			jsonPath, configPath := lenmlModel(t, model)
			tok := loadLenml(t, model)
			want := referenceIDs(t, jsonPath, configPath, chunks)
			compareIDs(t, tok, chunks, want)
		})
	}
}
