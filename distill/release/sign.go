package release

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/distill-ml/distill/distill/release/sshsig"
	"github.com/distill-ml/distill/internal/atomicfile"
)

// SignatureNamespace is the SSHSIG namespace of release signatures
// (`ssh-keygen -Y verify -n distill-release`): a signature made for another
// purpose with the same key does not verify as a release signature.
const SignatureNamespace = "distill-release"

// GenerateKey writes a new ed25519 key pair for signing releases: the private
// key to path (OpenSSH format, mode 0600) and the public key to path.pub
// (an authorized_keys line). It refuses to replace an existing key. Both
// writes are atomic. It returns the public key.
func GenerateKey(path, comment string) (ed25519.PublicKey, error) {
	for _, p := range []string{path, path + ".pub"} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("keygen: %s already exists; not replacing a key", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("keygen: %w", err)
		}
	}
	priv, pub, err := sshsig.GenerateKey(comment)
	if err != nil {
		return nil, fmt.Errorf("keygen: %w", err)
	}
	if err := atomicfile.WriteFile(path, priv, 0o600); err != nil {
		return nil, fmt.Errorf("keygen: %w", err)
	}
	if err := atomicfile.WriteFile(path+".pub", pub, 0o644); err != nil {
		return nil, fmt.Errorf("keygen: %w", err)
	}
	return sshsig.ParsePublicKey(pub)
}

// maxKeyOrSigBytes bounds key and signature files (an ed25519 key or SSHSIG
// signature is well under 1 KiB) before they are read into memory.
const maxKeyOrSigBytes = 64 << 10

// readSmall reads a file of at most maxKeyOrSigBytes.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyOrSigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxKeyOrSigBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes; not a key or signature", path, maxKeyOrSigBytes)
	}
	return b, nil
}

// ReadPrivateKey reads an unencrypted OpenSSH ed25519 private key file.
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	return readKey(path, "signing key", sshsig.ParsePrivateKey)
}

// ReadPublicKey reads an ed25519 public key file (authorized_keys or
// allowed_signers line).
func ReadPublicKey(path string) (ed25519.PublicKey, error) {
	return readKey(path, "public key", sshsig.ParsePublicKey)
}

// readKey reads a small key file and parses it; errors say what it is.
func readKey[K any](path, what string, parse func([]byte) (K, error)) (K, error) {
	var none K
	b, err := readSmall(path)
	if err != nil {
		return none, fmt.Errorf("%s: %w", what, err)
	}
	k, err := parse(b)
	if err != nil {
		return none, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return k, nil
}

// Fingerprint is a public key's OpenSSH fingerprint ("SHA256:...").
func Fingerprint(k ed25519.PublicKey) string { return sshsig.Fingerprint(k) }

// Sign verifies the artifact at path (a directory or its manifest.json) and
// writes manifest.json.sig beside the manifest, atomically: an SSHSIG
// signature of the manifest's exact bytes. A tampered artifact is not signed.
// It returns the manifest signed.
func Sign(path string, key ed25519.PrivateKey) (*Manifest, error) {
	path = manifestPath(path)
	raw, m, err := readManifest(path)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	dir := filepath.Dir(path)
	if err := checkFiles(dir, m); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	sig := sshsig.Sign(key, SignatureNamespace, raw)
	if err := atomicfile.WriteFile(filepath.Join(dir, SignatureName), sig, 0o644); err != nil {
		return nil, fmt.Errorf("sign %s: %w", m.ID(), err)
	}
	return m, nil
}

// VerifySigned is Verify plus the signature: manifest.json.sig must be a
// valid signature by key of the exact manifest bytes whose hashes were
// checked. An unsigned artifact is an error.
func VerifySigned(path string, key ed25519.PublicKey) (*Manifest, error) {
	path = manifestPath(path)
	raw, m, err := readManifest(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := checkSignature(dir, raw, key); err != nil {
		return m, err
	}
	return m, checkFiles(dir, m)
}

func checkSignature(dir string, manifest []byte, key ed25519.PublicKey) error {
	sigPath := filepath.Join(dir, SignatureName)
	sig, err := readSmall(sigPath)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("verify %s: unsigned (no %s); sign it with `distill release sign`", dir, SignatureName)
	}
	if err != nil {
		return fmt.Errorf("verify %s: %w", dir, err)
	}
	if err := sshsig.Verify(key, SignatureNamespace, manifest, sig); err != nil {
		return fmt.Errorf("verify %s: %s: %w", dir, SignatureName, err)
	}
	return nil
}
