package sshsig_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/distill/release/sshsig"
	"github.com/distill-ml/distill/internal/testpeers"
)

const ns = "distill-release"

func newKey(t *testing.T) (ed25519.PrivateKey, ed25519.PublicKey, []byte, []byte) {
	t.Helper()
	privPEM, pubLine, err := sshsig.GenerateKey("test@distill")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := sshsig.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatalf("parse our own private key: %v", err)
	}
	pub, err := sshsig.ParsePublicKey(pubLine)
	if err != nil {
		t.Fatalf("parse our own public key: %v", err)
	}
	if !pub.Equal(priv.Public()) {
		t.Fatal("public key file does not match the private key")
	}
	return priv, pub, privPEM, pubLine
}

func TestSignVerifyRejectsChangedMessageWrongKeyAndNamespace(t *testing.T) {
	priv, pub, _, _ := newKey(t)
	_, other, _, _ := newKey(t)
	msg := []byte(`{"files":[{"path":"model.gguf","sha256":"00"}]}`)
	sig := sshsig.Sign(priv, ns, msg)
	if err := sshsig.Verify(pub, ns, msg, sig); err != nil {
		t.Fatalf("own signature does not verify: %v", err)
	}
	changed := bytes.Replace(msg, []byte("00"), []byte("01"), 1)
	if err := sshsig.Verify(pub, ns, changed, sig); err == nil {
		t.Fatal("changed message verified")
	}
	if err := sshsig.Verify(other, ns, msg, sig); !errors.Is(err, sshsig.ErrWrongKey) {
		t.Fatalf("signature by another key: %v, want ErrWrongKey", err)
	}
	if err := sshsig.Verify(pub, "file", msg, sig); err == nil || !strings.Contains(err.Error(), "namespace") {
		t.Fatalf("wrong namespace: %v", err)
	}
}

// Every truncation and every single-byte change of a signature is an error,
// never a panic and never a pass.
func TestVerifyMalformedSignatures(t *testing.T) {
	priv, pub, _, _ := newKey(t)
	msg := []byte("manifest")
	blob := sshsig.Sign(priv, ns, msg)
	lines := strings.Split(strings.TrimSpace(string(blob)), "\n")
	body := strings.Join(lines[1:len(lines)-1], "")
	for i := 0; i < len(body); i++ {
		mut := []byte(body)
		mut[i] = map[bool]byte{true: 'B', false: 'A'}[mut[i] == 'A']
		arm := lines[0] + "\n" + string(mut) + "\n" + lines[len(lines)-1] + "\n"
		if err := sshsig.Verify(pub, ns, msg, []byte(arm)); err == nil {
			t.Fatalf("signature with base64 char %d changed verified", i)
		}
	}
	for n := 0; n < len(body); n += 4 {
		arm := lines[0] + "\n" + body[:n] + "\n" + lines[len(lines)-1] + "\n"
		if err := sshsig.Verify(pub, ns, msg, []byte(arm)); err == nil {
			t.Fatalf("signature truncated to %d base64 chars verified", n)
		}
	}
	if err := sshsig.Verify(pub, ns, msg, []byte("not a signature")); err == nil {
		t.Fatal("garbage verified")
	}
}

func TestParsePrivateKeyRejectsBadKeys(t *testing.T) {
	_, _, privPEM, _ := newKey(t)
	if _, err := sshsig.ParsePrivateKey([]byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")); err == nil {
		t.Fatal("RSA PEM accepted")
	}
	if _, err := sshsig.ParsePublicKey([]byte("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ test\n")); err == nil {
		t.Fatal("RSA public key accepted")
	}
	// Truncating the PEM body anywhere is an error, not a panic.
	lines := strings.Split(strings.TrimSpace(string(privPEM)), "\n")
	body := strings.Join(lines[1:len(lines)-1], "")
	for n := 0; n < len(body); n += 4 {
		pem := lines[0] + "\n" + body[:n] + "\n" + lines[len(lines)-1] + "\n"
		if _, err := sshsig.ParsePrivateKey([]byte(pem)); err == nil {
			t.Fatalf("private key truncated to %d base64 chars accepted", n)
		}
	}
}

// TestSSHKeygenInterop checks the formats against OpenSSH itself, both ways:
// ssh-keygen reads our keys and verifies our signatures, and we read its keys
// and verify its signatures.
func TestSSHKeygenInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with ssh-keygen: not in -short")
	}
	keygen := testpeers.SSHKeygen(t)
	dir := t.TempDir()
	run := func(stdin []byte, args ...string) string {
		t.Helper()
		cmd := exec.Command(keygen, args...)
		cmd.Dir = dir
		if stdin != nil {
			cmd.Stdin = bytes.NewReader(stdin)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	msg := []byte("{\n  \"name\": \"distill-student\"\n}\n")
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), msg, 0o644); err != nil {
		t.Fatal(err)
	}

	// ssh-keygen reads our private key and derives our public key.
	priv, pub, privPEM, pubLine := newKey(t)
	ours := filepath.Join(dir, "ours")
	os.WriteFile(ours, privPEM, 0o600)
	if derived := strings.Fields(run(nil, "-y", "-f", ours)); len(derived) < 2 || derived[1] != strings.Fields(string(pubLine))[1] {
		t.Fatalf("ssh-keygen -y derives %v from our private key, want %s", derived, pubLine)
	}
	// ssh-keygen's fingerprint is ours.
	os.WriteFile(ours+".pub", pubLine, 0o644)
	if fp := run(nil, "-l", "-f", ours+".pub"); !strings.Contains(fp, sshsig.Fingerprint(pub)) {
		t.Fatalf("ssh-keygen -l: %q, want %s", fp, sshsig.Fingerprint(pub))
	}
	// ssh-keygen -Y verify accepts our signature, and rejects it for other bytes.
	os.WriteFile(filepath.Join(dir, "allowed_signers"), append([]byte("release@distill "), pubLine...), 0o644)
	os.WriteFile(filepath.Join(dir, "manifest.json.sig"), sshsig.Sign(priv, ns, msg), 0o644)
	verify := func(m []byte) error {
		cmd := exec.Command(keygen, "-Y", "verify", "-f", "allowed_signers", "-I", "release@distill", "-n", ns, "-s", "manifest.json.sig")
		cmd.Dir, cmd.Stdin = dir, bytes.NewReader(m)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return errors.New(string(out))
		}
		return nil
	}
	if err := verify(msg); err != nil {
		t.Fatalf("ssh-keygen -Y verify rejects our signature: %v", err)
	}
	if err := verify(append([]byte(" "), msg...)); err == nil {
		t.Fatal("ssh-keygen -Y verify accepts our signature for changed bytes")
	}

	// We read ssh-keygen's key and verify its signature.
	run(nil, "-q", "-t", "ed25519", "-N", "", "-C", "theirs@openssh", "-f", "theirs")
	theirPEM, _ := os.ReadFile(filepath.Join(dir, "theirs"))
	theirPubLine, _ := os.ReadFile(filepath.Join(dir, "theirs.pub"))
	theirPriv, err := sshsig.ParsePrivateKey(theirPEM)
	if err != nil {
		t.Fatalf("parse ssh-keygen's private key: %v", err)
	}
	theirPub, err := sshsig.ParsePublicKey(theirPubLine)
	if err != nil {
		t.Fatalf("parse ssh-keygen's public key: %v", err)
	}
	if !theirPub.Equal(theirPriv.Public()) {
		t.Fatal("ssh-keygen's public key does not match its private key as we read them")
	}
	os.Remove(filepath.Join(dir, "manifest.json.sig")) // ours, from above
	run(nil, "-Y", "sign", "-q", "-f", "theirs", "-n", ns, "manifest.json")
	theirSig, err := os.ReadFile(filepath.Join(dir, "manifest.json.sig"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sshsig.Verify(theirPub, ns, msg, theirSig); err != nil {
		t.Fatalf("we reject ssh-keygen's signature: %v", err)
	}
	if err := sshsig.Verify(theirPub, ns, append(msg, 'x'), theirSig); err == nil {
		t.Fatal("ssh-keygen's signature verified for changed bytes")
	}
	if err := sshsig.Verify(pub, ns, msg, theirSig); !errors.Is(err, sshsig.ErrWrongKey) {
		t.Fatalf("ssh-keygen's signature checked against our key: %v, want ErrWrongKey", err)
	}
	// A passphrase-protected key is refused with a clear error.
	run(nil, "-q", "-t", "ed25519", "-N", "secret", "-f", "locked")
	locked, _ := os.ReadFile(filepath.Join(dir, "locked"))
	if _, err := sshsig.ParsePrivateKey(locked); err == nil || !strings.Contains(err.Error(), "unencrypted") {
		t.Fatalf("encrypted key: %v", err)
	}
}
