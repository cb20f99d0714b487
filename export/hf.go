package export

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/internal/atomicfile"
	"github.com/distill-ml/distill/model/checkpoint"
	"github.com/distill-ml/distill/model/student"
)

// HFModel is a student to write as a Hugging Face model directory.
type HFModel struct {
	Config  student.Config
	Tensors map[string][]float32 // student (llama.cpp) names, as Model.Tensors
	Tok     *tokenizer.Tokenizer
	Dtype   string // checkpoint.DtypeF32, DtypeF16 or DtypeBF16
}

// WriteHF writes m as the Hugging Face directory dir, replacing it as a
// whole (atomicfile.ReplaceDir): config.json (LlamaForCausalLM,
// Qwen2ForCausalLM or Qwen3ForCausalLM), model.safetensors at m.Dtype with Q/K
// back in rotate-half order, tokenizer.json and tokenizer_config.json (BOS,
// EOS, PAD, chat template) and generation_config.json — a directory
// transformers' AutoModelForCausalLM.from_pretrained loads.
func WriteHF(dir string, m *HFModel) error {
	c := m.Config
	if err := c.Validate(); err != nil {
		return fmt.Errorf("export hf: %w", err)
	}
	if m.Tok == nil || m.Tok.VocabSize() != c.VocabSize {
		return fmt.Errorf("export hf: the tokenizer must have the model's %d tokens", c.VocabSize)
	}
	sp := m.Tok.Special()
	cfgJSON, err := checkpoint.HFConfigJSON(c, m.Dtype, int(sp.BOS), int(sp.EOS))
	if err != nil {
		return fmt.Errorf("export hf: %w", err)
	}
	gen := map[string]any{"_from_model_config": true, "transformers_version": "4.51.0"}
	if sp.BOS >= 0 {
		gen["bos_token_id"] = sp.BOS
	}
	switch {
	case sp.EOT >= 0 && sp.EOS >= 0 && sp.EOT != sp.EOS:
		gen["eos_token_id"] = []int32{sp.EOS, sp.EOT}
	case sp.EOS >= 0:
		gen["eos_token_id"] = sp.EOS
	}
	if sp.PAD >= 0 {
		gen["pad_token_id"] = sp.PAD
	}
	genJSON, err := json.MarshalIndent(gen, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Clean(dir)), 0o755); err != nil {
		return fmt.Errorf("export hf: %w", err)
	}
	tmp, err := atomicfile.MkdirTemp(filepath.Dir(filepath.Clean(dir)), filepath.Base(dir))
	if err != nil {
		return fmt.Errorf("export hf: %w", err)
	}
	defer os.RemoveAll(tmp) // gone after a successful ReplaceDir
	if err := checkpoint.WriteHFWeights(tmp, c, m.Tensors, m.Dtype); err != nil {
		return fmt.Errorf("export hf: %w", err)
	}
	if err := m.Tok.Save(filepath.Join(tmp, checkpoint.TokenizerFile)); err != nil {
		return fmt.Errorf("export hf: %w", err)
	}
	for name, b := range map[string][]byte{checkpoint.HFConfigFile: cfgJSON, checkpoint.HFGenerationFile: append(genJSON, '\n')} {
		if err := atomicfile.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return fmt.Errorf("export hf: %w", err)
		}
	}
	if err := atomicfile.ReplaceDir(tmp, dir); err != nil {
		return fmt.Errorf("export hf: %w", err)
	}
	return nil
}
