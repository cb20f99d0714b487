package tokenizer

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/distill-ml/distill/data/tokenizer/tokenizertest"
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
	if testing.Short() {
		t.Skip("compares with the JS reference tokenizer: not in -short")
	}
	chunks := tokenizertest.ParityCorpus(1, parityCorpusBytes)
	if n := totalBytes(chunks); n < parityCorpusBytes {
		t.Fatalf("corpus is %d bytes", n)
	}
	// The corpus must keep exercising what it claims to.
	all := bytes.Join(chunks, nil)
	for what, ok := range map[string]bool{
		"invalid UTF-8":     bytes.Count(all, []byte("\xff")) > 10 && !utf8.Valid(all),
		"special tokens":    bytes.Count(all, []byte("<|im_start|>")) > 10,
		"CJK":               bytes.Contains(all, []byte("東京")),
		"Hangul":            bytes.Contains(all, []byte("한국어")),
		"emoji ZWJ":         bytes.Contains(all, []byte("👨‍👩‍👧‍👦")),
		"decomposed":        bytes.Contains(all, []byte("e\u0301")),
		"CRLF":              bytes.Contains(all, []byte("\r\n")),
		"tab runs":          bytes.Contains(all, []byte("\t\t")),
		"ideographic space": bytes.Contains(all, []byte("\u3000")),
		"long digits":       bytes.Contains(all, []byte("1234567890123")),
		"contractions":      bytes.Contains(all, []byte("YOU'LL")),
		"code":              bytes.Contains(all, []byte("fmt.Println")),
	} {
		if !ok {
			t.Errorf("parity corpus lacks %s", what)
		}
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
