package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/internal/atomicfile"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/checkpoint"
	"go.yaml.in/yaml/v3"
)

// makeHFStudent writes a random Hugging Face model of arch (the PyTorch
// script of model/checkpoint) with the 256-token byte tokenizer tok beside it.
func makeHFStudent(t *testing.T, arch, tok string, seed string) string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(testpeers.RepoRoot(t), "model", "checkpoint", "testdata", "hf_reference.py"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), arch)
	testpeers.RunPython(t, string(script), nil, "make", arch, dir, seed, "256")
	if err := atomicfile.Copy(tok, filepath.Join(dir, checkpoint.TokenizerFile), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// `distill train --config train-kd --set init=<hf dir>` distills into a
// pretrained Llama, Qwen2 and Qwen3 student: the architecture comes from the
// model, its weights start the run (the step-0 held-out loss is the imported
// model's, the same whether read from the directory or from `model import`'s
// checkpoint), and two KD steps train.
func TestTrainKDFromHFModel(t *testing.T) {
	if testing.Short() {
		t.Skip("trains pretrained students made with PyTorch: not in -short")
	}
	tok, data := writeKDInputs(t)
	for i, arch := range []string{"llama", "qwen2", "qwen3"} {
		t.Run(arch, func(t *testing.T) {
			hf := makeHFStudent(t, arch, tok, string(rune('1'+i)))
			run := func(init string) float64 {
				out := filepath.Join(t.TempDir(), "run")
				code, stdout, stderr := runCLI(t, "train", "--config", "train-kd", "--set", "init="+init,
					"--set", "data.train="+data, "--set", "data.validation="+data, "--set", "tokenizer="+tok,
					"--set", "train.steps=2", "--set", "train.batch_size=2", "--set", "train.seq_len=32",
					"--set", "train.warmup=1", "--set", "train.eval_every=2", "--set", "data.eval_batches=1",
					"--set", "out_dir="+out)
				if code != 0 {
					t.Fatalf("train init=%s: exit %d\n%s", init, code, stderr)
				}
				if !strings.Contains(stdout, "trained 2 steps") || !strings.Contains(stderr, "initialized from") {
					t.Fatalf("train output:\n%s\n%s", stdout, stderr)
				}
				var meta checkpoint.Meta
				b, err := os.ReadFile(filepath.Join(out, "checkpoints", "step-00000002", "config.json"))
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(b, &meta); err != nil {
					t.Fatal(err)
				}
				want, err := checkpoint.ReadHFConfig(hf)
				if err != nil {
					t.Fatal(err)
				}
				if meta.Student != want {
					t.Fatalf("trained student %+v, want the imported %+v", meta.Student, want)
				}
				for _, m := range readMetrics(t, out) {
					if m.Kind == "eval" && m.Step == 0 {
						return m.Loss
					}
				}
				t.Fatal("no step-0 evaluation")
				return 0
			}
			fromDir := run(hf)

			ck := filepath.Join(t.TempDir(), "imported")
			code, stdout, stderr := runCLI(t, "model", "import", hf, "--out", ck)
			if code != 0 || !strings.Contains(stdout, "step-00000000") {
				t.Fatalf("model import: exit %d\n%s\n%s", code, stdout, stderr)
			}
			// A checkpoint is not a pretrained source: the run's model must
			// match it, so give the imported architecture inline.
			fromCk := runInline(t, ck, data, tok)
			if math.Float64bits(fromDir) != math.Float64bits(fromCk) {
				t.Fatalf("step-0 loss %v from the directory, %v from the imported checkpoint", fromDir, fromCk)
			}
		})
	}
}

// runInline trains 2 steps from the imported checkpoint ck with its own
// architecture as the run's model (a student YAML file), and returns the
// step-0 held-out loss.
func runInline(t *testing.T, ck, data, tok string) float64 {
	t.Helper()
	p, err := checkpoint.OpenPretrained(ck)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(p.Config)
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(t.TempDir(), "student.yaml")
	if err := os.WriteFile(model, y, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	code, _, stderr := runCLI(t, "train", "--config", "train-kd", "--set", "model="+model, "--set", "init="+ck,
		"--set", "data.train="+data, "--set", "data.validation="+data, "--set", "tokenizer="+tok,
		"--set", "train.steps=2", "--set", "train.batch_size=2", "--set", "train.seq_len=32",
		"--set", "train.warmup=1", "--set", "train.eval_every=2", "--set", "data.eval_batches=1", "--set", "out_dir="+out)
	if code != 0 {
		t.Fatalf("train from the imported checkpoint: exit %d\n%s", code, stderr)
	}
	for _, m := range readMetrics(t, out) {
		if m.Kind == "eval" && m.Step == 0 {
			return m.Loss
		}
	}
	t.Fatal("no step-0 evaluation")
	return 0
}

// `model import` and `export --format hf|gguf` hand a model through every
// form: HF → checkpoint → HF is bit-identical, checkpoint → GGUF (F32) →
// `model import` gives the same weights, and an unsupported architecture is
// one error listing the supported ones.
func TestModelImportExportRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("makes models with PyTorch: not in -short")
	}
	tok, _ := writeByteTokenizer(t)
	hf := makeHFStudent(t, "qwen3", tok, "7")
	ck := filepath.Join(t.TempDir(), "ck")
	if code, _, stderr := runCLI(t, "model", "import", hf, "--out", ck); code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	out := filepath.Join(t.TempDir(), "hf-out")
	if code, stdout, stderr := runCLI(t, "export", "--checkpoint", ck, "--format", "hf", "--out", out); code != 0 || !strings.Contains(stdout, "qwen3") {
		t.Fatalf("export hf: exit %d %s %s", code, stdout, stderr)
	}
	src, _, err := checkpoint.ReadSafetensorsFile(filepath.Join(hf, checkpoint.HFWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := checkpoint.ReadSafetensorsFile(filepath.Join(out, checkpoint.HFWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]float32{}
	for _, s := range src {
		byName[s.Name] = s.Data
	}
	if len(got) != len(src) {
		t.Fatalf("%d tensors exported, source %d", len(got), len(src))
	}
	for _, g := range got {
		s := byName[g.Name]
		for i := range g.Data {
			if math.Float32bits(g.Data[i]) != math.Float32bits(s[i]) {
				t.Fatalf("%s [%d]: %g, source %g", g.Name, i, g.Data[i], s[i])
			}
		}
	}

	gg := filepath.Join(t.TempDir(), "m.gguf")
	if code, _, stderr := runCLI(t, "export", "--checkpoint", ck, "--type", "f32", "--out", gg); code != 0 {
		t.Fatalf("export gguf: %s", stderr)
	}
	ck2 := filepath.Join(t.TempDir(), "ck2")
	if code, _, stderr := runCLI(t, "model", "import", gg, "--out", ck2); code != 0 {
		t.Fatalf("import gguf: %s", stderr)
	}
	a, err := checkpoint.OpenPretrained(ck)
	if err != nil {
		t.Fatal(err)
	}
	b, err := checkpoint.OpenPretrained(ck2)
	if err != nil {
		t.Fatal(err)
	}
	if a.TokenizerHash != b.TokenizerHash {
		t.Fatalf("tokenizer %s after the GGUF, %s before", b.TokenizerHash, a.TokenizerHash)
	}
	for i, w := range a.Weights {
		for j := range w.Data {
			if math.Float32bits(w.Data[j]) != math.Float32bits(b.Weights[i].Data[j]) {
				t.Fatalf("%s [%d] changed through the GGUF", w.Name, j)
			}
		}
	}

	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "config.json"), []byte(`{"model_type":"gemma3","architectures":["Gemma3ForCausalLM"]}`), 0o644)
	code, _, stderr := runCLI(t, "model", "import", bad, "--out", t.TempDir())
	if code != 1 || !strings.Contains(stderr, "gemma3") || !strings.Contains(stderr, "supported: llama, qwen2, qwen3") {
		t.Fatalf("unsupported architecture: exit %d %q", code, stderr)
	}
}

// `model info` reads a Hugging Face directory's architecture.
func TestModelInfoOfHFDirectory(t *testing.T) {
	dir := t.TempDir()
	cfg := `{"architectures":["Qwen3ForCausalLM"],"model_type":"qwen3","vocab_size":1000,"hidden_size":64,
"intermediate_size":128,"num_hidden_layers":3,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":32,
"max_position_embeddings":512,"rope_theta":1000000,"rms_norm_eps":1e-6,"tie_word_embeddings":true,"hidden_act":"silu"}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "model", "info", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// Parameters by hand: embedding 1000·64; per block 2 norms (128), Q 64·128,
	// K and V 64·64 each, O 128·64, q/k norms 2·32, FFN 3·64·128; final norm 64.
	const want = 1000*64 + 3*(128+64*128+2*64*64+128*64+64+3*64*128) + 64
	if !strings.Contains(stdout, "arch         qwen3") || !strings.Contains(stdout, "(head 32)") || !strings.Contains(stdout, commas(want)) {
		t.Fatalf("model info:\n%s\nwant qwen3, head 32, %s parameters", stdout, commas(want))
	}
}
