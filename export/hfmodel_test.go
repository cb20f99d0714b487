package export

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/checkpoint"
	"github.com/distill-ml/distill/model/student"
)

// The Hugging Face reference script of model/checkpoint: random tiny
// Llama (llama3 rope scaling, untied), Qwen2 (biases, tied) and Qwen3 (q/k
// norm, head_dim 16 ≠ 32/4) models and transformers' forward in PyTorch.
func hfScript(t testing.TB) string {
	b, err := os.ReadFile(filepath.Join(testpeers.RepoRoot(t), "model", "checkpoint", "testdata", "hf_reference.py"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const hfVocab = 300 // SyntheticVocab needs the 256 bytes and a few merges

func makeHF(t testing.TB, arch string, seed int) string {
	dir := filepath.Join(t.TempDir(), arch)
	testpeers.RunPython(t, hfScript(t), nil, "make", arch, dir, strconv.Itoa(seed), strconv.Itoa(hfVocab))
	return dir
}

// hfLogits is the PyTorch reference's logits [B·T·V] for tokens.
func hfLogits(t testing.TB, dir string, tokens [][]int32) []float64 {
	req, _ := json.Marshal(map[string]any{"tokens": tokens})
	var f struct {
		Logits []float64 `json:"logits"`
	}
	if err := json.Unmarshal(testpeers.RunPython(t, hfScript(t), req, "forward", dir), &f); err != nil {
		t.Fatal(err)
	}
	return f.Logits
}

func syntheticTokenizer(t testing.TB) (Vocab, *tokenizer.Tokenizer) {
	v, err := SyntheticVocab(hfVocab)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromGGUFVocab(v.GGUFVocab)
	if err != nil {
		t.Fatal(err)
	}
	return v, tok
}

func exportModel(p *checkpoint.Pretrained, v Vocab) *Model {
	m := &Model{Config: p.Config, Tensors: map[string][]float32{}, Vocab: v, Name: "hf-test", Version: "1"}
	for _, w := range p.Weights {
		m.Tensors[w.Name] = w.Data
	}
	return m
}

var hfArchs = []string{"llama", "qwen2", "qwen3"}

// TestGGUFRoundTripTensorIdentical: a Hugging Face model exported to an F32
// GGUF reads back (checkpoint.ReadGGUF) as the same student weights bit for
// bit, and exporting that again writes a byte-identical file.
func TestGGUFRoundTripTensorIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("makes models with PyTorch: not in -short")
	}
	v, _ := syntheticTokenizer(t)
	for i, arch := range hfArchs {
		t.Run(arch, func(t *testing.T) {
			p, err := checkpoint.ReadHF(makeHF(t, arch, 30+i))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a.gguf"), filepath.Join(dir, "b.gguf")
			if err := Write(a, exportModel(p, v), Options{Type: quant.FileF32}); err != nil {
				t.Fatal(err)
			}
			back, err := checkpoint.ReadGGUF(a)
			if err != nil {
				t.Fatal(err)
			}
			want := p.Config
			want.NormEps = float64(float32(want.NormEps)) // GGUF stores float32
			if back.Config != want {
				t.Fatalf("config %+v, want %+v", back.Config, want)
			}
			if len(back.Weights) != len(p.Weights) {
				t.Fatalf("%d tensors, want %d", len(back.Weights), len(p.Weights))
			}
			for j, w := range back.Weights {
				o := p.Weights[j]
				if w.Name != o.Name {
					t.Fatalf("tensor %d is %s, want %s", j, w.Name, o.Name)
				}
				for k := range w.Data {
					if math.Float32bits(w.Data[k]) != math.Float32bits(o.Data[k]) {
						t.Fatalf("%s [%d]: %g, want %g", w.Name, k, w.Data[k], o.Data[k])
					}
				}
			}
			if back.Vocab == nil || len(back.Vocab.Tokens) != hfVocab {
				t.Fatalf("vocabulary not read back")
			}
			bm := exportModel(back, v)
			bm.Config.NormEps = p.Config.NormEps
			if err := Write(b, bm, Options{Type: quant.FileF32}); err != nil {
				t.Fatal(err)
			}
			if !sameFile(t, a, b) {
				t.Fatal("GGUF → student → GGUF is not byte-identical")
			}
			// Requantizing checks the file against its <arch>.* metadata; the
			// Q8_0 file imports again (dequantized).
			q8 := filepath.Join(dir, "q8.gguf")
			if err := Requantize(a, q8, quant.FileQ8_0, Options{}); err != nil {
				t.Fatal(err)
			}
			if _, err := checkpoint.ReadGGUF(q8); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(a)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got, _ := f.String(gguf.KeyArchitecture); got != arch {
				t.Errorf("general.architecture %q, want %q", got, arch)
			}
		})
	}
}

// llamaLogitsScript returns llama.cpp's logits at every position of a
// prompt and its greedy continuation, for each GGUF.
const llamaLogitsScript = `
import { getLlama } from "node-llama-cpp";
import fs from "node:fs";
const req = JSON.parse(fs.readFileSync(0, "utf8"));
const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
const out = [];
for (const path of req.files) {
  const model = await llama.loadModel({ modelPath: path, checkTensors: true });
  const ctx = await model.createContext({ contextSize: 64, threads: 1, flashAttention: false,
    experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" });
  const seq = ctx.getSequence();
  const items = req.prompt.map(t => [t, { generateNext: { logits: true } }]);
  const r = await seq.controlledEvaluate(items);
  const logits = r.map(o => { const row = []; for (const [tok, v] of o.next.logits) row[tok] = v; return row; });
  await seq.clearHistory();
  const greedy = [];
  let input = req.prompt.slice();
  while (greedy.length < req.greedy) {
    const last = input.length - 1;
    const its = input.map((t, i) => i === last ? [t, { generateNext: { token: true, options: { temperature: 0 } } }] : t);
    const g = await seq.controlledEvaluate(its);
    const tok = g[last].next.token;
    greedy.push(tok);
    input = [tok];
  }
  out.push({ logits, greedy });
  await ctx.dispose();
  await model.dispose();
}
process.stdout.write(JSON.stringify(out), () => process.exit(0));
`

// TestLlamaCppAgreesOnHFModels exports the Llama (llama3 rope scaling →
// rope_freqs), Qwen2 (NEOX RoPE, biases) and Qwen3 (q/k norm, key_length)
// reference models as F32 GGUFs; llama.cpp's logits at every prompt
// position agree with transformers' equations (PyTorch) within 1e-4 of the
// largest logit (KV cache in F32; measured ~5e-6 relative), and its greedy
// continuation is PyTorch's argmax at every step.
func TestLlamaCppAgreesOnHFModels(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with llama.cpp and PyTorch: not in -short")
	}
	testpeers.NodeModules(t, "node-llama-cpp")
	v, _ := syntheticTokenizer(t)
	prompt := []int32{5, 77, 140, 9, 260, 33, 201, 18, 99, 150}
	const greedy = 6
	var files, dirs []string
	for i, arch := range hfArchs {
		dir := makeHF(t, arch, 40+i)
		p, err := checkpoint.ReadHF(dir)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), arch+".gguf")
		if err := Write(path, exportModel(p, v), Options{Type: quant.FileF32}); err != nil {
			t.Fatal(err)
		}
		files, dirs = append(files, path), append(dirs, dir)
	}
	req, _ := json.Marshal(map[string]any{"files": files, "prompt": prompt, "greedy": greedy})
	var res []struct {
		Logits [][]float64 `json:"logits"`
		Greedy []int32     `json:"greedy"`
	}
	if err := json.Unmarshal(testpeers.RunNode(t, "node-llama-cpp", llamaLogitsScript, req), &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != len(files) {
		t.Fatalf("%d results for %d files", len(res), len(files))
	}
	for i, arch := range hfArchs {
		ref := hfLogits(t, dirs[i], [][]int32{prompt})
		var maxRef, maxDiff float64
		for pos, row := range res[i].Logits {
			if len(row) != hfVocab {
				t.Fatalf("%s: llama.cpp gave %d logits at %d", arch, len(row), pos)
			}
			for k, x := range row {
				r := ref[pos*hfVocab+k]
				maxRef = math.Max(maxRef, math.Abs(r))
				maxDiff = math.Max(maxDiff, math.Abs(x-r))
			}
		}
		t.Logf("%s: max |llama.cpp − PyTorch| %.3g of max |logit| %.3g; greedy %v", arch, maxDiff, maxRef, res[i].Greedy)
		if maxDiff > 1e-4*maxRef {
			t.Errorf("%s: llama.cpp's logits differ from PyTorch's by %.3g (max |logit| %.3g)", arch, maxDiff, maxRef)
		}
		// Greedy: PyTorch's argmax after the prompt and each chosen token.
		seq := append(append([]int32(nil), prompt...), res[i].Greedy...)
		full := hfLogits(t, dirs[i], [][]int32{seq})
		for g := range res[i].Greedy {
			pos := len(prompt) - 1 + g
			row := full[pos*hfVocab : (pos+1)*hfVocab]
			best := 0
			for k := range row {
				if row[k] > row[best] {
					best = k
				}
			}
			if int32(best) != res[i].Greedy[g] {
				t.Errorf("%s: greedy token %d is %d in llama.cpp, PyTorch's argmax %d", arch, g, res[i].Greedy[g], best)
			}
		}
	}
}

// TestExportHFLoadsInReference writes each reference model back as a
// Hugging Face directory at F32, F16 and BF16 and runs transformers'
// equations (PyTorch, reading the safetensors by hand) on it: the logits
// agree with the student's on the same (rounded) weights, and the F32 export
// has the source's logits.
func TestExportHFLoadsInReference(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the PyTorch reference: not in -short")
	}
	_, tok := syntheticTokenizer(t)
	tokens := [][]int32{{3, 250, 17, 88, 120, 4}}
	flat := tokens[0]
	for i, arch := range hfArchs {
		t.Run(arch, func(t *testing.T) {
			src := makeHF(t, arch, 50+i)
			p, err := checkpoint.ReadHF(src)
			if err != nil {
				t.Fatal(err)
			}
			m := exportModel(p, Vocab{})
			srcRef := hfLogits(t, src, tokens)
			for _, dt := range []string{checkpoint.DtypeF32, checkpoint.DtypeF16, checkpoint.DtypeBF16} {
				out := filepath.Join(t.TempDir(), "hf-"+dt)
				if err := WriteHF(out, &HFModel{Config: p.Config, Tensors: m.Tensors, Tok: tok, Dtype: dt}); err != nil {
					t.Fatal(err)
				}
				for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"} {
					if _, err := os.Stat(filepath.Join(out, f)); err != nil {
						t.Fatalf("%s: %v", dt, err)
					}
				}
				var cfg map[string]any
				b, _ := os.ReadFile(filepath.Join(out, "config.json"))
				if err := json.Unmarshal(b, &cfg); err != nil || cfg["torch_dtype"] != map[string]string{"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dt] {
					t.Fatalf("%s: config.json %v (%v)", dt, cfg, err)
				}
				ref := hfLogits(t, out, tokens)
				back, err := checkpoint.ReadHF(out)
				if err != nil {
					t.Fatal(err)
				}
				sm, err := student.New(back.Config, lossCE, 1)
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range back.Weights {
					copy(sm.Param(w.Name).Data, w.Data)
				}
				got, err := sm.Logits(flat, 1, len(flat))
				if err != nil {
					t.Fatal(err)
				}
				maxRef, maxDiff, maxSrc := 0.0, 0.0, 0.0
				for k := range ref {
					maxRef = math.Max(maxRef, math.Abs(ref[k]))
					maxDiff = math.Max(maxDiff, math.Abs(float64(got[k])-ref[k]))
					maxSrc = math.Max(maxSrc, math.Abs(ref[k]-srcRef[k]))
				}
				if maxDiff > 1e-4*maxRef {
					t.Errorf("%s: student vs PyTorch on the export: %.3g of %.3g", dt, maxDiff, maxRef)
				}
				if dt == checkpoint.DtypeF32 && maxSrc != 0 {
					t.Errorf("F32 export's logits differ from the source's by %.3g", maxSrc)
				}
				if strings.HasSuffix(dt, "16") && maxSrc > 0.1*maxRef {
					t.Errorf("%s export drifted %.3g from the source (max |logit| %.3g)", dt, maxSrc, maxRef)
				}
			}
		})
	}
}

var lossCE = loss.Config{Alpha: 0, Temperature: 1}
