package train

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/student"
)

// Every student architecture and training config shipped in configs/ must
// load strictly and validate. (Other helpers' configs in the same directory —
// collection, policy, quickstart — are tested by their owners.)
func TestEveryShippedConfigLoads(t *testing.T) {
	covered := map[string]bool{}
	for _, name := range configs.Presets() {
		isTrain, err := IsTrainingConfig(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == DefaultsPreset {
			continue // the defaults name no model or data (TestDefaultsAreTheEmbeddedYAML)
		}
		if isTrain {
			covered[name] = true
			c, err := Load(name)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if _, err := c.ResolveStudent(4096); err != nil {
				t.Fatalf("%s: model %q: %v", name, c.Model, err)
			}
			continue
		}
		raw, _ := configs.Preset(name)
		if !strings.Contains(string(raw), "\nd_model:") {
			continue // not a student architecture
		}
		covered[name] = true
		s, err := LoadStudent(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.VocabSize != 0 {
			t.Errorf("%s: preset fixes vocab_size %d; presets take it from the tokenizer", name, s.VocabSize)
		}
		s.VocabSize = 4096
		if err := s.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, want := range []string{"tiny", "mobilellm-125m", "mobilellm-350m", "train-kd", "train-ce"} {
		if !covered[want] {
			t.Errorf("preset %s missing or not recognised (have %v)", want, configs.Presets())
		}
	}
}

// The architectures the issue fixes, and the CE baseline being CE-only.
func TestPresetValues(t *testing.T) {
	want := map[string][5]int{ // layers, d, heads, kv heads, ffn
		"mobilellm-125m": {30, 576, 9, 3, 1536},
		"mobilellm-350m": {32, 960, 15, 5, 2560},
		"tiny":           {8, 256, 4, 2, 768},
	}
	for name, w := range want {
		s, err := LoadStudent(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := [5]int{s.NLayers, s.DModel, s.NHeads, s.NKVHeads, s.FFNDim}; got != w {
			t.Errorf("%s: %v, want %v", name, got, w)
		}
	}
	ce, err := Load("train-ce")
	if err != nil {
		t.Fatal(err)
	}
	if ce.Loss.Alpha != 0 || ce.Loss.Gamma != 0 || ce.Model != "tiny" {
		t.Fatalf("train-ce: %+v", ce.Loss)
	}
	kd, _ := Load("train-kd")
	if kd.Loss.Alpha <= 0 || kd.Model != "tiny" {
		t.Fatalf("train-kd: %+v", kd.Loss)
	}
	// Apart from alpha and out_dir, the two are the same run.
	kd.Loss.Alpha, kd.OutDir = 0, ce.OutDir
	if kd.Train != ce.Train || kd.Data != ce.Data || kd.Loss.Temperature != ce.Loss.Temperature {
		t.Fatalf("train-kd and train-ce differ beyond alpha/out_dir")
	}
}

func TestConfigStrictAndValidated(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "run.yaml")
	os.WriteFile(p, []byte("model: tiny\ndata:\n  train: a\n  validation: b\ntrain:\n  stepz: 3\n"), 0o644)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p+":6") || !strings.Contains(err.Error(), "stepz") {
		t.Fatalf("unknown key: %v", err)
	}
	os.WriteFile(p, []byte("model: tiny\ndata:\n  train: a\n  validation: b\n"), 0o644)
	c, err := Load(p, "train.lr=3e-4", "loss.alpha=0")
	if err != nil {
		t.Fatal(err)
	}
	if c.Train.LR != 3e-4 || c.Loss.Alpha != 0 || c.Train.Steps != mustDefaults().Train.Steps {
		t.Fatalf("overrides/defaults: %+v", c.Train)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		set  string
		want string
	}{
		{"train.nan_policy=maybe", "nan_policy"},
		{"train.recompute=all", "train.recompute"},
		{"train.batch_size=0", "batch_size"},
		{"train.warmup=5000", "warmup"},
		{"train.lr=0", "lr"},
		{"loss.alpha=2", "alpha"},
		{"train.beta2=1", "beta2"},
		{"train.accumulation=0", "accumulation"},
		{"data.eval_batches=0", "eval_batches"},
	}
	for _, b := range bad {
		c, err := Load(p, b.set)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: %v", b.set, err)
		}
	}
	c, _ = Load(p)
	c.Train.SeqLen = 4096
	if _, err := c.ResolveStudent(100); err == nil || !strings.Contains(err.Error(), "context_length") {
		t.Fatalf("seq_len beyond context: %v", err)
	}
	c.Train.SeqLen = 64
	c.Student = &student.Config{VocabSize: 50}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "exclusive") {
		t.Fatalf("model + student: %v", err)
	}
}

func TestCheckDatasetRefusals(t *testing.T) {
	s := fakeStudent()
	ok := DatasetInfo{Dir: "ds", TokenizerHash: "sha256:a", VocabSize: 16, TopK: 32, HiddenLayers: []int{6, 12}, HiddenDim: 64, TailTemperature: 2}
	kd := loss.Config{Alpha: 0.5, Temperature: 2}
	if err := CheckDataset(ok, "sha256:a", s, kd); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		d    DatasetInfo
		lc   loss.Config
		want []string
	}{
		{"tokenizer", func() DatasetInfo { d := ok; d.TokenizerHash = "sha256:b"; return d }(), kd, []string{"ds", "sha256:b", "sha256:a"}},
		{"vocab", func() DatasetInfo { d := ok; d.VocabSize = 17; return d }(), kd, []string{"vocab_size is 17"}},
		{"no logprobs", func() DatasetInfo { d := ok; d.TopK = 0; return d }(), kd, []string{"logprobs", "alpha"}},
		{"no hidden", func() DatasetInfo { d := ok; d.HiddenLayers = nil; return d }(),
			loss.Config{Gamma: 1, Temperature: 1, HiddenMap: []loss.LayerPair{{Student: 1, Teacher: 6}}, TeacherHiddenDim: 64}, []string{"hidden states", "gamma"}},
		{"wrong layer", ok, loss.Config{Gamma: 1, Temperature: 1, HiddenMap: []loss.LayerPair{{Student: 1, Teacher: 7}}, TeacherHiddenDim: 64}, []string{"teacher layer 7"}},
		{"no tempered tail at T=2", func() DatasetInfo { d := ok; d.TailTemperature = 0; return d }(), kd,
			[]string{"dataset ds", "loss.temperature = 2", "no tempered tail", "loss.temperature: 1", "local teacher and kd_temperature: 2"}},
		{"tail tempered at another T", func() DatasetInfo { d := ok; d.TailTemperature = 4; return d }(), kd,
			[]string{"tempered at 4", "kd_temperature: 2"}},
		{"wrong dim", ok, loss.Config{Gamma: 1, Temperature: 1, HiddenMap: []loss.LayerPair{{Student: 1, Teacher: 6}}, TeacherHiddenDim: 32}, []string{"teacher_hidden_dim 32"}},
	}
	for _, c := range cases {
		err := CheckDataset(c.d, "sha256:a", s, c.lc)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", c.name, err, w)
			}
		}
	}
	// At T = 1, or CE-only at any T, the tempered tail is not needed.
	plain := ok
	plain.TailTemperature = 0
	if err := CheckDataset(plain, "sha256:a", s, loss.Config{Alpha: 0.5, Temperature: 1}); err != nil {
		t.Fatalf("KD at T=1 without a tempered tail: %v", err)
	}
	if err := CheckDataset(plain, "sha256:a", s, loss.Config{Alpha: 0, Temperature: 2}); err != nil {
		t.Fatalf("CE-only at T=2 without a tempered tail: %v", err)
	}
	// CE-only does not need logprobs.
	ce := ok
	ce.TopK = 0
	if err := CheckDataset(ce, "sha256:a", s, loss.Config{Alpha: 0, Temperature: 1}); err != nil {
		t.Fatalf("CE-only on a text dataset: %v", err)
	}
}

// yamlKeys lists the dotted key paths of a decoded YAML mapping.
func yamlKeys(prefix string, v any, into map[string]bool) {
	m, ok := v.(map[string]any)
	if !ok {
		into[prefix] = true
		return
	}
	for k, sub := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		yamlKeys(p, sub, into)
	}
}

// The one source of the training config's defaults is the embedded
// train-defaults.yaml: it sets every key of Config, and a file that sets
// nothing gets its values.
func TestDefaultsAreTheEmbeddedYAML(t *testing.T) {
	raw, err := configs.Preset("train-defaults")
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	d, err := Defaults()
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]any
	b, _ := yaml.Marshal(d)
	if err := yaml.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	have, want := map[string]bool{}, map[string]bool{}
	yamlKeys("", file, have)
	yamlKeys("", all, want)
	delete(want, "student") // inline architecture, exclusive with model: no default
	for k := range want {
		if !have[k] {
			t.Errorf("train-defaults.yaml does not set %s", k)
		}
	}
	p := filepath.Join(t.TempDir(), "run.yaml")
	os.WriteFile(p, []byte("model: tiny\n"), 0o644)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	tr := file["train"].(map[string]any)
	if c.Train.Steps != tr["steps"].(int) || c.Train.Beta2 != tr["beta2"].(float64) || c.OutDir != file["out_dir"].(string) ||
		c.Loss.Temperature != file["loss"].(map[string]any)["temperature"].(float64) {
		t.Fatalf("a file setting only model: %+v", c)
	}
}

// The student is checked with its loss where it is resolved, once: a
// hidden_map pair beyond the student's depth is refused there, before any
// data is read (it used to surface only when the model was built, or in
// the dataset check when gamma > 0).
func TestResolveStudentChecksItWithTheLoss(t *testing.T) {
	c := testConfig(t.TempDir(), 4)
	c.Model = "tiny"
	c.Loss.HiddenMap = []loss.LayerPair{{Student: 99, Teacher: 1}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ResolveStudent(256); err == nil || !strings.Contains(err.Error(), "hidden_map[0] uses student layer 99") {
		t.Fatalf("student layer beyond the depth: %v", err)
	}
	c.Loss.HiddenMap[0].Student = 8
	spec, err := c.ResolveStudent(256)
	if err != nil || spec.Config().VocabSize != 256 {
		t.Fatalf("tiny with 256 tokens: %+v %v", spec.Config(), err)
	}
}

// Run validates a Setup that Prepare did not make: a bad value is an error
// naming the key, not a panic (eval_every 0 would divide by zero).
func TestRunValidatesHandMadeSetup(t *testing.T) {
	cfg := testConfig(t.TempDir(), 4)
	cfg.Train.EvalEvery = 0
	s, _ := testSetup(cfg, 1)
	if _, err := Run(context.Background(), s); err == nil || !strings.Contains(err.Error(), "eval_every") {
		t.Fatalf("eval_every 0: %v", err)
	}
	// BuildStudent builds only the student Prepare checked.
	if _, err := BuildStudent(s, 1); err == nil || !strings.Contains(err.Error(), "Check") {
		t.Fatalf("BuildStudent of a hand-made Setup: %v", err)
	}
}
