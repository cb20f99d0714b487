package tokenizer

import (
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/format/gguf"
)

// writeVocabGGUF writes a GGUF holding only the given metadata.
func writeVocabGGUF(t *testing.T, kv map[string]gguf.Value) *gguf.File {
	t.Helper()
	w := gguf.NewWriter()
	for k, v := range kv {
		if err := w.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "v.gguf")
	if err := w.WriteFile(path, func(int, gguf.TensorInfo, io.Writer) error { return nil }); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// ReadGGUFVocab reads the keys as written, refuses a vocabulary that does
// not match the model's rows or a special id outside it, and is nil for a
// file without tokens.
func TestReadGGUFVocab(t *testing.T) {
	keys := func(bos uint32) map[string]gguf.Value {
		return map[string]gguf.Value{
			gguf.KeyTokenizerModel:      gguf.Of("gpt2"),
			gguf.KeyTokenizerPre:        gguf.Of("llama-bpe"),
			gguf.KeyTokenizerTokens:     gguf.ArrayOf([]string{"a", "b", "ab", "<s>"}),
			gguf.KeyTokenizerTokenTypes: gguf.ArrayOf([]int32{1, 1, 1, 3}),
			gguf.KeyTokenizerMerges:     gguf.ArrayOf([]string{"a b"}),
			gguf.KeyTokenizerBOS:        gguf.Of(bos),
			gguf.KeyChatTemplate:        gguf.Of("{{ x }}"),
		}
	}
	v, err := ReadGGUFVocab(writeVocabGGUF(t, keys(3)), 4)
	if err != nil {
		t.Fatal(err)
	}
	if v.Model != "gpt2" || v.Pre != "llama-bpe" || len(v.Tokens) != 4 || v.Tokens[3] != "<s>" || v.Types[3] != 3 ||
		len(v.Merges) != 1 || v.BOS != 3 || v.EOS != -1 || v.PAD != -1 || v.ChatTemplate != "{{ x }}" {
		t.Fatalf("read %+v", v)
	}
	if _, err := ReadGGUFVocab(writeVocabGGUF(t, keys(3)), 5); err == nil || !strings.Contains(err.Error(), "4 entries but token_embd.weight has 5 rows") {
		t.Errorf("5 rows: %v", err)
	}
	if _, err := ReadGGUFVocab(writeVocabGGUF(t, keys(4)), 0); err == nil || !strings.Contains(err.Error(), "tokenizer.ggml.bos_token_id = 4 is outside the vocabulary [0, 4)") {
		t.Errorf("bos 4: %v", err)
	}
	if v, err := ReadGGUFVocab(writeVocabGGUF(t, map[string]gguf.Value{gguf.KeyTokenizerModel: gguf.Of("gpt2")}), 0); v != nil || err != nil {
		t.Errorf("no tokens: %+v %v", v, err)
	}
}
