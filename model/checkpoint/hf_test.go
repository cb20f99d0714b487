package checkpoint

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/student"
)

// hfReferenceScript is the test-side PyTorch script that makes Hugging Face
// model directories and runs transformers' equations on them.
func hfReferenceScript(t testing.TB) string {
	b, err := os.ReadFile(filepath.Join("testdata", "hf_reference.py"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// makeHFModel writes a random tiny model of arch into a new directory
// (shards > 1: sharded with an index).
func makeHFModel(t testing.TB, arch string, seed, vocab, shards int) string {
	dir := filepath.Join(t.TempDir(), arch)
	testpeers.RunPython(t, hfReferenceScript(t), nil, "make", arch, dir, strconv.Itoa(seed), strconv.Itoa(vocab), strconv.Itoa(shards))
	return dir
}

type hfForward struct {
	Logits []float64            `json:"logits"`
	Loss   float64              `json:"loss"`
	Grads  map[string][]float64 `json:"grads"`
}

// hfReferenceForward runs the PyTorch reference on dir: logits for tokens
// [B][T] and, with targets, the mean cross-entropy and its gradients.
func hfReferenceForward(t testing.TB, dir string, tokens, targets [][]int32) hfForward {
	req, _ := json.Marshal(map[string]any{"tokens": tokens, "targets": targets})
	out := testpeers.RunPython(t, hfReferenceScript(t), req, "forward", dir)
	var f hfForward
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatalf("reference output: %v", err)
	}
	return f
}

// studentFrom builds a CE-only student holding p's weights.
func studentFrom(t testing.TB, p *Pretrained) *student.Model {
	m, err := student.New(p.Config, loss.Config{Alpha: 0, Temperature: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range p.Weights {
		dst := m.Param(w.Name)
		if dst == nil || len(dst.Data) != len(w.Data) {
			t.Fatalf("student has no parameter %s of %d values", w.Name, len(w.Data))
		}
		copy(dst.Data, w.Data)
	}
	if len(m.Params()) != len(p.Weights) {
		t.Fatalf("student has %d parameters, the import %d", len(m.Params()), len(p.Weights))
	}
	return m
}

// closeTo reports the largest |got − want| against tol·max|want|.
func closeTo(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, reference %d", what, len(got), len(want))
	}
	var maxAbs, maxDiff float64
	worst := 0
	for i := range want {
		maxAbs = math.Max(maxAbs, math.Abs(want[i]))
		if d := math.Abs(float64(got[i]) - want[i]); d > maxDiff {
			maxDiff, worst = d, i
		}
	}
	if maxDiff > tol*maxAbs+1e-7 {
		t.Errorf("%s: max |diff| %.3g at %d (got %g, reference %g), allowed %.3g", what, maxDiff, worst, got[worst], want[worst], tol*maxAbs+1e-7)
	}
}

// TestHFImportAgreesWithPyTorch imports random Llama (llama3 rope scaling,
// untied head), Qwen2 (Q/K/V biases, tied, sharded) and Qwen3 (q/k norm,
// head_dim 16 ≠ 32/4) models made by the PyTorch script and requires the
// student's logits and one CE step's gradients to match transformers'
// equations within 1e-4 of the largest reference value.
func TestHFImportAgreesWithPyTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the PyTorch reference: not in -short")
	}
	const vocab, B, T = 50, 2, 7
	for i, arch := range []string{"llama", "qwen2", "qwen3"} {
		t.Run(arch, func(t *testing.T) {
			shards := 1
			if arch == "qwen2" {
				shards = 2
			}
			dir := makeHFModel(t, arch, 10+i, vocab, shards)
			p, err := ReadHF(dir)
			if err != nil {
				t.Fatal(err)
			}
			tokens, targets := make([][]int32, B), make([][]int32, B)
			flat := make([]int32, 0, B*T)
			var flatTargets []int32
			for b := range tokens {
				for j := 0; j < T; j++ {
					tokens[b] = append(tokens[b], int32((7*b+3*j*j+1)%vocab))
					targets[b] = append(targets[b], int32((5*b+11*j+2)%vocab))
				}
				flat, flatTargets = append(flat, tokens[b]...), append(flatTargets, targets[b]...)
			}
			ref := hfReferenceForward(t, dir, tokens, targets)
			m := studentFrom(t, p)
			logits, err := m.Logits(flat, B, T)
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, "logits", logits, ref.Logits, 1e-4)

			mask := make([]float32, B*T)
			for i := range mask {
				mask[i] = 1
			}
			terms, err := m.ForwardBackward(&batch.Batch{B: B, T: T, Tokens: flat, Targets: flatTargets, LossMask: mask, TeacherValid: make([]float32, B*T)})
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(terms.CE-ref.Loss) > 1e-4*math.Abs(ref.Loss) {
				t.Errorf("CE %.7f, reference %.7f", terms.CE, ref.Loss)
			}
			for _, mp := range HFTensors(p.Config) {
				g, ok := ref.Grads[mp.HF]
				if !ok {
					t.Fatalf("reference has no gradient for %s", mp.HF)
				}
				want := g
				if mp.PermuteHeads > 0 { // the reference's rows are rotate-half: permute by index
					idx := make([]float32, len(g))
					for i := range idx {
						idx[i] = float32(i)
					}
					perm, err := student.RotateHalfToInterleaved(idx, mp.PermuteHeads, mp.HeadDim, len(g)/(mp.PermuteHeads*mp.HeadDim))
					if err != nil {
						t.Fatal(err)
					}
					want = make([]float64, len(g))
					for i, src := range perm {
						want[i] = g[int(src)]
					}
				}
				closeTo(t, "gradient of "+mp.Name, m.Param(mp.Name).Grad, want, 1e-4)
			}
		})
	}
}

// TestHFUnsupportedArchitecture: one error naming the architecture and
// listing the supported ones.
func TestHFUnsupportedArchitecture(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, HFConfigFile), []byte(`{"architectures":["MistralForCausalLM"],"model_type":"mistral"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadHF(dir)
	if err == nil || !strings.Contains(err.Error(), `"mistral (MistralForCausalLM)"`) || !strings.Contains(err.Error(), "supported: llama, qwen2, qwen3") {
		t.Fatalf("got %v", err)
	}
}

// TestHFRoundTripBitIdentical: Hugging Face → student → Hugging Face gives
// back every tensor bit for bit at F32 (Q/K permuted there and back), the
// architecture unchanged.
func TestHFRoundTripBitIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("makes models with PyTorch: not in -short")
	}
	for i, arch := range []string{"llama", "qwen2", "qwen3"} {
		t.Run(arch, func(t *testing.T) {
			src := makeHFModel(t, arch, 20+i, 40, 1+i%2)
			p, err := ReadHF(src)
			if err != nil {
				t.Fatal(err)
			}
			weights := map[string][]float32{}
			for _, w := range p.Weights {
				weights[w.Name] = w.Data
			}
			out := t.TempDir()
			if err := WriteHFWeights(out, p.Config, weights, DtypeF32); err != nil {
				t.Fatal(err)
			}
			cj, err := HFConfigJSON(p.Config, DtypeF32, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(out, HFConfigFile), cj, 0o644); err != nil {
				t.Fatal(err)
			}
			back, err := ReadHF(out)
			if err != nil {
				t.Fatal(err)
			}
			if back.Config != p.Config {
				t.Fatalf("config %+v, want %+v", back.Config, p.Config)
			}
			orig := map[string]Tensor{}
			for _, f := range []string{HFWeightsFile, "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
				ts, _, err := ReadSafetensorsFile(filepath.Join(src, f))
				if err != nil {
					continue
				}
				for _, t := range ts {
					orig[t.Name] = t
				}
			}
			got, _, err := ReadSafetensorsFile(filepath.Join(out, HFWeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(orig) || len(got) == 0 {
				t.Fatalf("%d tensors written, the source has %d", len(got), len(orig))
			}
			for _, g := range got {
				o, ok := orig[g.Name]
				if !ok || !slices.Equal(g.Shape, o.Shape) {
					t.Fatalf("tensor %s %v not in the source (or shape %v)", g.Name, g.Shape, o.Shape)
				}
				for j := range g.Data {
					if math.Float32bits(g.Data[j]) != math.Float32bits(o.Data[j]) {
						t.Fatalf("tensor %s [%d]: %g, source %g", g.Name, j, g.Data[j], o.Data[j])
					}
				}
			}
		})
	}
}

// A checkpoint keeps the tokenizer_config.json beside its tokenizer (BOS,
// EOS, chat template), checksummed; a checkpoint without one still loads.
func TestCheckpointKeepsTokenizerConfig(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "tokenizer.json")
	os.WriteFile(tok, []byte(`{"model":"x"}`), 0o644)
	conf := `{"chat_template":"{{ messages }}","eos_token":"<|end|>"}`
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(conf), 0o644)
	c := fakeCheckpoint(t, 3, 1)
	c.TokenizerPath = tok
	ck, err := Save(t.TempDir(), c, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(ck, TokenizerConfigFile))
	if err != nil || string(b) != conf {
		t.Fatalf("tokenizer_config.json in the checkpoint: %q (%v)", b, err)
	}
	if _, err := Load(ck); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ck, TokenizerConfigFile), []byte(`{}`), 0o644)
	if _, err := Load(ck); err == nil || !strings.Contains(err.Error(), TokenizerConfigFile) {
		t.Fatalf("a changed tokenizer_config.json: %v", err)
	}
}

// config.json without tie_word_embeddings is untied, as in transformers;
// head_dim equal to hidden_size/heads is not recorded; bad values are named.
func TestReadHFConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) {
		if err := os.WriteFile(filepath.Join(dir, HFConfigFile), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,
"num_attention_heads":2,"head_dim":4,"max_position_embeddings":32,"rms_norm_eps":1e-5}`)
	c, err := ReadHFConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := student.Config{VocabSize: 10, DModel: 8, NLayers: 1, NHeads: 2, NKVHeads: 2, FFNDim: 16, ContextLength: 32,
		RopeBase: 10000, NormEps: 1e-5, UntieEmbed: true}
	if c != want {
		t.Fatalf("config %+v, want %+v", c, want)
	}
	write(`{"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,
"num_attention_heads":2,"max_position_embeddings":32,"rms_norm_eps":1e-5,"hidden_act":"gelu",
"rope_scaling":{"rope_type":"yarn","factor":4}}`)
	_, err = ReadHFConfig(dir)
	if err == nil || !strings.Contains(err.Error(), `hidden_act "gelu"`) || !strings.Contains(err.Error(), `rope_scaling type "yarn"`) {
		t.Fatalf("got %v", err)
	}
}
