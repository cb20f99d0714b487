package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/model/checkpoint"
	"github.com/distill-ml/distill/model/student"
)

// TestExportKeepsTheChatTemplate: a student trained from a tokenizer with a
// tokenizer_config.json exports a GGUF carrying its chat template without
// --tokenizer (the checkpoint keeps tokenizer_config.json).
func TestExportKeepsTheChatTemplate(t *testing.T) {
	const tmpl = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
	cfg := student.Config{VocabSize: 300, DModel: 32, NLayers: 1, NHeads: 2, NKVHeads: 1, FFNDim: 48, ContextLength: 64, RopeBase: 10000, NormEps: 1e-5}
	m, err := export.RandomModel(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	tokDir := t.TempDir()
	tok := filepath.Join(tokDir, "tokenizer.json")
	writeTokenizerJSON(t, m.Vocab, tok)
	tc, _ := json.Marshal(map[string]any{"chat_template": tmpl, "bos_token": "<|endoftext|>", "eos_token": "<|im_end|>", "pad_token": nil})
	os.WriteFile(filepath.Join(tokDir, "tokenizer_config.json"), tc, 0o644)
	c := &checkpoint.Checkpoint{Meta: checkpoint.Meta{Student: cfg, TokenizerHash: "x"}, State: checkpoint.State{Step: 1}, TokenizerPath: tok}
	for name, shape := range checkpoint.ExpectedShapes(cfg) {
		z := make([]float32, len(m.Tensors[name]))
		c.Weights = append(c.Weights, checkpoint.Tensor{Name: name, Shape: shape, Data: m.Tensors[name]})
		c.Optimizer = append(c.Optimizer, checkpoint.Tensor{Name: checkpoint.MomentName(name, "exp_avg"), Shape: shape, Data: z},
			checkpoint.Tensor{Name: checkpoint.MomentName(name, "exp_avg_sq"), Shape: shape, Data: z})
	}
	root := filepath.Join(t.TempDir(), "run")
	if _, err := checkpoint.Save(root, c, 0); err != nil {
		t.Fatal(err)
	}
	// The tokenizer's own directory is gone, as on another machine.
	os.RemoveAll(tokDir)
	out := filepath.Join(t.TempDir(), "s.gguf")
	if code, _, stderr := runCLI(t, "export", "--checkpoint", root, "--type", "f32", "--out", out); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := f.String(gguf.KeyChatTemplate)
	if err != nil || got != tmpl {
		t.Fatalf("exported tokenizer.chat_template = %q (%v), want the tokenizer's template", got, err)
	}
}
