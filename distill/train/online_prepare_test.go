package train

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/dataset/datasettest"
	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/distill/onpolicy"
	"github.com/distill-ml/distill/distill/policy"
	"github.com/distill-ml/distill/internal/testmodel"
	"github.com/distill-ml/distill/loss"
)

// Prepare loads teacher.local.model, accepts a text-only dataset for KD
// when the teacher is online, and refuses a teacher whose tokenizer is not
// the student's, naming both.
func TestPrepareLoadsTheOnlineTeacher(t *testing.T) {
	tok := testmodel.Tokenizer(t)
	tokPath := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := tok.Save(tokPath); err != nil {
		t.Fatal(err)
	}
	cfg := prepConfig()
	cfg.OutDir = t.TempDir()
	cfg.Loss = loss.Config{Alpha: 0.5, Temperature: 2}
	cfg.Teacher.Local = onpolicy.LocalConfig{Model: testmodel.GGUF(t, tok, "teacher.gguf", 1), Dense: true}
	cfg.Teacher.TopK = 8
	textOnly := &fakeData{info: DatasetInfo{TokenizerHash: tok.Hash(), VocabSize: tok.VocabSize()}, tokPath: tokPath}
	s, err := Prepare(cfg, textOnly, BuildStudent, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Teacher == nil || s.EOS != tok.Special().EOS {
		t.Fatalf("setup: teacher %v, eos %d", s.Teacher, s.EOS)
	}
	other, err := tokenizer.TrainStrings([]string{"Another corpus, another tokenizer: the ids mean other things."}, tokenizer.TrainConfig{VocabSize: 300}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Teacher.Local.Model = testmodel.GGUF(t, other, "other.gguf", 1)
	if _, err := Prepare(cfg, textOnly, BuildStudent, nil); err == nil || !strings.Contains(err.Error(), other.Hash()) || !strings.Contains(err.Error(), tok.Hash()) {
		t.Fatalf("teacher with another tokenizer: %v", err)
	}
	// Without the online teacher the same text-only dataset cannot do KD.
	cfg.Teacher.Local.Model = ""
	if _, err := Prepare(cfg, textOnly, BuildStudent, nil); err == nil || !strings.Contains(err.Error(), "logprobs") {
		t.Fatalf("KD on a text-only dataset without a teacher: %v", err)
	}
}

func remoteConfig() *teacher.OpenAIConfig {
	return &teacher.OpenAIConfig{Name: "cloud-teacher", BaseURL: "http://127.0.0.1:1/v1", Model: "m", Mode: "completion", Timeout: time.Minute}
}

func TestOnPolicyConfigRefusals(t *testing.T) {
	good := func() Config {
		c := testConfig("out", 4)
		c.Data.Packing = "whole"
		c.Loss.Alpha = 0.5
		c.Teacher.Local = onpolicy.LocalConfig{Model: "t.gguf", Dense: true}
		c.Teacher.TopK = 8
		c.Train.OnPolicy = onpolicy.Config{Lambda: 0.5, MaxNewTokens: 16, Temperature: 1, TopP: 1, Divergence: onpolicy.ReverseKL, Beta: 0.5, Sampler: "gguf:q4_k_m", RefreshEvery: 1}
		return c
	}
	if err := good().Validate(); err != nil {
		t.Fatal(err)
	}
	remote := good()
	remote.Teacher.Local.Model, remote.Teacher.OpenAI, remote.Policy, remote.Loss.Temperature = "", remoteConfig(), "policy-default", 1
	if err := remote.Validate(); err != nil {
		t.Fatalf("remote teacher: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no teacher", func(c *Config) { c.Teacher.Local.Model = "" }, "needs a teacher"},
		{"packed rows", func(c *Config) { c.Data.Packing = "concat" }, "packing: whole"},
		{"lambda", func(c *Config) { c.Train.OnPolicy.Lambda = 1.5 }, "lambda"},
		{"divergence", func(c *Config) { c.Train.OnPolicy.Divergence = "tvd" }, "divergence"},
		{"jsd beta", func(c *Config) { c.Train.OnPolicy.Divergence, c.Train.OnPolicy.Beta = onpolicy.JSD, 1 }, "beta"},
		{"sampler", func(c *Config) { c.Train.OnPolicy.Sampler = "llama" }, "gguf:<type>"},
		{"sampler type", func(c *Config) { c.Train.OnPolicy.Sampler = "gguf:q9_x" }, "unknown type"},
		{"refresh", func(c *Config) { c.Train.OnPolicy.RefreshEvery = 0 }, "refresh_every"},
		{"top_p", func(c *Config) { c.Train.OnPolicy.TopP = 0 }, "top_p"},
		{"hidden states", func(c *Config) {
			c.Loss.Gamma, c.Loss.HiddenMap, c.Loss.TeacherHiddenDim = 1, []loss.LayerPair{{Student: 1, Teacher: 1}}, 8
		}, "hidden states"},
		{"idle teacher", func(c *Config) { c.Loss.Alpha, c.Train.OnPolicy.Lambda = 0, 0 }, "never be asked"},
		{"top_k", func(c *Config) { c.Teacher.TopK = 0 }, "top_k"},
		{"two teachers", func(c *Config) { c.Teacher.OpenAI = remoteConfig() }, "exclusive"},
		{"remote without policy", func(c *Config) { c.Teacher.Local.Model, c.Teacher.OpenAI, c.Loss.Temperature = "", remoteConfig(), 1 }, "needs policy"},
		{"remote at T=2", func(c *Config) {
			c.Teacher.Local.Model, c.Teacher.OpenAI, c.Policy, c.Loss.Temperature = "", remoteConfig(), "policy-default", 2
		}, "loss.temperature: 1"},
		{"remote chat mode", func(c *Config) {
			c.Teacher.Local.Model, c.Teacher.OpenAI, c.Policy, c.Loss.Temperature = "", remoteConfig(), "policy-default", 1
			c.Teacher.OpenAI.Mode = "chat"
		}, "mode must be completion"},
	} {
		c := good()
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// Rows go to an online teacher only where the policy lets their class go:
// a local-only class never reaches a remote teacher, and a row without a
// class needs teacher.default_class.
func TestCheckSendAppliesThePolicyToTrainingRows(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	var recs []*dataset.Record
	for i, prov := range []string{`{"class":"public"}`, `{"class":"sensitive"}`, ""} {
		recs = append(recs, &dataset.Record{Split: "train", Source: "s", Prompt: fmt.Sprint("p", i), Completion: "x",
			Tokens: []int32{1, 2, 3}, PromptLen: 1, Provenance: prov})
	}
	datasettest.Write(t, dir, dataset.Meta{TokenizerHash: "sha256:t", VocabSize: 10}, dataset.WriterOptions{}, recs)
	pol, err := policy.Load("policy-default")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSend(dir, pol, "local-teacher", "internal"); err != nil {
		t.Fatalf("local teacher, every class allowed: %v", err)
	}
	err = CheckSend(dir, pol, "cloud-teacher", "internal")
	if err == nil || !strings.Contains(err.Error(), "row 1") || !strings.Contains(err.Error(), `class "sensitive" is local-only`) {
		t.Fatalf("sensitive row to a remote teacher: %v", err)
	}
	err = CheckSend(dir, pol, "local-teacher", "")
	if err == nil || !strings.Contains(err.Error(), "row 2") || !strings.Contains(err.Error(), "default_class") {
		t.Fatalf("row without a class: %v", err)
	}
}
