package collect

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestOutputDirectoriesAreWorldReadable: the dataset and segment
// directories were built in os.MkdirTemp directories (0700) and renamed
// into place, so another user (the trainer's, the server's) could not read
// them; they are 0755 now. The output holds no secrets (the API key is
// read from the environment and never written).
func TestOutputDirectoriesAreWorldReadable(t *testing.T) {
	e := newEnv(t, 12)
	if _, err := e.run(t, context.Background(), io.Discard); err != nil {
		t.Fatal(err)
	}
	var checked int
	err := filepath.WalkDir(e.cfg.Out, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.Mode().Perm() != 0o755 {
			t.Errorf("%s has mode %v, want 0755", p, st.Mode().Perm())
		}
		checked++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 3 {
		t.Fatalf("only %d directories under %s", checked, e.cfg.Out)
	}
}
