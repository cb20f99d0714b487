package dataset

import (
	"os"
	"path/filepath"
	"testing"
)

// TestShardsAreWorldReadable: shards were created with os.CreateTemp (0600)
// and renamed into place, so a dataset written by one user could not be
// read by the training job of another; they are 0644 like manifest.json.
func TestShardsAreWorldReadable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	w, err := Create(dir, Meta{TokenizerHash: "h", VocabSize: 16}, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&Record{Split: "train", Source: "s", Prompt: "p", Tokens: []int32{1, 2, 3}, PromptLen: 1}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	shards, err := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	if err != nil || len(shards) == 0 {
		t.Fatalf("no shard written (%v)", err)
	}
	for _, p := range append(shards, filepath.Join(dir, "manifest.json")) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v, want 0644", filepath.Base(p), st.Mode().Perm())
		}
	}
}
