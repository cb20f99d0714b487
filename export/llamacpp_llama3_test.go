package export

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/gguf/gguftest"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/checkpoint"
	"github.com/distill-ml/distill/model/student"
	"github.com/distill-ml/distill/optim"
)

// converterRopeFreqs is the reference model's rope_freqs.weight as llama.cpp's
// convert_hf_to_gguf.py computes it (the PyTorch script's ropefreqs command).
func converterRopeFreqs(t *testing.T, hfDir string) []float32 {
	var f []float64
	if err := json.Unmarshal(testpeers.RunPython(t, hfScript(t), nil, "ropefreqs", hfDir), &f); err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(f))
	for i, v := range f {
		out[i] = float32(v) // float32 values printed as float64: exact
	}
	return out
}

// writeLlamaCppLlama3 writes the Hugging Face llama3-scaled model p as
// llama.cpp's converter lays out a Llama 3.x GGUF: llama.* hyperparameters,
// llama.cpp's tensor names (Q/K unpermuted to adjacent pairs), the
// converter's float32 rope_freqs.weight (factors) and no distill.* keys.
func writeLlamaCppLlama3(t *testing.T, p *checkpoint.Pretrained, factors []float32) string {
	t.Helper()
	v, _ := syntheticTokenizer(t)
	dir := t.TempDir()
	ours := filepath.Join(dir, "ours.gguf")
	if err := Write(ours, exportModel(p, v), Options{Type: quant.FileF32}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "llama3-llamacpp.gguf")
	rope := make([]byte, 0, 4*len(factors))
	for _, v := range factors {
		rope = binary.LittleEndian.AppendUint32(rope, math.Float32bits(v))
	}
	gguftest.Rewrite(t, ours, path, gguftest.Edit{
		KV: func(kv gguf.KV) []gguf.KV {
			if strings.HasPrefix(kv.Key, "distill.") || kv.Key == gguf.KeyVersion {
				return nil
			}
			return []gguf.KV{kv}
		},
		Data: map[string][]byte{RopeFreqsTensor: rope},
	})
	return path
}

// TestImportLlamaCppLlama3GGUF: a Llama 3.x GGUF as llama.cpp's converter
// writes it (rope_freqs.weight, no distill.* keys; Ollama ships these) used
// to be refused. It imports now with the file's factors as the student's
// RoPE divisors: the student's logits agree with llama.cpp's on the same
// file, one training step lowers the loss, `export --format gguf` writes
// every tensor back bit for bit (rope_freqs included), and a Hugging Face
// export writes the rope_scaling the converter made the factors from.
func TestImportLlamaCppLlama3GGUF(t *testing.T) {
	if testing.Short() {
		t.Skip("makes a model with PyTorch and runs llama.cpp: not in -short")
	}
	testpeers.NodeModules(t, "node-llama-cpp")
	hf := makeHF(t, "llama", 70)
	src, err := checkpoint.ReadHF(hf)
	if err != nil {
		t.Fatal(err)
	}
	factors := converterRopeFreqs(t, hf)
	path := writeLlamaCppLlama3(t, src, factors)
	p, err := checkpoint.ReadGGUF(path)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Config
	if c.RopeScaling != (student.RopeScaling{}) {
		t.Fatalf("rope_scaling %+v invented from the factors", c.RopeScaling)
	}
	got := c.RopeFreqFactors()
	if len(got) != len(factors) {
		t.Fatalf("%d RoPE factors, the file has %d", len(got), len(factors))
	}
	for i := range got {
		if got[i] != float64(factors[i]) {
			t.Fatalf("RoPE factor %d is %v, the file's %v", i, got[i], factors[i])
		}
	}

	// Logits: the imported student against llama.cpp on the file itself.
	prompt := []int32{5, 77, 140, 9, 260, 33, 201, 18, 99, 150, 3, 41}
	req, _ := json.Marshal(map[string]any{"files": []string{path}, "prompt": prompt, "greedy": 1})
	var res []struct {
		Logits [][]float64 `json:"logits"`
	}
	if err := json.Unmarshal(testpeers.RunNode(t, "node-llama-cpp", llamaLogitsScript, req), &res); err != nil {
		t.Fatal(err)
	}
	sm, err := student.New(c, lossCE, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range p.Weights {
		copy(sm.Param(w.Name).Data, w.Data)
	}
	ours, err := sm.Logits(prompt, 1, len(prompt))
	if err != nil {
		t.Fatal(err)
	}
	var maxRef, maxDiff float64
	for pos, row := range res[0].Logits {
		for k, x := range row {
			maxRef = math.Max(maxRef, math.Abs(x))
			maxDiff = math.Max(maxDiff, math.Abs(float64(ours[pos*hfVocab+k])-x))
		}
	}
	t.Logf("student vs llama.cpp: max diff %.3g of max |logit| %.3g", maxDiff, maxRef)
	if maxDiff > 1e-4*maxRef {
		t.Errorf("student's logits differ from llama.cpp's by %.3g (max |logit| %.3g)", maxDiff, maxRef)
	}

	// Export back: every tensor of the file, bit for bit.
	back := filepath.Join(t.TempDir(), "back.gguf")
	v, tok := syntheticTokenizer(t)
	if err := Write(back, exportModel(p, v), Options{Type: quant.FileF32}); err != nil {
		t.Fatal(err)
	}
	a, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := gguf.Open(back)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%d tensors exported, the source has %d", len(b.Tensors), len(a.Tensors))
	}
	for _, ti := range a.Tensors {
		x, err := a.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		y, err := b.TensorData(ti.Name)
		if err != nil {
			t.Fatalf("export: %v", err)
		}
		if string(x) != string(y) {
			t.Errorf("tensor %s differs after import → export", ti.Name)
		}
	}

	// A Hugging Face export states the rope_scaling the factors came from
	// (recovered, regenerated bit for bit), so transformers' equations on it
	// give the source model's logits.
	hfOut := filepath.Join(t.TempDir(), "hf")
	if err := WriteHF(hfOut, &HFModel{Config: c, Tensors: exportModel(p, v).Tensors, Tok: tok, Dtype: checkpoint.DtypeF32}); err != nil {
		t.Fatal(err)
	}
	back2, err := checkpoint.ReadHF(hfOut)
	if err != nil {
		t.Fatal(err)
	}
	if back2.Config.RopeScaling != src.Config.RopeScaling {
		t.Errorf("Hugging Face export's rope_scaling %+v, the source's %+v", back2.Config.RopeScaling, src.Config.RopeScaling)
	}
	want, gotHF := hfLogits(t, hf, [][]int32{prompt}), hfLogits(t, hfOut, [][]int32{prompt})
	var maxW, maxD float64
	for k := range want {
		maxW = math.Max(maxW, math.Abs(want[k]))
		maxD = math.Max(maxD, math.Abs(want[k]-gotHF[k]))
	}
	if maxD > 1e-5*maxW {
		t.Errorf("PyTorch on the Hugging Face export differs from the source by %.3g (max |logit| %.3g)", maxD, maxW)
	}

	// One training step from the imported weights lowers the loss on its batch.
	T := len(prompt) - 1
	bt := &batch.Batch{B: 1, T: T, Tokens: prompt[:T], Targets: prompt[1:], LossMask: make([]float32, T), TeacherValid: make([]float32, T)}
	for i := range bt.LossMask {
		bt.LossMask[i] = 1
	}
	before, err := sm.ForwardBackward(bt)
	if err != nil {
		t.Fatal(err)
	}
	opt, err := optim.NewAdamW(optim.DefaultAdamW(), sm.Params(), nil)
	if err != nil {
		t.Fatal(err)
	}
	opt.Step(1e-2, 1)
	after, _, err := sm.Evaluate(bt)
	if err != nil {
		t.Fatal(err)
	}
	if !(after.CE < before.CE) {
		t.Errorf("CE %v after one step, %v before", after.CE, before.CE)
	}

	// A factor that is not a finite number > 0 is refused, naming the index.
	broken := append([]float32(nil), factors...)
	broken[2] = float32(math.NaN())
	if _, err := checkpoint.ReadGGUF(writeLlamaCppLlama3(t, src, broken)); err == nil || !strings.Contains(err.Error(), "rope_freqs.weight holds NaN at index 2") {
		t.Errorf("NaN RoPE factor: %v, want a refusal naming rope_freqs.weight index 2", err)
	}
}
