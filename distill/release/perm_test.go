package release

import (
	"os"
	"testing"
)

// TestPromotedVersionIsWorldReadable: the store copy was built in an
// os.MkdirTemp directory (0700) and renamed into place, so a promoted
// version was unreadable to the serving user; it is 0755 now.
func TestPromotedVersionIsWorldReadable(t *testing.T) {
	store := Store{Dir: t.TempDir()}
	a := t.TempDir()
	makeArtifact(t, a, "1.0.0", true, "one")
	id, err := store.Promote(a)
	if err != nil {
		t.Fatal(err)
	}
	path, err := store.Path(id)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o755 {
		t.Fatalf("promoted version %s has mode %v, want 0755", id, st.Mode().Perm())
	}
}
