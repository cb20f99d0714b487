package checkpoint

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/model/student"
)

// Pretrained is a model to start training from, read from a Hugging Face
// directory (ReadHF), a GGUF file (ReadGGUF) or a distill checkpoint, in the
// student's form.
type Pretrained struct {
	Source        string
	Config        student.Config
	Weights       []Tensor // student names, in the student's parameter order
	TokenizerPath string   // tokenizer.json ("" when the source has none)
	// Vocab is a GGUF's tokenizer.ggml.* vocabulary (nil otherwise).
	Vocab *tokenizer.GGUFVocab
	// TokenizerHash is a distill checkpoint's recorded tokenizer hash ("" for
	// other sources: LoadTokenizer().Hash()).
	TokenizerHash string
}

// IsPretrainedSource reports whether path is a Hugging Face model directory
// or a GGUF file rather than a distill checkpoint.
func IsPretrainedSource(path string) bool { return IsGGUF(path) || IsHFDir(path) }

// OpenPretrained reads a Hugging Face model directory, a GGUF file or a
// distill checkpoint (a step directory or a checkpoints root).
func OpenPretrained(path string) (*Pretrained, error) {
	switch {
	case IsGGUF(path):
		return ReadGGUF(path)
	case IsHFDir(path):
		return ReadHF(path)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("model %s: %w (want a Hugging Face directory, a .gguf file or a distill checkpoint)", path, err)
	}
	ck, err := Load(path)
	if err != nil {
		return nil, err
	}
	return &Pretrained{Source: ck.Dir, Config: ck.Meta.Student, Weights: ck.Weights, TokenizerPath: ck.TokenizerPath, TokenizerHash: ck.Meta.TokenizerHash}, nil
}

// SaveImported writes p as the step-0 checkpoint root/step-00000000 (no
// optimizer state) with tok as its tokenizer, so `init:`, export and
// `model info` read it like a trained one. It returns the directory.
func SaveImported(root string, p *Pretrained, tok *tokenizer.Tokenizer) (string, error) {
	tmp, err := os.MkdirTemp("", "distill-import-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	tokPath := filepath.Join(tmp, TokenizerFile)
	if err := tok.Save(tokPath); err != nil {
		return "", fmt.Errorf("import %s: %w", p.Source, err)
	}
	if tok.VocabSize() != p.Config.VocabSize {
		return "", fmt.Errorf("import %s: tokenizer has %d tokens, the model's vocabulary %d rows", p.Source, tok.VocabSize(), p.Config.VocabSize)
	}
	training, err := json.Marshal(map[string]string{"imported_from": p.Source})
	if err != nil {
		return "", err
	}
	c := &Checkpoint{
		Meta:          Meta{Student: p.Config, TokenizerHash: tok.Hash(), Training: training},
		State:         State{Loader: json.RawMessage("null")},
		Weights:       p.Weights,
		TokenizerPath: tokPath,
	}
	return Save(root, c, 0)
}

// PretrainedConfig reads only the architecture of a Hugging Face directory
// or a GGUF file (IsPretrainedSource).
func PretrainedConfig(path string) (student.Config, error) {
	if IsGGUF(path) {
		f, err := gguf.Open(path)
		if err != nil {
			return student.Config{}, err
		}
		defer f.Close()
		c, err := readGGUFConfig(f)
		if err != nil {
			return student.Config{}, fmt.Errorf("%s: %w", path, err)
		}
		return c, nil
	}
	return ReadHFConfig(path)
}
