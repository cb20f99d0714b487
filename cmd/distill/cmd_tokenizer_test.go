package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/data/tokenizer/tokenizertest"
)

func TestTokenizerTrainEncodeDecodeInfo(t *testing.T) {
	dir := t.TempDir()
	corpus := filepath.Join(dir, "corpus.txt")
	var b strings.Builder
	for _, c := range tokenizertest.ParityCorpus(1, 200<<10) {
		b.Write(c)
	}
	if err := os.WriteFile(corpus, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tokenizer.json")
	code, stdout, stderr := runCLI(t, "tokenizer", "train", "--corpus", corpus, "--vocab-size", "600", "--out", out)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "vocab 600") || !strings.Contains(stderr, "tokenizer merges") {
		t.Fatalf("train output: %q / %q", stdout, stderr)
	}
	tok, err := tokenizer.Load(out)
	if err != nil {
		t.Fatal(err)
	}

	text := "<|im_start|>user\nHello, wörld 12345!<|im_end|>"
	code, stdout, stderr = runCLI(t, "tokenizer", "encode", out, text)
	if code != 0 {
		t.Fatalf("encode: exit %d: %s", code, stderr)
	}
	ids := strings.Fields(stdout)
	want := tok.Encode(text)
	if len(ids) != len(want) || ids[0] != "598" || ids[len(ids)-1] != "599" {
		t.Fatalf("encode printed %q, want %d ids from <|im_start|> (598) to <|im_end|> (599)", stdout, len(want))
	}
	code, stdout, stderr = runCLI(t, append([]string{"tokenizer", "decode", out}, ids...)...)
	if code != 0 || stdout != text {
		t.Fatalf("decode: exit %d, %q (stderr %q), want %q", code, stdout, stderr, text)
	}

	code, stdout, _ = runCLI(t, "tokenizer", "info", out)
	for _, w := range []string{"vocab size  600", tok.Hash(), "llama-bpe", `bos         595 "<|begin_of_text|>"`, "eos         596", "pad         597"} {
		if code != 0 || !strings.Contains(stdout, w) {
			t.Errorf("info lacks %q:\n%s", w, stdout)
		}
	}

	// Failures: bad id (exit 1), bad argument (exit 2), bad vocab size (exit 2), missing file (exit 1).
	if code, _, stderr := runCLI(t, "tokenizer", "decode", out, "100000"); code != 1 || !strings.Contains(stderr, "100000") {
		t.Errorf("decode of an id outside the vocab: exit %d %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "tokenizer", "decode", out, "abc"); code != 2 {
		t.Errorf("decode abc: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, "tokenizer", "train", "--corpus", corpus, "--vocab-size", "10", "--out", out); code != 2 {
		t.Errorf("train --vocab-size 10: exit %d, want 2", code)
	}
	if code, _, stderr := runCLI(t, "tokenizer", "info", filepath.Join(dir, "nope.json")); code != 1 || !strings.Contains(stderr, "nope.json") {
		t.Errorf("info of a missing file: exit %d %q", code, stderr)
	}
}
