package release

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/distill/release/sshsig"
)

// makeArtifact writes an artifact directory the way `distill gate` does: the
// model, a gate report (reports/gate.json) naming it, and a manifest whose
// gate section repeats the report's verdict, thresholds and measurements.
func makeArtifact(t *testing.T, dir, version string, approved bool, payload string) {
	t.Helper()
	os.MkdirAll(filepath.Join(dir, "reports"), 0o755)
	model := []byte("GGUF" + payload)
	os.WriteFile(filepath.Join(dir, "model.gguf"), model, 0o644)
	writeGateReport(t, dir, approved, 0.01, len(model))
	m := &Manifest{Name: "policy-student", Version: version,
		Model: Model{File: "model.gguf", Architecture: "llama", Parameters: 123, QuantType: "q8_0", TokenizerHash: "sha256:ab"},
		Gate: Gate{Approved: approved, Artifact: "model", Report: "reports/gate.json",
			Thresholds: map[string]float64{"policy.quality_drop": 0.02}, Measured: map[string]float64{"policy.quality_drop": 0.01}}}
	if err := Write(dir, m); err != nil {
		t.Fatal(err)
	}
}

// writeGateReport writes reports/gate.json with the artifact "model" and one
// check, policy.quality_drop = drop against the limit 0.02.
func writeGateReport(t *testing.T, dir string, approved bool, drop float64, fileBytes int) {
	t.Helper()
	pass := drop <= 0.02
	rep := fmt.Sprintf(`{"schema_version": 1, "artifacts": [
  {"name": "student-f32", "baseline": true, "approved": true, "checks": []},
  {"name": "model", "approved": %v, "footprint": {"file_bytes": %d},
   "checks": [{"route": "policy", "name": "quality_drop", "value": %v, "op": "<=", "limit": 0.02, "pass": %v}]}],
 "approved": %s}`, approved, fileBytes, drop, pass, map[bool]string{true: `["model"]`, false: `[]`}[approved])
	if err := os.WriteFile(filepath.Join(dir, "reports", "gate.json"), []byte(rep), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewriteManifest edits the manifest and rehashes every file, as someone
// forging a release by hand would.
func rewriteManifest(t *testing.T, dir string, edit func(m *Manifest)) {
	t.Helper()
	m, err := Read(filepath.Join(dir, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	edit(m)
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
	stored, err := store.Path("policy-student-1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(stored); err != nil {
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

// A manifest edited to say approved (and rehashed) is refused: gate.json,
// whose hash the manifest lists, must agree with the manifest's gate section.
func TestPromoteCrossChecksGateReport(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		forge      func(t *testing.T, dir string)
	}{
		{"hand-set approved", "gate.json", func(t *testing.T, dir string) {
			rewriteManifest(t, dir, func(m *Manifest) { m.Gate.Approved = true })
		}},
		{"gate.json approves a failing check", "quality_drop", func(t *testing.T, dir string) {
			writeGateReport(t, dir, true, 0.5, len("GGUFthree"))
			rewriteManifest(t, dir, func(m *Manifest) { m.Gate.Approved = true; m.Gate.Measured["policy.quality_drop"] = 0.5 })
		}},
		{"measured value differs", "policy.quality_drop", func(t *testing.T, dir string) {
			writeGateReport(t, dir, true, 0.015, len("GGUFthree"))
			rewriteManifest(t, dir, func(m *Manifest) { m.Gate.Approved = true })
		}},
		{"threshold differs", "policy.quality_drop", func(t *testing.T, dir string) {
			writeGateReport(t, dir, true, 0.01, len("GGUFthree"))
			rewriteManifest(t, dir, func(m *Manifest) { m.Gate.Approved = true; m.Gate.Thresholds["policy.quality_drop"] = 0.9 })
		}},
		{"another artifact's verdict", "other", func(t *testing.T, dir string) {
			writeGateReport(t, dir, true, 0.01, len("GGUFthree"))
			rewriteManifest(t, dir, func(m *Manifest) { m.Gate.Approved = true; m.Gate.Artifact = "other" })
		}},
		{"model size differs from the gated one", "file_bytes", func(t *testing.T, dir string) {
			writeGateReport(t, dir, true, 0.01, 4096)
			rewriteManifest(t, dir, func(m *Manifest) { m.Gate.Approved = true })
		}},
		{"no gate report", "gate report", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "reports", "gate.json"))
			rewriteManifest(t, dir, func(m *Manifest) { m.Gate.Approved = true; m.Gate.Report = "" })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := Store{Dir: t.TempDir()}
			dir := t.TempDir()
			makeArtifact(t, dir, "1.2.0", false, "three")
			tc.forge(t, dir)
			if _, err := Verify(dir); err != nil {
				t.Fatalf("the forgery should pass the hash check (that is the point): %v", err)
			}
			_, err := store.Promote(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("forged approval: %v, want an error mentioning %q", err, tc.want)
			}
			if cur, _ := store.Current(); cur != "" {
				t.Fatalf("current is %q after a refused promote", cur)
			}
		})
	}
}

// promoteTwo promotes versions 1.0.0 and 1.1.0 into a new store.
func promoteTwo(t *testing.T) Store {
	t.Helper()
	store := Store{Dir: filepath.Join(t.TempDir(), "store")}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		a := t.TempDir()
		makeArtifact(t, a, v, true, v)
		if _, err := store.Promote(a); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

func appendHistory(t *testing.T, store Store, line string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(store.Dir, "history.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Fatal(err)
	}
}

// Ids read from history.jsonl and CURRENT never lead outside the store.
func TestRollbackRefusesIDsLeavingTheStore(t *testing.T) {
	// An approved-looking release outside the store.
	evil := filepath.Join(t.TempDir(), "evilrel")
	makeArtifact(t, evil, "6.6.6", true, "evil")

	t.Run("from with ..", func(t *testing.T) {
		store := promoteTwo(t)
		rel, err := filepath.Rel(filepath.Join(store.Dir, "versions"), evil)
		if err != nil {
			t.Fatal(err)
		}
		hist := filepath.Join(store.Dir, "history.jsonl")
		orig, err := os.ReadFile(hist)
		if err != nil {
			t.Fatal(err)
		}
		for _, from := range []string{"../../../../../srv/evilrel", filepath.ToSlash(rel)} {
			appendHistory(t, store, `{"action":"promote","id":"policy-student-1.1.0","from":"`+from+`"}`)
			back, err := store.Rollback()
			if err == nil || !strings.Contains(err.Error(), "history.jsonl line 3") {
				t.Fatalf("rollback to %q: %q %v, want a history.jsonl line 3 error", from, back, err)
			}
			if cur, _ := store.Current(); cur != "policy-student-1.1.0" {
				t.Fatalf("current %q", cur)
			}
			os.WriteFile(hist, orig, 0o644)
		}
	})
	t.Run("CURRENT with ..", func(t *testing.T) {
		store := promoteTwo(t)
		os.WriteFile(filepath.Join(store.Dir, "CURRENT"), []byte("../../evil\n"), 0o644)
		if cur, err := store.Current(); err == nil || !strings.Contains(err.Error(), "CURRENT") {
			t.Fatalf("CURRENT ../../evil: %q %v", cur, err)
		}
	})
	t.Run("version dir is a symlink out of the store", func(t *testing.T) {
		store := promoteTwo(t)
		if err := os.Symlink(evil, filepath.Join(store.Dir, "versions", "policy-student-6.6.6")); err != nil {
			t.Fatal(err)
		}
		appendHistory(t, store, `{"action":"promote","id":"policy-student-1.1.0","from":"policy-student-6.6.6"}`)
		back, err := store.Rollback()
		if err == nil || !strings.Contains(err.Error(), "is a symlink") {
			t.Fatalf("rollback through a symlink: %q %v", back, err)
		}
	})
	t.Run("bad action", func(t *testing.T) {
		store := promoteTwo(t)
		appendHistory(t, store, `{"action":"yolo","id":"policy-student-1.1.0","from":"policy-student-1.0.0"}`)
		if _, err := store.History(); err == nil || !strings.Contains(err.Error(), "line 3") {
			t.Fatalf("bad action: %v", err)
		}
	})
}

func newKeyPair(t *testing.T) (priv ed25519.PrivateKey, pubPath string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "release-key")
	if _, err := GenerateKey(path, "test"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v %v, want 0600", st.Mode(), err)
	}
	if _, err := GenerateKey(path, "test"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("keygen over an existing key: %v", err)
	}
	priv, err = ReadPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return priv, path + ".pub"
}

// The forgery: flip a model byte and rewrite its sha256 in the
// manifest. Hashes alone accept it; the signature does not.
func TestVerifySignedCatchesRewrittenManifest(t *testing.T) {
	priv, pubPath := newKeyPair(t)
	pub, err := ReadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	makeArtifact(t, dir, "1.0.0", true, "weights")
	if _, err := VerifySigned(dir, pub); err == nil || !strings.Contains(err.Error(), "unsigned") {
		t.Fatalf("unsigned artifact: %v", err)
	}
	if _, err := Sign(dir, priv); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifySigned(dir, pub); err != nil {
		t.Fatalf("signed artifact does not verify: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "model.gguf"), []byte("GGUFweighTs"), 0o644)
	rewriteManifest(t, dir, func(m *Manifest) {})
	if _, err := Verify(dir); err != nil {
		t.Fatalf("rehashed forgery should pass the hash check: %v", err)
	}
	if _, err := VerifySigned(dir, pub); err == nil || !strings.Contains(err.Error(), "manifest.json.sig") {
		t.Fatalf("rewritten manifest passed the signature check: %v", err)
	}
	// A signature by another key is refused.
	other, _ := newKeyPair(t)
	if _, err := Sign(dir, other); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifySigned(dir, pub); !errors.Is(err, sshsig.ErrWrongKey) {
		t.Fatalf("signature by another key: %v", err)
	}
	// Sign refuses a tampered artifact.
	os.WriteFile(filepath.Join(dir, "model.gguf"), []byte("GGUFweighTS"), 0o644)
	if _, err := Sign(dir, priv); err == nil || !strings.Contains(err.Error(), "model.gguf: sha256") {
		t.Fatalf("signed a tampered artifact: %v", err)
	}
}

// A store that trusts a key takes only releases signed by it, and a signed
// release whose gate.json says "approved" by hand is still refused when the
// signature does not cover it.
func TestTrustedStorePromotesOnlySignedReleases(t *testing.T) {
	priv, pubPath := newKeyPair(t)
	pub, _ := ReadPublicKey(pubPath)
	other, _ := newKeyPair(t)
	store := Store{Dir: filepath.Join(t.TempDir(), "store")}
	old := t.TempDir()
	makeArtifact(t, old, "0.9.0", true, "old")
	if _, err := store.Promote(old); err != nil { // before the store trusts a key
		t.Fatal(err)
	}
	if err := store.Trust(pub, false); err != nil {
		t.Fatal(err)
	}
	_, otherPubPath := newKeyPair(t)
	otherPub, _ := ReadPublicKey(otherPubPath)
	if err := store.Trust(otherPub, false); err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("silently replaced the trusted key: %v", err)
	}

	a := t.TempDir()
	makeArtifact(t, a, "1.0.0", true, "one")
	if _, err := store.Promote(a); err == nil || !strings.Contains(err.Error(), "unsigned") {
		t.Fatalf("unsigned release promoted into a trusting store: %v", err)
	}
	if _, err := Sign(a, other); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Promote(a); !errors.Is(err, sshsig.ErrWrongKey) {
		t.Fatalf("release signed by another key: %v", err)
	}
	if _, err := Sign(a, priv); err != nil {
		t.Fatal(err)
	}
	if id, err := store.Promote(a); err != nil || id != "policy-student-1.0.0" {
		t.Fatalf("signed release: %q %v", id, err)
	}
	stored, _ := store.Path("policy-student-1.0.0")
	if _, err := VerifySigned(stored, pub); err != nil {
		t.Fatalf("stored copy lost its signature: %v", err)
	}

	// A signed but unapproved release, then approved by hand in both files.
	b := t.TempDir()
	makeArtifact(t, b, "1.1.0", false, "two")
	if _, err := Sign(b, priv); err != nil {
		t.Fatal(err)
	}
	writeGateReport(t, b, true, 0.01, len("GGUFtwo"))
	rewriteManifest(t, b, func(m *Manifest) { m.Gate.Approved = true })
	if _, err := store.Promote(b); err == nil || !strings.Contains(err.Error(), "manifest.json.sig") {
		t.Fatalf("hand-approved release with a stale signature: %v", err)
	}
	// Rolling back to a version promoted before the key was trusted is refused.
	if _, err := store.Rollback(); err == nil || !strings.Contains(err.Error(), "unsigned") {
		t.Fatalf("rollback to an unsigned version: %v", err)
	}
	if cur, _ := store.Current(); cur != "policy-student-1.0.0" {
		t.Fatalf("current %q", cur)
	}
}
