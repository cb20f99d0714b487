// Package testmodel writes small, real GGUF models for tests: a byte-level
// BPE tokenizer trained on a policy-style sentence and a random-weight
// llama student exported through package export, so the runtime, the
// engine and the local teacher are tested on files distill itself produces.
package testmodel

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/model/student"
)

// Tokenizer trains a ~320-token tokenizer on a fixed policy-style text.
func Tokenizer(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	texts := make([]string, 100)
	for i := range texts {
		texts[i] = "Replace the scanner battery after 500 charge cycles [§3.2]. Not covered by the policy."
	}
	tok, err := tokenizer.TrainStrings(texts, tokenizer.TrainConfig{VocabSize: 320}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// GGUF exports a random-weight student (d 64, 2 layers, 4 heads / 2 KV heads,
// FFN 96, context 128) with tok embedded, as F32, into a temporary directory
// under the given file name, and returns its path.
func GGUF(t testing.TB, tok *tokenizer.Tokenizer, name string, seed uint64) string {
	t.Helper()
	return writeGGUF(t, tok, name, seed, false)
}

// GGUFAddBOS is GGUF with tokenizer.ggml.add_bos_token set: a runtime
// feeding this model a text puts tok's BOS first.
func GGUFAddBOS(t testing.TB, tok *tokenizer.Tokenizer, name string, seed uint64) string {
	t.Helper()
	return writeGGUF(t, tok, name, seed, true)
}

func writeGGUF(t testing.TB, tok *tokenizer.Tokenizer, name string, seed uint64, addBOS bool) string {
	t.Helper()
	cfg := student.Config{VocabSize: tok.VocabSize(), DModel: 64, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 96,
		ContextLength: 128, RopeBase: 10000, NormEps: 1e-5}
	m, err := export.RandomModel(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	m.Vocab = export.TokenizerVocab(tok)
	m.Vocab.AddBOS = addBOS
	m.Name, m.Version = "testmodel", "1"
	path := filepath.Join(t.TempDir(), name)
	if err := export.Write(path, m, export.Options{Type: quant.FileF32}); err != nil {
		t.Fatal(err)
	}
	return path
}

// ByteTokenizer writes a 256-token byte-level BPE tokenizer.json (GPT-2
// byte↔unicode mapping, no merges) into a temporary directory and returns
// its path and hash.
func ByteTokenizer(t testing.TB) (string, string) {
	t.Helper()
	vocab := map[string]int{}
	n := 0
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) {
			r = rune(256 + n)
			n++
		}
		vocab[string(r)] = b
	}
	js, _ := json.Marshal(map[string]any{"version": "1.0",
		"model":         map[string]any{"type": "BPE", "vocab": vocab, "merges": []string{}},
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}})
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := os.WriteFile(path, js, 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, tok.Hash()
}
