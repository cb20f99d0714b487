package checkpoint

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSaveRemovesStaleTempDirs: a save killed half-way leaves a
// ".tmp-step-NNNNNNNN-<digits>" directory. With keep 0 such directories
// were never removed; now every Save removes stale ones (old, not held by a
// live writer) and leaves other names and young ones alone. The new
// checkpoint directory is 0755.
func TestSaveRemovesStaleTempDirs(t *testing.T) {
	root := t.TempDir()
	old := time.Now().Add(-2 * time.Hour)
	mk := func(name string, mtime time.Time) string {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(p, ModelFile), []byte("partial"), 0o644)
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := mk(".tmp-step-00000005-123456789", old)
	keep := []string{
		mk(".tmp-step-00000006-987", time.Now().Add(time.Hour)), // young
		mk(".tmp-step-notes", old),                              // not our pattern
		mk("tmp-step-00000005-1", old),                          // not hidden
	}
	dir, err := Save(root, fakeCheckpoint(t, 7, 1), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale %s not removed (%v)", filepath.Base(stale), err)
	}
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", filepath.Base(p), err)
		}
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("checkpoint directory mode %v (%v), want 0755", st.Mode().Perm(), err)
	}
}
