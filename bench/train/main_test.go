package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/student"
)

// The bundled shapes are the published Hugging Face config.json files of
// SmolLM2-135M and Qwen2.5-0.5B, read as `init:` reads them. Their parameter
// counts, computed by distill's own model from the shape, must equal the
// published models' counts (SmolLM2-135M 134,515,008; Qwen2.5-0.5B
// 494,032,768, both with tied embeddings), so the shapes cannot drift.
func TestBundledShapesMatchPublishedModels(t *testing.T) {
	cases := []struct {
		dir       string
		params    int64
		arch      string
		vocab     int
		d, layers int
		heads, kv int
		ffn       int
		headDim   int
		ropeBase  float64
		eps       float64
		context   int
		qkvBias   bool
	}{
		{"shapes/smollm2-135m", 134_515_008, student.ArchLlama, 49152, 576, 30, 9, 3, 1536, 64, 1e5, 1e-5, 8192, false},
		{"shapes/qwen2.5-0.5b", 494_032_768, student.ArchQwen2, 151936, 896, 24, 14, 2, 4864, 64, 1e6, 1e-6, 32768, true},
	}
	for _, c := range cases {
		for _, spec := range []string{c.dir, c.dir + "/config.json"} {
			sh, err := loadShape(spec, 0, 512) // -vocab 0: the shape's own vocabulary
			if err != nil {
				t.Fatal(err)
			}
			s := sh.cfg
			if got := s.ParamCount(); got != c.params {
				t.Errorf("%s: %d parameters, want %d", spec, got, c.params)
			}
			if s.ArchName() != c.arch || s.VocabSize != c.vocab || s.DModel != c.d || s.NLayers != c.layers || s.NHeads != c.heads ||
				s.NKVHeads != c.kv || s.FFNDim != c.ffn || s.HeadDim() != c.headDim || s.RopeBase != c.ropeBase || s.NormEps != c.eps ||
				s.ContextLength != c.context || s.UntieEmbed || s.QKVBias() != c.qkvBias || s.ShareBlocks {
				t.Errorf("%s: %+v", spec, s)
			}
			if want := filepath.Base(c.dir); sh.label != want {
				t.Errorf("%s: label %q, want %q", spec, sh.label, want)
			}
		}
	}
}

// -vocab overrides every shape; without it a preset that takes its
// vocabulary from the tokenizer gets the default; SHAPE:N cuts layers.
func TestLoadShapeVocabAndLayers(t *testing.T) {
	sh, err := loadShape("shapes/smollm2-135m:4", 1000, 128)
	if err != nil {
		t.Fatal(err)
	}
	if sh.cfg.VocabSize != 1000 || sh.cfg.NLayers != 4 || sh.label != "smollm2-135m (4 layers)" {
		t.Errorf("override: vocab %d, layers %d, label %q", sh.cfg.VocabSize, sh.cfg.NLayers, sh.label)
	}
	sh, err = loadShape("mobilellm-125m:4", 0, 128)
	if err != nil {
		t.Fatal(err)
	}
	if sh.cfg.VocabSize != defaultVocab || sh.cfg.NLayers != 4 || sh.cfg.DModel != 576 {
		t.Errorf("preset: %+v", sh.cfg)
	}
	sh, err = loadShape("tiny", 0, 4096) // longer than tiny's context_length 512
	if err != nil || sh.cfg.ContextLength != 4096 {
		t.Errorf("tiny at T=4096: %v, context %d", err, sh.cfg.ContextLength)
	}
}

func TestLoadShapeErrorsNameTheShape(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.Mkdir(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "config.json"), []byte(`{"model_type": "gpt2", "vocab_size": 10}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for spec, want := range map[string]string{
		"no-such-preset":             "no embedded preset",
		"tiny:x":                     "SHAPE:layers",
		"tiny:0":                     "SHAPE:layers",
		bad:                          `architecture "gpt2" is not supported`,
		filepath.Join(dir, "x.yaml"): "no such file",
	} {
		_, err := loadShape(spec, 0, 128)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), spec) {
			t.Errorf("%s: %v, want an error naming it and %q", spec, err, want)
		}
	}
}

// The PyTorch peer builds the architecture distill builds: for llama
// (tied), qwen2 (Q/K/V biases) and qwen3 (q/k norms, head_dim ≠ d/heads)
// with an untied head and shared blocks, PyTorch's own parameter count of
// its model equals distill's (runTorchBest refuses a mismatch), and one
// step runs to a finite loss.
func TestTorchPeerBuildsTheSameArchitecture(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the PyTorch peer (python3-torch) three times; skipped under -short")
	}
	testpeers.Python(t)
	base := student.Config{VocabSize: 96, DModel: 64, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 96, ContextLength: 16, RopeBase: 1e4, NormEps: 1e-5}
	qwen2 := base
	qwen2.Arch, qwen2.RopeBase, qwen2.NormEps = student.ArchQwen2, 1e6, 1e-6
	qwen3 := base
	qwen3.Arch, qwen3.HeadDimension, qwen3.UntieEmbed, qwen3.ShareBlocks = student.ArchQwen3, 24, true, true
	for name, c := range map[string]student.Config{"llama": base, "qwen2": qwen2, "qwen3": qwen3} {
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		j := newJob(shape{label: name, cfg: c}, options{batch: 2, seq: 8, steps: 1, warmup: 0})
		r, err := runTorchBest(j, torchSettings(1)[:1], c.ParamCount())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !(r.Loss > 0 && r.Loss < 20) {
			t.Errorf("%s: loss %v", name, r.Loss)
		}
	}
}
