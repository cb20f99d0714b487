package checkpoint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/tokenizer"
)

// TestCheckpointKeepsChatTemplateAndGenerationConfig: a checkpoint keeps the
// tokenizer's tokenizer_config.json (chat template, BOS/EOS/PAD) and the
// generation_config.json beside it, so the tokenizer loaded from the
// checkpoint (which export embeds) still has the chat template; both are
// covered by SHA256SUMS.
func TestCheckpointKeepsChatTemplateAndGenerationConfig(t *testing.T) {
	const tmpl = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
	tok, err := tokenizer.TrainStrings([]string{"Scanners must be charged every night."}, tokenizer.TrainConfig{VocabSize: 300, ChatTemplate: tmpl}, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	tokPath := filepath.Join(src, "tokenizer.json")
	if err := tok.Save(tokPath); err != nil {
		t.Fatal(err)
	}
	gen := `{"bos_token_id": 0, "eos_token_id": [1, 4], "temperature": 0.7, "top_p": 0.8}` + "\n"
	os.WriteFile(filepath.Join(src, GenerationConfigFile), []byte(gen), 0o644)

	c := fakeCheckpoint(t, 5, 1)
	c.TokenizerPath = tokPath
	dir, err := Save(t.TempDir(), c, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, _, ckTok, err := LoadWeights(dir)
	if err != nil {
		t.Fatal(err)
	}
	back, err := tokenizer.Load(ckTok)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Special().ChatTemplate; got != tmpl {
		t.Fatalf("checkpoint's tokenizer has chat template %q, want %q", got, tmpl)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, GenerationConfigFile)); string(b) != gen {
		t.Fatalf("generation_config.json copy %q", b)
	}
	sums, _ := os.ReadFile(filepath.Join(dir, SumsFile))
	for _, name := range []string{TokenizerConfigFile, GenerationConfigFile} {
		if !strings.Contains(string(sums), "  "+name+"\n") {
			t.Errorf("SHA256SUMS does not list %s:\n%s", name, sums)
		}
	}
	// A changed chat template is corruption, not a silent edit.
	cfgPath := filepath.Join(dir, TokenizerConfigFile)
	b, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, []byte(strings.Replace(string(b), "assistant", "assistanT", 1)), 0o644)
	if _, _, _, err := LoadWeights(dir); err == nil || !strings.Contains(err.Error(), TokenizerConfigFile) {
		t.Fatalf("tampered tokenizer_config.json: err = %v", err)
	}
}
