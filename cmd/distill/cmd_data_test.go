package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/dataset/datasettest"
)

func writeTestDataset(t *testing.T, dir string, seed int64) datasettest.Config {
	t.Helper()
	cfg := datasettest.Config{Vocab: 2000, K: 4, Rows: 12, PromptLen: 3, CompletionLen: 6, Seed: seed,
		HiddenLayers: []int{2}, HiddenDim: 3, Splits: []string{"train", "validation"}}
	recs, _ := datasettest.Generate(cfg)
	datasettest.Write(t, dir, cfg.Meta(), dataset.WriterOptions{MaxShardBytes: 1 << 10, RowGroupBytes: 512}, recs)
	return cfg
}

func TestDataValidateCLI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	cfg := writeTestDataset(t, dir, 1)
	code, out, stderr := runCLI(t, "data", "validate", dir, "--tokenizer-hash", cfg.Meta().TokenizerHash)
	if code != 0 || !strings.Contains(out, "ok: "+dir+": 12 rows") {
		t.Fatalf("valid dataset: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "data", "validate", dir, "--tokenizer-hash", "sha256:other", "--vocab", "10")
	if code != 1 || !strings.Contains(out, `dataset field meta.tokenizer_hash: dataset was tokenized with "sha256:synthetic-tokenizer", expected "sha256:other"`) ||
		!strings.Contains(out, "row 0 field tokens: position") || !strings.Contains(stderr, "problem(s)") {
		t.Fatalf("mismatched tokenizer: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	// Corrupt the middle of the first shard: sha256 and read problems name the shard.
	path := filepath.Join(dir, "part-00000.parquet")
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 0x40
	os.WriteFile(path, b, 0o644)
	code, out, _ = runCLI(t, "data", "validate", dir)
	if code != 1 || !strings.Contains(out, "shard part-00000.parquet field sha256: file hashes to") {
		t.Fatalf("corrupt shard: exit %d, stdout %q", code, out)
	}
	for _, args := range [][]string{
		{"data", "validate"},
		{"data", "validate", dir, "--tokenizer", "x.json", "--tokenizer-hash", "h"},
		{"data", "import", "--in", "x.jsonl"},
		{"data", "merge", dir},
		{"data"},
		{"data", "nope"},
	} {
		if code, _, stderr := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
	}
}

func TestDataImportInspectMergeCLI(t *testing.T) {
	tmp := t.TempDir()
	tok, tokPath := writeTrainedTokenizer(t, filepath.Join(tmp, "tokenizer.json"), 300,
		"Scanners are charged nightly. Policy 3.1 covers drops.", "Report damage within a day.")
	in := filepath.Join(tmp, "train.jsonl")
	os.WriteFile(in, []byte(`{"prompt": "Policy 3.1?", "completion": " It covers drops."}
{"messages": [{"role": "user", "content": "Damage?"}, {"role": "assistant", "content": "Report within a day."}]}
{"prompt": "Policy 3.1?", "completion": " Again."}
`), 0o644)
	out := filepath.Join(tmp, "ds")
	code, stdout, stderr := runCLI(t, "data", "import", "--in", in, "--tokenizer", tokPath, "--out", out)
	if code != 0 || !strings.Contains(stdout, "2 rows") || !strings.Contains(stdout, "1 duplicate rows") {
		t.Fatalf("import: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// Rows start with the tokenizer's BOS: the user is told how to export.
	if bos := tok.Special().BOS; bos < 0 || !strings.Contains(stderr, "distill export --add-bos") {
		t.Errorf("import with BOS %d did not point at export --add-bos: %q", bos, stderr)
	}
	if code, stdout, _ := runCLI(t, "data", "validate", out, "--tokenizer", tokPath); code != 0 {
		t.Fatalf("validate imported: exit %d %q", code, stdout)
	}
	code, stdout, _ = runCLI(t, "inspect", out)
	if code != 0 || !strings.Contains(stdout, "distill dataset "+out) || !strings.Contains(stdout, "rows:            2 (train 2)") ||
		!strings.Contains(stdout, tok.Hash()) {
		t.Fatalf("inspect dir: exit %d, %q", code, stdout)
	}
	code, stdout, _ = runCLI(t, "data", "inspect", filepath.Join(out, "part-00000.parquet"))
	if code != 0 || !strings.Contains(stdout, "distill dataset shard") || !strings.Contains(stdout, "row 0:") {
		t.Fatalf("inspect shard: exit %d, %q", code, stdout)
	}
	// Importing again into the same directory is refused.
	if code, _, stderr := runCLI(t, "data", "import", "--in", in, "--tokenizer", tokPath, "--out", out); code != 1 || !strings.Contains(stderr, "already holds manifest.json") {
		t.Fatalf("re-import: exit %d, %q", code, stderr)
	}

	a, b := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	writeTestDataset(t, a, 5)
	writeTestDataset(t, b, 5) // the same rows again
	merged := filepath.Join(tmp, "merged")
	code, stdout, stderr = runCLI(t, "data", "merge", "--out", merged, a, b)
	if code != 0 || !strings.Contains(stdout, "12 rows") || !strings.Contains(stdout, "12 duplicate rows skipped") {
		t.Fatalf("merge: exit %d, %q %q", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, "data", "merge", "--out", filepath.Join(tmp, "m2"), a, out); code != 1 || !strings.Contains(stderr, "incompatible") {
		t.Fatalf("merging incompatible datasets: exit %d, %q", code, stderr)
	}
}
