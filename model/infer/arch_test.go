package infer

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/checkpoint"
)

// writeHFArchGGUF turns the PyTorch reference's random model of arch (see
// model/checkpoint/testdata/hf_reference.py) into a GGUF of file type ft.
func writeHFArchGGUF(t *testing.T, arch string, seed int, ft quant.FileType) string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(testpeers.RepoRoot(t), "model", "checkpoint", "testdata", "hf_reference.py"))
	if err != nil {
		t.Fatal(err)
	}
	const vocab = 300
	dir := filepath.Join(t.TempDir(), arch)
	testpeers.RunPython(t, string(script), nil, "make", arch, dir, strconv.Itoa(seed), strconv.Itoa(vocab))
	p, err := checkpoint.ReadHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := export.SyntheticVocab(vocab)
	if err != nil {
		t.Fatal(err)
	}
	m := &export.Model{Config: p.Config, Tensors: map[string][]float32{}, Vocab: v, Name: arch, Version: "1"}
	for _, w := range p.Weights {
		m.Tensors[w.Name] = w.Data
	}
	path := filepath.Join(t.TempDir(), arch+".gguf")
	if err := export.Write(path, m, export.Options{Type: ft}); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestArchVariantsAgreeWithLlamaCpp: Llama with llama3 rope scaling
// (rope_freqs), Qwen2 (Q/K/V biases, NEOX RoPE) and Qwen3 (q/k norm,
// key_length 16 ≠ 32/4) GGUFs give llama.cpp's logits bit for bit with
// ExactPrompt, and the same greedy continuations, at F32 and Q8_0.
func TestArchVariantsAgreeWithLlamaCpp(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with llama.cpp: not in -short")
	}
	archs := []string{"llama", "qwen2", "qwen3"}
	types := []quant.FileType{quant.FileF32, quant.FileQ8_0}
	req := peerRequest{GreedyTokens: 16}
	req.LogitPrompts = [][]int32{{10, 20, 30, 40, 50, 260, 7}, longPrompt(40, 300)}
	req.GreedyPrompts = greedyPrompts(300)[:4]
	var names []string
	for i, arch := range archs {
		for _, ft := range types {
			req.Files = append(req.Files, peerFile{Path: writeHFArchGGUF(t, arch, 60+i, ft)})
			names = append(names, arch+"-"+ft.String())
		}
	}
	peer := runLlamaCpp(t, req)
	for fi, name := range names {
		t.Run(name, func(t *testing.T) {
			m, err := Load(req.Files[fi].Path, Options{ExactPrompt: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			V := m.Hyper.VocabSize
			for pi, p := range req.LogitPrompts {
				ours, err := m.NewSession(128).EvalAll(p)
				if err != nil {
					t.Fatal(err)
				}
				for pos := range p {
					if rel := relLogitDiff(ours[pos*V:(pos+1)*V], peer[fi].Logits[pi][pos]); rel != 0 {
						t.Fatalf("prompt %d position %d: logits differ from llama.cpp's by %.3g of max |logit|, want identical", pi, pos, rel)
					}
				}
			}
			for gi, p := range req.GreedyPrompts {
				s := m.NewSession(128)
				lg, err := s.Eval(p)
				if err != nil {
					t.Fatal(err)
				}
				var got []int32
				for k := 0; k < req.GreedyTokens; k++ {
					tok := Argmax(lg)
					got = append(got, tok)
					if lg, err = s.Eval([]int32{tok}); err != nil {
						t.Fatal(err)
					}
				}
				if !slices.Equal(got, peer[fi].Greedy[gi]) {
					t.Fatalf("greedy %d: %v, llama.cpp %v", gi, got, peer[fi].Greedy[gi])
				}
			}
		})
	}
}
