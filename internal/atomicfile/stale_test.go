package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWriteRemovesStaleTempsOfItsFile: a killed writer leaves
// ".<name>.tmp-<digits>" behind (21 MB for an export). The next Write of the
// same file removes such leftovers once no live process holds them and they
// are older than the grace period; it never touches other names, young
// temporaries, or ones a live writer holds.
func TestWriteRemovesStaleTempsOfItsFile(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-2 * time.Hour)
	mk := func(name string, mtime time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := mk(".model.gguf.tmp-1234567", old)
	young := mk(".model.gguf.tmp-7654321", time.Now().Add(time.Hour)) // in the future: never old enough
	held := mk(".model.gguf.tmp-555", old)
	keep := []string{
		young, held,
		mk(".model.gguf.tmp-notes", old),  // not our random suffix
		mk("model.gguf.tmp-123", old),     // not hidden: a user's file
		mk(".other.gguf.tmp-123", old),    // another file's temporary
		mk(".model.gguf.tmp-12.bak", old), // not digits only
	}
	f, err := os.Open(held)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Hold(f); err != nil {
		t.Fatal(err)
	}
	if !holdSupported {
		t.Skip("no advisory locks on this platform: only the 24 h age rule applies")
	}
	if err := WriteFile(filepath.Join(dir, "model.gguf"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary %s not removed (%v)", stale, err)
	}
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", filepath.Base(p), err)
		}
	}
}

// TestMkdirTempIsWorldReadable: os.MkdirTemp makes 0700 directories, which
// stay 0700 after the rename into place; MkdirTemp gives 0755.
func TestMkdirTempIsWorldReadable(t *testing.T) {
	dir := t.TempDir()
	tmp, err := MkdirTemp(dir, "dataset")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o755 {
		t.Fatalf("mode %v, want 0755", st.Mode().Perm())
	}
	if !isTempOf("dataset")(filepath.Base(tmp)) {
		t.Fatalf("%s does not follow the temporary naming pattern", tmp)
	}
}

// TestAllDigits: only a non-empty run of ASCII digits is the random part of
// a temporary's name; signs, spaces, other scripts' digits and "" are not.
func TestAllDigits(t *testing.T) {
	for s, want := range map[string]bool{"0": true, "0123456789": true, "": false, "12a": false, "-1": false, "+1": false, " 1": false, "١٢": false} {
		if got := AllDigits(s); got != want {
			t.Errorf("AllDigits(%q) = %v, want %v", s, got, want)
		}
	}
}
