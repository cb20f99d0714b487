package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/distill/release"
	"github.com/distill-ml/distill/internal/testpeers"
)

// writeTestArtifact writes a release directory as `distill gate` does: the
// model, gate.json approving it, and a manifest repeating the verdict.
func writeTestArtifact(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "student.gguf"), []byte("GGUF-"+version), 0o644)
	gate := `{"artifacts":[{"name":"student","approved":true,"checks":[{"route":"policy","name":"quality_drop","value":0.01,"op":"<=","limit":0.02,"pass":true}]}],"approved":["student"]}`
	os.WriteFile(filepath.Join(dir, "gate.json"), []byte(gate), 0o644)
	m := &release.Manifest{Name: "student", Version: version, Model: release.Model{File: "student.gguf", QuantType: "q8_0"},
		Gate: release.Gate{Approved: true, Artifact: "student", Report: "gate.json",
			Thresholds: map[string]float64{"policy.quality_drop": 0.02}, Measured: map[string]float64{"policy.quality_drop": 0.01}}}
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
		code, _, errs := runCLI(t, "release", "promote", "--store", store, dir)
		if code != 0 {
			t.Fatalf("promote %s: %d %q", dir, code, errs)
		}
		if !strings.Contains(errs, "unsigned") {
			t.Fatalf("promote into a store without a trusted key does not say the release is unsigned: %q", errs)
		}
	}
	if code, out, _ := runCLI(t, "release", "rollback", "--store", store); code != 0 || !strings.Contains(out, "student-1") {
		t.Fatalf("rollback: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "release", "status", "--store", store); code != 0 || !strings.Contains(out, "current: student-1") {
		t.Fatalf("status: %d %q", code, out)
	}
	// The first promote has no previous version: no empty "(was )" (issue 17, item 11).
	if _, out, _ := runCLI(t, "release", "status", "--store", store); strings.Contains(out, "(was )") ||
		!strings.Contains(out, "promote  student-1 (first release)") || !strings.Contains(out, "promote  student-2 (was student-1)") {
		t.Fatalf("status history:\n%s", out)
	}
	os.WriteFile(filepath.Join(a2, "student.gguf"), []byte("GGUF-X"), 0o644)
	code, _, errs := runCLI(t, "verify", a2)
	if code != 1 || !strings.Contains(errs, "student.gguf: sha256") {
		t.Fatalf("tampered verify: %d %q", code, errs)
	}
}

// TestReleaseSignVerifyCLI: keygen, sign, verify --pubkey (and ssh-keygen -Y
// verify on the same files), the forgery (flip a model byte, rewrite
// its sha256), and a store that trusts the key.
func TestReleaseSignVerifyCLI(t *testing.T) {
	keyDir := t.TempDir()
	key := filepath.Join(keyDir, "release-key")
	if code, out, errs := runCLI(t, "release", "keygen", "--out", key); code != 0 || !strings.Contains(out, "SHA256:") {
		t.Fatalf("keygen: %d %q %q", code, out, errs)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v %v, want mode 0600", st, err)
	}
	if code, _, errs := runCLI(t, "release", "keygen", "--out", key); code != 1 || !strings.Contains(errs, "already exists") {
		t.Fatalf("keygen over an existing key: %d %q", code, errs)
	}
	a := writeTestArtifact(t, "1")
	if code, _, errs := runCLI(t, "verify", "--pubkey", key+".pub", a); code != 1 || !strings.Contains(errs, "unsigned") {
		t.Fatalf("verify --pubkey of an unsigned release: %d %q", code, errs)
	}
	if code, out, errs := runCLI(t, "release", "sign", "--key", key, a); code != 0 || !strings.Contains(out, "signed student-1") {
		t.Fatalf("sign: %d %q %q", code, out, errs)
	}
	if code, out, errs := runCLI(t, "verify", "--pubkey", key+".pub", a); code != 0 || !strings.Contains(out, "signature: good") {
		t.Fatalf("verify --pubkey: %d %q %q", code, out, errs)
	}

	// OpenSSH verifies the same signature of the same manifest bytes.
	keygen := testpeers.SSHKeygen(t)
	pub, _ := os.ReadFile(key + ".pub")
	signers := filepath.Join(keyDir, "allowed_signers")
	os.WriteFile(signers, append([]byte("release@distill "), pub...), 0o644)
	manifest, _ := os.ReadFile(filepath.Join(a, "manifest.json"))
	sshVerify := exec.Command(keygen, "-Y", "verify", "-f", signers, "-I", "release@distill", "-n", release.SignatureNamespace, "-s", filepath.Join(a, "manifest.json.sig"))
	sshVerify.Stdin = bytes.NewReader(manifest)
	if out, err := sshVerify.CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y verify rejects distill's release signature: %v\n%s", err, out)
	}

	// The forgery: hashes agree again, the signature does not.
	os.WriteFile(filepath.Join(a, "student.gguf"), []byte("GGUF-X"), 0o644)
	m, err := release.Read(filepath.Join(a, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := release.Write(a, m); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCLI(t, "verify", a); code != 0 || !strings.Contains(out, "signature not checked") {
		t.Fatalf("verify without --pubkey: %d %q %q", code, out, errs)
	}
	if code, _, errs := runCLI(t, "verify", "--pubkey", key+".pub", a); code != 1 || !strings.Contains(errs, "manifest.json.sig") {
		t.Fatalf("verify --pubkey of the forgery: %d %q", code, errs)
	}

	// A store that trusts the key refuses unsigned releases and takes signed ones.
	store := filepath.Join(t.TempDir(), "store")
	if code, out, errs := runCLI(t, "release", "trust", "--store", store, key+".pub"); code != 0 || !strings.Contains(out, "SHA256:") {
		t.Fatalf("trust: %d %q %q", code, out, errs)
	}
	b := writeTestArtifact(t, "2")
	if code, _, errs := runCLI(t, "release", "promote", "--store", store, b); code != 1 || !strings.Contains(errs, "unsigned") {
		t.Fatalf("unsigned promote into a trusting store: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "release", "sign", "--key", key, b); code != 0 {
		t.Fatalf("sign: %d %q", code, errs)
	}
	if code, out, errs := runCLI(t, "release", "promote", "--store", store, b); code != 0 || !strings.Contains(out, "signature: good") || errs != "" {
		t.Fatalf("signed promote: %d %q %q", code, out, errs)
	}
	if code, out, _ := runCLI(t, "release", "status", "--store", store); code != 0 || !strings.Contains(out, "trusted key: SHA256:") {
		t.Fatalf("status: %d %q", code, out)
	}
}

// gate --sign-key reads the key before measuring anything: a bad key fails
// at once, naming the file, instead of after a long gate run.
func TestGateSignKeyIsReadBeforeTheRun(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "not-a-key")
	os.WriteFile(bad, []byte("hello"), 0o600)
	code, _, errs := runCLI(t, "gate", "--config", "gate", "--baseline", "/nonexistent/f32.gguf", "--candidates", "/nonexistent/q8.gguf", "--sign-key", bad)
	if code != 1 || !strings.Contains(errs, "signing key "+bad) {
		t.Fatalf("gate with a bad --sign-key: exit %d, stderr %q", code, errs)
	}
}
