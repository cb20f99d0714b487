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
	"github.com/distill-ml/distill/model/student"
)

// distill imatrix → quantize --imatrix: the statistics cover every block
// matrix with one row count per evaluated token, and change the q4_k_m file.
func TestImatrixThenQuantize(t *testing.T) {
	dir := t.TempDir()
	src, m := writeImatrixTestModel(t, dir, 9)
	cfg := m.Config
	data := filepath.Join(dir, "prompts.jsonl")
	os.WriteFile(data, []byte(`{"prompt": "Question: what is the torque?", "completion": " 12 Nm [§3.1]"}
{"prompt": "Question: may I skip the inspection?", "completion": " Not covered by the policy."}
{"text": "the quick brown fox"}
`), 0o644)
	im := filepath.Join(dir, "imatrix.gguf")
	code, stdout, stderr := runCLI(t, "imatrix", "--model", src, "--data", data, "--out", im)
	if code != 0 {
		t.Fatalf("imatrix: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "14 matrices, 3 sequences") {
		t.Errorf("summary: %s", stdout)
	}
	f, err := imatrix.Read(im)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Entries) != 14 || f.ChunkCount != 3 || !f.HasMetadata || f.Datasets[0] != "prompts.jsonl" {
		t.Fatalf("imatrix: %d entries, %d chunks, datasets %v", len(f.Entries), f.ChunkCount, f.Datasets)
	}
	rows := f.Entries["blk.0.attn_q.weight"].Counts[0]
	for name, e := range f.Entries {
		if len(e.Counts) != 1 || e.Counts[0] != rows || rows < 3 {
			t.Errorf("%s: counts %v, want the same token count as attn_q (%d)", name, e.Counts, rows)
		}
		wantCols := cfg.DModel
		if strings.HasSuffix(name, "ffn_down.weight") {
			wantCols = cfg.FFNDim
		}
		if len(e.Sums) != wantCols {
			t.Errorf("%s: %d sums, want %d", name, len(e.Sums), wantCols)
		}
	}
	q, plain := filepath.Join(dir, "q.gguf"), filepath.Join(dir, "plain.gguf")
	if code, _, stderr := runCLI(t, "quantize", "--type", "q4_k_m", "--imatrix", im, src, q); code != 0 {
		t.Fatalf("quantize --imatrix: %s", stderr)
	}
	if code, _, stderr := runCLI(t, "quantize", "--type", "q4_k_m", src, plain); code != 0 {
		t.Fatalf("quantize: %s", stderr)
	}
	a, _ := os.ReadFile(q)
	b, _ := os.ReadFile(plain)
	if bytes.Equal(a, b) {
		t.Error("the computed importance matrix changed nothing")
	}
	if code, _, _ := runCLI(t, "imatrix", "--model", src, "--out", im); code != 2 {
		t.Errorf("no --data: exit %d, want 2", code)
	}
}

// writeImatrixTestModel writes a random 2-block student (widths that divide
// the K-quant block) as dir/f32.gguf and returns its path and model.
func writeImatrixTestModel(t *testing.T, dir string, seed uint64) (string, *export.Model) {
	t.Helper()
	cfg := student.Config{VocabSize: 320, DModel: 256, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 512,
		ContextLength: 64, RopeBase: 10000, NormEps: 1e-5}
	m, err := export.RandomModel(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "f32.gguf")
	if err := export.Write(src, m, export.Options{Type: quant.FileF32}); err != nil {
		t.Fatal(err)
	}
	return src, m
}
