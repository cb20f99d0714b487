package train

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/student"
)

// writeByteTokenizer writes a 256-token byte-level BPE tokenizer.json (GPT-2
// byte↔unicode mapping, no merges) and returns its path and hash.
func writeByteTokenizer(t *testing.T) (string, string) {
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

type fakeData struct {
	info    DatasetInfo
	tokPath string
	opened  int
}

func (f *fakeData) Info(dir string) (DatasetInfo, error) {
	d := f.info
	d.Dir = dir
	return d, nil
}
func (f *fakeData) TokenizerPath(string) (string, error) { return f.tokPath, nil }
func (f *fakeData) TrainLoader(string, LoaderOptions) (Loader, error) {
	f.opened++
	return newFakeLoader(1), nil
}
func (f *fakeData) Validation(string, LoaderOptions, int) ([]*batch.Batch, error) {
	return validationSet(2), nil
}

func prepConfig() Config {
	c := testConfig("unused", 4)
	c.Model = ""
	c.Student = &student.Config{DModel: 16, NLayers: 1, NHeads: 2, NKVHeads: 1, FFNDim: 32, ContextLength: 16, RopeBase: 10000, NormEps: 1e-5}
	return c
}

func TestPrepareRefusesUnusableDataBeforeTraining(t *testing.T) {
	tokPath, hash := writeByteTokenizer(t)
	built := 0
	build := func(s Setup, seed int64) (Model, error) { built++; return BuildStudent(s, seed) }

	good := DatasetInfo{TokenizerHash: hash, VocabSize: 256, TopK: 8}
	cfg := prepConfig()
	cfg.OutDir = t.TempDir()
	cfg.Loss = loss.Config{Alpha: 0.5, Temperature: 2}
	d := &fakeData{info: good, tokPath: tokPath}
	s, err := Prepare(cfg, d, build, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Student.VocabSize != 256 || s.TokenizerHash != hash || built != 1 || s.TokenizerPath != tokPath {
		t.Fatalf("setup: %+v built %d", s.Student, built)
	}

	other := good
	other.TokenizerHash = "sha256:someone-else"
	d = &fakeData{info: other, tokPath: tokPath}
	if _, err := Prepare(cfg, d, build, nil); err == nil || !strings.Contains(err.Error(), "sha256:someone-else") || !strings.Contains(err.Error(), hash) {
		t.Fatalf("tokenizer mismatch: %v", err)
	}
	textOnly := good
	textOnly.TopK = 0
	d = &fakeData{info: textOnly, tokPath: tokPath}
	if _, err := Prepare(cfg, d, build, nil); err == nil || !strings.Contains(err.Error(), "logprobs") {
		t.Fatalf("KD on a text-only dataset: %v", err)
	}
	if built != 1 || d.opened != 0 {
		t.Fatalf("refused runs built a model (%d) or opened a loader (%d)", built, d.opened)
	}
	// The CE-only baseline accepts the text-only dataset.
	cfg.Loss.Alpha = 0
	if _, err := Prepare(cfg, d, build, nil); err != nil {
		t.Fatalf("CE-only: %v", err)
	}
	// An explicit tokenizer that is not the dataset's is refused too.
	cfg.Tokenizer = filepath.Join(t.TempDir(), "missing.json")
	if _, err := Prepare(cfg, d, build, nil); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("missing tokenizer: %v", err)
	}
}
