package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplaceDirSwapsWholeDirectory(t *testing.T) {
	root := t.TempDir()
	dst := filepath.Join(root, "dataset")
	for i, content := range []string{"first", "second"} {
		tmp, err := MkdirTemp(root, "dataset")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, "f"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := ReplaceDir(tmp, dst); err != nil {
			t.Fatalf("replace %d: %v", i, err)
		}
		b, err := os.ReadFile(filepath.Join(dst, "f"))
		if err != nil || string(b) != content {
			t.Fatalf("replace %d: dst/f = %q, %v; want %q", i, b, err, content)
		}
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 || entries[0].Name() != "dataset" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("root holds %v, want only dataset (no temporary, no .old)", names)
	}
}

func TestReplaceDirMissingSourceKeepsOld(t *testing.T) {
	root := t.TempDir()
	dst := filepath.Join(root, "out")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "f"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := ReplaceDir(filepath.Join(root, "missing"), dst)
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("err = %v, want one naming the missing source", err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "f")); err != nil || string(b) != "old" {
		t.Fatalf("old directory lost: %q, %v", b, err)
	}
}

func TestSyncDirReportsMissingDirectory(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	err := SyncDir(missing)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("SyncDir(missing) = %v, want an error naming %s", err, missing)
	}
	if err := SyncDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
}
