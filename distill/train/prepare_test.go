package train

import (
	"errors"
	"github.com/distill-ml/distill/internal/testmodel"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/student"
)

// writeByteTokenizer writes a 256-token byte-level tokenizer (see testmodel.ByteTokenizer).
func writeByteTokenizer(t *testing.T) (string, string) { return testmodel.ByteTokenizer(t) }

type fakeData struct {
	info               DatasetInfo
	tokPath            string
	opened             int
	trainOpts, valOpts LoaderOptions // as last asked for
}

func (f *fakeData) Info(dir string) (DatasetInfo, error) {
	d := f.info
	d.Dir = dir
	return d, nil
}
func (f *fakeData) TokenizerPath(string) (string, error) { return f.tokPath, nil }
func (f *fakeData) TrainLoader(_ string, o LoaderOptions) (Loader, error) {
	f.opened++
	f.trainOpts = o
	return newFakeLoader(1), nil
}
func (f *fakeData) Validation(_ string, o LoaderOptions, _ int) ([]*batch.Batch, error) {
	f.valOpts = o
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

	good := DatasetInfo{TokenizerHash: hash, VocabSize: 256, TopK: 8, TailTemperature: 2}
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
	untempered := good
	untempered.TailTemperature = 0
	d = &fakeData{info: untempered, tokPath: tokPath}
	if _, err := Prepare(cfg, d, build, nil); err == nil || !strings.Contains(err.Error(), "loss.temperature = 2 needs the teacher's tail tempered at 2") {
		t.Fatalf("KD at T=2 without a tempered tail: %v", err)
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

// Issue 16: a student with d_model: 65536 (about 69 G parameters, 1 TiB to
// train) is refused as a config error before the model is built; building
// it was fatal error: out of memory.
func TestPrepareRefusesStudentThatCannotFitMemory(t *testing.T) {
	tokPath, hash := writeByteTokenizer(t)
	built := 0
	build := func(Setup, int64) (Model, error) { built++; return nil, errors.New("the test does not build models") }
	cfg := prepConfig()
	cfg.OutDir = t.TempDir()
	cfg.Student = &student.Config{DModel: 65536, NLayers: 1, NHeads: 64, NKVHeads: 64, FFNDim: 4 * 65536, ContextLength: 16, RopeBase: 10000, NormEps: 1e-5}
	d := &fakeData{info: DatasetInfo{TokenizerHash: hash, VocabSize: 256}, tokPath: tokPath}
	_, err := Prepare(cfg, d, build, nil)
	if err == nil || !strings.Contains(err.Error(), "d_model (65536)") || !strings.Contains(err.Error(), "available") {
		t.Fatalf("err %v, want a memory refusal naming d_model", err)
	}
	if built != 0 || d.opened != 0 {
		t.Fatalf("the refused student was built (%d) or its loader opened (%d)", built, d.opened)
	}
}

// train.recompute: blocks reaches the student Prepare builds (the default
// none does not recompute).
func TestPrepareBuildsRecomputingStudent(t *testing.T) {
	tokPath, hash := writeByteTokenizer(t)
	for _, mode := range []string{RecomputeNone, RecomputeBlocks} {
		cfg := prepConfig()
		cfg.OutDir = t.TempDir()
		cfg.Loss = loss.Config{Alpha: 0, Temperature: 1}
		cfg.Train.Recompute = mode
		s, err := Prepare(cfg, &fakeData{info: DatasetInfo{TokenizerHash: hash, VocabSize: 256}, tokPath: tokPath}, BuildStudent, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := s.Model.(*student.Model)
		if !ok {
			t.Fatalf("BuildStudent made a %T", s.Model)
		}
		if m.Recompute() != (mode == RecomputeBlocks) {
			t.Errorf("train.recompute: %s built a student with Recompute() = %t", mode, m.Recompute())
		}
	}
}
