package gate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/distill/release"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/model/student"
)

func TestWriteReleasesManifestVerifies(t *testing.T) {
	dir := t.TempDir()
	cfg := student.Config{VocabSize: 300, DModel: 32, NLayers: 1, NHeads: 2, NKVHeads: 1, FFNDim: 48, ContextLength: 64, RopeBase: 10000, NormEps: 1e-5}
	m, err := export.RandomModel(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Vocab, err = export.SyntheticVocab(300); err != nil {
		t.Fatal(err)
	}
	m.Vocab.ChatTemplate = tokenizer.DefaultChatTemplate
	m.Name, m.Version = "t", "1"
	gg := filepath.Join(dir, "student-q8_0.gguf")
	if err := export.Write(gg, m, export.Options{Type: quant.FileQ8_0}); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	w, err := dataset.Create(data, dataset.Meta{TokenizerHash: "sha256:tok", VocabSize: 300, Teacher: "local-teacher", PolicyHash: "sha256:pol"}, dataset.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	os.MkdirAll(run, 0o755)
	os.WriteFile(filepath.Join(run, "config.json"), []byte(`{"config":{"data":{"train":"`+data+`"}}}`), 0o644)

	rep := &Report{Created: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC), Approved: []string{"student-q8_0"}, Artifacts: []*Artifact{
		{Name: "student-f32", Baseline: true, Approved: true},
		{Name: "student-q8_0", Path: gg, Approved: true, Checks: []Check{{Route: "policy", Name: "quality_drop", Value: 0.01, Op: "<=", Limit: 0.02, Pass: true}}},
		{Name: "student-q4_0", Path: gg, Approved: false},
	}}
	dirs, err := WriteReleases(filepath.Join(dir, "release"), rep, Provenance{TrainRun: run, DistillVersion: "test", LlamaCppBuild: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 1 || !strings.HasSuffix(dirs[0], "student-q8_0") {
		t.Fatalf("release dirs %v", dirs)
	}
	man, err := release.Verify(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	// The release id names the artifact once: distill-student-q8_0-<time>,
	// not distill-student-student-q8_0-<time> (issue 17, item 11).
	if id := man.ID(); !strings.HasPrefix(id, "distill-student-q8_0-") || strings.Contains(id, "student-student") {
		t.Fatalf("release id %q", id)
	}
	if man.Model.Architecture != "llama" || man.Model.QuantType != "q8_0" || man.Model.Parameters != cfg.ParamCount() || man.Model.ContextLength != 64 {
		t.Fatalf("model facts %+v (want %d parameters)", man.Model, cfg.ParamCount())
	}
	p := man.Provenance
	if !strings.HasPrefix(p.TrainingConfigHash, "sha256:") || !strings.HasPrefix(p.DatasetManifestHash, "sha256:") || p.PolicyHash != "sha256:pol" || len(p.Teachers) != 1 {
		t.Fatalf("provenance %+v", p)
	}
	if man.Gate.Thresholds["policy.quality_drop"] != 0.02 || man.Gate.Measured["policy.quality_drop"] != 0.01 {
		t.Fatalf("gate %+v", man.Gate)
	}
	// An Ollama Modelfile beside the GGUF, listed in the manifest: FROM, the
	// chat template in Go-template form, the end-of-turn and EOS stops.
	mf, err := os.ReadFile(filepath.Join(dirs[0], release.ModelfileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FROM ./student-q8_0.gguf\n", "TEMPLATE \"\"\"", `{{ $m.Content }}`, "PARAMETER stop \"<|im_end|>\"\n", "PARAMETER stop \"<|endoftext|>\"\n"} {
		if !strings.Contains(string(mf), want) {
			t.Errorf("Modelfile lacks %q:\n%s", want, mf)
		}
	}
	listed := false
	for _, f := range man.Files {
		listed = listed || f.Path == release.ModelfileName
	}
	if !listed {
		t.Errorf("manifest files %+v do not list the Modelfile", man.Files)
	}
	// The release directory is promotable: its manifest agrees with its gate.json.
	if err := release.CheckGate(dirs[0], man); err != nil {
		t.Fatalf("release written by the gate fails the cross-check: %v", err)
	}
	if _, err := (release.Store{Dir: filepath.Join(dir, "store")}).Promote(dirs[0]); err != nil {
		t.Fatal(err)
	}
}
