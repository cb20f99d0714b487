package release

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func makeArtifact(t *testing.T, dir, version string, approved bool, payload string) {
	t.Helper()
	os.MkdirAll(filepath.Join(dir, "reports"), 0o755)
	os.WriteFile(filepath.Join(dir, "model.gguf"), []byte("GGUF"+payload), 0o644)
	os.WriteFile(filepath.Join(dir, "reports", "gate.json"), []byte(`{"ok":true}`), 0o644)
	m := &Manifest{Name: "policy-student", Version: version,
		Model: Model{File: "model.gguf", Architecture: "llama", Parameters: 123, QuantType: "q8_0", TokenizerHash: "sha256:ab"},
		Gate:  Gate{Approved: approved, Thresholds: map[string]float64{"max_quality_drop": 0.02}, Measured: map[string]float64{"quality_drop": 0.01}}}
	if err := Write(dir, m); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	dir := t.TempDir()
	makeArtifact(t, dir, "1.0.0", true, "weights")
	if _, err := Verify(dir); err != nil {
		t.Fatalf("fresh artifact does not verify: %v", err)
	}
	// Same size, different byte.
	os.WriteFile(filepath.Join(dir, "model.gguf"), []byte("GGUFweighTs"), 0o644)
	if _, err := Verify(dir); err == nil || !strings.Contains(err.Error(), "model.gguf: sha256") {
		t.Fatalf("tampered byte not caught: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "model.gguf"), []byte("GGUFweights"), 0o644)
	os.WriteFile(filepath.Join(dir, "extra.bin"), []byte("x"), 0o644)
	if _, err := Verify(dir); err == nil || !strings.Contains(err.Error(), "extra.bin: not in the manifest") {
		t.Fatalf("added file not caught: %v", err)
	}
	os.Remove(filepath.Join(dir, "extra.bin"))
	os.Remove(filepath.Join(dir, "reports", "gate.json"))
	if _, err := Verify(filepath.Join(dir, ManifestName)); err == nil || !strings.Contains(err.Error(), "reports/gate.json: missing") {
		t.Fatalf("missing file not caught: %v", err)
	}
}

func TestReadRejectsUnknownFieldsAndBadPaths(t *testing.T) {
	dir := t.TempDir()
	makeArtifact(t, dir, "1.0.0", true, "w")
	p := filepath.Join(dir, ManifestName)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), `"name"`, `"nmae"`, 1)), 0o644)
	if _, err := Read(p); err == nil {
		t.Fatal("unknown field accepted")
	}
	os.WriteFile(p, []byte(strings.Replace(string(b), `"path": "model.gguf"`, `"path": "../model.gguf"`, 1)), 0o644)
	if _, err := Read(p); err == nil || !strings.Contains(err.Error(), "bad path") {
		t.Fatalf("escaping path accepted: %v", err)
	}
}

func TestPromoteAndRollback(t *testing.T) {
	store := Store{Dir: t.TempDir()}
	a1, a2, bad := t.TempDir(), t.TempDir(), t.TempDir()
	makeArtifact(t, a1, "1.0.0", true, "one")
	makeArtifact(t, a2, "1.1.0", true, "two")
	makeArtifact(t, bad, "1.2.0", false, "three")

	if _, err := store.Rollback(); err == nil {
		t.Fatal("rollback on an empty store succeeded")
	}
	if id, err := store.Promote(a1); err != nil || id != "policy-student-1.0.0" {
		t.Fatalf("promote 1: %q %v", id, err)
	}
	if _, err := store.Rollback(); err == nil {
		t.Fatal("rollback past the first version succeeded")
	}
	if _, err := store.Promote(a2); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Promote(bad); err == nil || !strings.Contains(err.Error(), "did not approve") {
		t.Fatalf("unapproved artifact promoted: %v", err)
	}
	cur, _ := store.Current()
	if cur != "policy-student-1.1.0" {
		t.Fatalf("current %q", cur)
	}
	back, err := store.Rollback()
	if err != nil || back != "policy-student-1.0.0" {
		t.Fatalf("rollback: %q %v", back, err)
	}
	cur, _ = store.Current()
	if cur != "policy-student-1.0.0" {
		t.Fatalf("current after rollback %q", cur)
	}
	if _, err := store.Rollback(); err == nil {
		t.Fatal("second rollback went past the first promoted version")
	}
	// The stored copy is complete and verifies on its own.
	if _, err := Verify(store.Path("policy-student-1.1.0")); err != nil {
		t.Fatal(err)
	}
	// A different artifact under an existing id is refused.
	a3 := t.TempDir()
	makeArtifact(t, a3, "1.1.0", true, "changed")
	if _, err := store.Promote(a3); err == nil {
		t.Fatal("different artifact under an existing id accepted")
	}
	// A tampered artifact is refused.
	os.WriteFile(filepath.Join(a2, "model.gguf"), []byte("GGUFtwX"), 0o644)
	if _, err := store.Promote(a2); err == nil {
		t.Fatal("tampered artifact promoted")
	}
	evs, err := store.History()
	if err != nil || len(evs) != 3 {
		t.Fatalf("history %v %v", evs, err)
	}
}
