package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/imatrix"
	"github.com/distill-ml/distill/format/quant"
)

// quantize --imatrix FILE reads the file as llama-quantize does (sums /
// count) and quantizes with those weights: the same bytes as Requantize
// given the weights computed here by hand.
func TestQuantizeWithImatrixFile(t *testing.T) {
	dir := t.TempDir()
	src, m := writeImatrixTestModel(t, dir, 3)
	cfg := m.Config
	im := &imatrix.File{Entries: map[string]imatrix.Entry{}, Datasets: []string{"prompts"}, ChunkCount: 2, ChunkSize: 64}
	want := map[string][]float32{}
	for _, p := range export.PlanShapes(cfg, export.Options{Type: quant.FileF32}) {
		if len(p.Dims) != 2 || p.Name == "token_embd.weight" {
			continue
		}
		sums := make([]float32, p.Dims[0])
		w := make([]float32, p.Dims[0])
		for i := range sums {
			sums[i] = float32(4 * (1 + (i*7+len(p.Name))%13)) // counts 4: weights 1..13
			w[i] = float32(1 + (i*7+len(p.Name))%13)
		}
		im.Entries[p.Name] = imatrix.Entry{Sums: sums, Counts: []int64{4}}
		want[p.Name] = w
	}
	imPath := filepath.Join(dir, "imatrix.gguf")
	if err := imatrix.Write(imPath, im); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "q4km.gguf")
	if code, _, stderr := runCLI(t, "quantize", "--type", "q4_k_m", "--imatrix", imPath, src, out); code != 0 {
		t.Fatalf("quantize --imatrix: exit %d: %s", code, stderr)
	}
	// What llama-quantize records about the file: the path as given, the
	// first dataset, the entries and the chunks.
	source := &export.ImatrixSource{File: imPath, Datasets: []string{"prompts"}, Entries: len(want), Chunks: 2}
	ref := filepath.Join(dir, "ref.gguf")
	if err := export.Requantize(src, ref, quant.FileQ4_K_M, export.Options{Imatrix: want, ImatrixSource: source}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(out)
	if !bytes.Equal(a, mustRead(t, ref)) {
		t.Error("quantize --imatrix differs from Requantize with the file's weights")
	}
	plain := filepath.Join(dir, "plain.gguf")
	if code, _, stderr := runCLI(t, "quantize", "--type", "q4_k_m", src, plain); code != 0 {
		t.Fatalf("quantize: %s", stderr)
	}
	if c, _ := os.ReadFile(plain); bytes.Equal(a, c) {
		t.Error("the importance matrix changed nothing")
	}
	// q4_0 and iq4_xs with an imatrix (q4_0's was refused before its weighted quantizer and Q4_1 rule).
	for _, ft := range []quant.FileType{quant.FileQ4_0, quant.FileIQ4_XS} {
		got, ref := filepath.Join(dir, ft.String()+".gguf"), filepath.Join(dir, ft.String()+"-ref.gguf")
		if code, _, stderr := runCLI(t, "quantize", "--type", ft.String(), "--imatrix", imPath, src, got); code != 0 {
			t.Fatalf("%s --imatrix: exit %d: %s", ft, code, stderr)
		}
		if err := export.Requantize(src, ref, ft, export.Options{Imatrix: want, ImatrixSource: source}); err != nil {
			t.Fatal(err)
		}
		if a, _ := os.ReadFile(got); !bytes.Equal(a, mustRead(t, ref)) {
			t.Errorf("%s --imatrix differs from Requantize with the file's weights", ft)
		}
	}
	missing := filepath.Join(dir, "none.dat")
	if code, _, stderr := runCLI(t, "quantize", "--type", "q4_k_m", "--imatrix", missing, src, filepath.Join(dir, "y.gguf")); code != 1 || !strings.Contains(stderr, "none.dat") {
		t.Errorf("missing imatrix: exit %d %s", code, stderr)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
