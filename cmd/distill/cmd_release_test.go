package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/distill/release"
)

func writeTestArtifact(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "student.gguf"), []byte("GGUF-"+version), 0o644)
	m := &release.Manifest{Name: "student", Version: version, Model: release.Model{File: "student.gguf", QuantType: "q8_0"}, Gate: release.Gate{Approved: true}}
	if err := release.Write(dir, m); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestVerifyPromoteRollbackCLI(t *testing.T) {
	a1, a2 := writeTestArtifact(t, "1"), writeTestArtifact(t, "2")
	store := filepath.Join(t.TempDir(), "store")
	if code, out, errs := runCLI(t, "verify", filepath.Join(a1, "manifest.json")); code != 0 || !strings.Contains(out, "ok: student-1") {
		t.Fatalf("verify: %d %q %q", code, out, errs)
	}
	for _, dir := range []string{a1, a2} {
		if code, _, errs := runCLI(t, "release", "promote", "--store", store, dir); code != 0 {
			t.Fatalf("promote %s: %d %q", dir, code, errs)
		}
	}
	if code, out, _ := runCLI(t, "release", "rollback", "--store", store); code != 0 || !strings.Contains(out, "student-1") {
		t.Fatalf("rollback: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "release", "status", "--store", store); code != 0 || !strings.Contains(out, "current: student-1") {
		t.Fatalf("status: %d %q", code, out)
	}
	os.WriteFile(filepath.Join(a2, "student.gguf"), []byte("GGUF-X"), 0o644)
	code, _, errs := runCLI(t, "verify", a2)
	if code != 1 || !strings.Contains(errs, "student.gguf: sha256") {
		t.Fatalf("tampered verify: %d %q", code, errs)
	}
}
