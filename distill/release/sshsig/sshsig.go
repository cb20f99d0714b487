// Package sshsig signs and verifies messages with ed25519 keys in OpenSSH's
// own formats, so that standard tools check what distill signs and distill
// checks what they sign:
//
//   - private keys: unencrypted "openssh-key-v1" PEM ("OPENSSH PRIVATE KEY"),
//     as written by `ssh-keygen -t ed25519 -N ""`;
//   - public keys: one authorized_keys line, "ssh-ed25519 BASE64 [comment]";
//   - signatures: armored SSHSIG blobs (OpenSSH's PROTOCOL.sshsig), as made
//     and checked by `ssh-keygen -Y sign` and `ssh-keygen -Y verify`.
//
// Only ed25519 is supported. A namespace (e.g. "distill-release") is part of
// what is signed, so a signature made for one purpose does not verify for
// another.
package sshsig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

const (
	keyType        = "ssh-ed25519"
	privateKeyPEM  = "OPENSSH PRIVATE KEY"
	privateKeyAuth = "openssh-key-v1\x00"
	sigMagic       = "SSHSIG"
	sigVersion     = 1
	sigBegin       = "-----BEGIN SSH SIGNATURE-----"
	sigEnd         = "-----END SSH SIGNATURE-----"
	// defaultHash is what Sign uses (ssh-keygen's default too); Verify also
	// accepts "sha256".
	defaultHash = "sha512"
)

// ErrWrongKey is returned (wrapped) by Verify when a well-formed signature
// was made by a key other than the trusted one.
var ErrWrongKey = errors.New("signed by a different key")

// GenerateKey makes a new ed25519 key pair and returns it in OpenSSH's
// private key (PEM) and public key (authorized_keys line) formats.
func GenerateKey(comment string) (private, public []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return MarshalPrivateKey(priv, comment), MarshalPublicKey(pub, comment), nil
}

// MarshalPublicKey formats k as an authorized_keys line ending in a newline.
func MarshalPublicKey(k ed25519.PublicKey, comment string) []byte {
	line := keyType + " " + base64.StdEncoding.EncodeToString(publicBlob(k))
	if comment = strings.TrimSpace(comment); comment != "" {
		line += " " + comment
	}
	return []byte(line + "\n")
}

// ParsePublicKey reads an ed25519 public key from an authorized_keys or
// allowed_signers line ("[principal] ssh-ed25519 BASE64 [comment]"). Blank
// lines and '#' comments are skipped; exactly one key must be present.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	var found ed25519.PublicKey
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("public key line %d: more than one key", i+1)
		}
		fields := strings.Fields(line)
		at := -1
		for j, f := range fields {
			if f == keyType {
				at = j
				break
			}
		}
		if at < 0 || at+1 >= len(fields) {
			return nil, fmt.Errorf("public key line %d: no %q key (only ed25519 keys are supported)", i+1, keyType)
		}
		blob, err := base64.StdEncoding.DecodeString(fields[at+1])
		if err != nil {
			return nil, fmt.Errorf("public key line %d: %w", i+1, err)
		}
		k, err := parsePublicBlob(blob)
		if err != nil {
			return nil, fmt.Errorf("public key line %d: %w", i+1, err)
		}
		found = k
	}
	if found == nil {
		return nil, errors.New("public key: no key found")
	}
	return found, nil
}

// Fingerprint is k's OpenSSH fingerprint, "SHA256:..." as `ssh-keygen -l` prints it.
func Fingerprint(k ed25519.PublicKey) string {
	sum := sha256.Sum256(publicBlob(k))
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// MarshalPrivateKey formats k as an unencrypted OpenSSH private key (PEM).
func MarshalPrivateKey(k ed25519.PrivateKey, comment string) []byte {
	pub := k.Public().(ed25519.PublicKey)
	var check [4]byte
	rand.Read(check[:]) // never fails (crypto/rand)
	var sec []byte
	sec = append(sec, check[:]...)
	sec = append(sec, check[:]...)
	sec = appendString(sec, []byte(keyType))
	sec = appendString(sec, pub)
	sec = appendString(sec, k) // seed || public key, 64 bytes
	sec = appendString(sec, []byte(comment))
	for i := byte(1); len(sec)%8 != 0; i++ { // padding 1, 2, 3, ... to the cipher block size (8 for "none")
		sec = append(sec, i)
	}
	var b []byte
	b = append(b, privateKeyAuth...)
	b = appendString(b, []byte("none")) // cipher
	b = appendString(b, []byte("none")) // kdf
	b = appendString(b, nil)            // kdf options
	b = binary.BigEndian.AppendUint32(b, 1)
	b = appendString(b, publicBlob(pub))
	b = appendString(b, sec)
	return pem.EncodeToMemory(&pem.Block{Type: privateKeyPEM, Bytes: b})
}

// ParsePrivateKey reads an unencrypted OpenSSH ed25519 private key.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != privateKeyPEM {
		return nil, fmt.Errorf("private key: not an OpenSSH private key (want a %q PEM block)", privateKeyPEM)
	}
	data := block.Bytes
	if !bytes.HasPrefix(data, []byte(privateKeyAuth)) {
		return nil, errors.New("private key: missing openssh-key-v1 header")
	}
	r := &reader{b: data[len(privateKeyAuth):]}
	cipher, kdf := string(r.string("cipher")), string(r.string("kdf"))
	r.string("kdf options")
	n := r.uint32("key count")
	pubBlob := r.string("public key")
	sec := r.string("private section")
	r.end()
	if r.err != nil {
		return nil, fmt.Errorf("private key: %w", r.err)
	}
	if cipher != "none" || kdf != "none" {
		return nil, fmt.Errorf("private key: encrypted with %s/%s; distill reads unencrypted keys only (remove the passphrase with ssh-keygen -p -N '')", cipher, kdf)
	}
	if n != 1 {
		return nil, fmt.Errorf("private key: %d keys, want 1", n)
	}
	outerPub, err := parsePublicBlob(pubBlob)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	s := &reader{b: sec}
	c1, c2 := s.uint32("check"), s.uint32("check")
	typ := string(s.string("key type"))
	pub := s.string("ed25519 public key")
	priv := s.string("ed25519 private key")
	s.string("comment")
	if s.err != nil {
		return nil, fmt.Errorf("private key: %w", s.err)
	}
	for i, p := range s.b { // what is left is padding 1, 2, 3, ...
		if int(p) != i+1 {
			return nil, errors.New("private key: bad padding")
		}
	}
	switch {
	case c1 != c2:
		return nil, errors.New("private key: check values differ (corrupt or encrypted)")
	case typ != keyType:
		return nil, fmt.Errorf("private key: type %q; only %s keys are supported", typ, keyType)
	case len(pub) != ed25519.PublicKeySize || len(priv) != ed25519.PrivateKeySize:
		return nil, fmt.Errorf("private key: ed25519 key sizes %d/%d, want %d/%d", len(pub), len(priv), ed25519.PublicKeySize, ed25519.PrivateKeySize)
	}
	k := ed25519.NewKeyFromSeed(priv[:ed25519.SeedSize])
	if !bytes.Equal(k[ed25519.SeedSize:], pub) || !bytes.Equal(priv[ed25519.SeedSize:], pub) || !bytes.Equal(pub, outerPub) {
		return nil, errors.New("private key: public key does not match the private key")
	}
	return k, nil
}

// Sign signs msg under namespace and returns an armored SSHSIG signature
// (ending in a newline) that `ssh-keygen -Y verify -n NAMESPACE` accepts.
func Sign(k ed25519.PrivateKey, namespace string, msg []byte) []byte {
	pub := k.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(k, signedData(namespace, nil, defaultHash, msg))
	var blob []byte
	blob = append(blob, sigMagic...)
	blob = binary.BigEndian.AppendUint32(blob, sigVersion)
	blob = appendString(blob, publicBlob(pub))
	blob = appendString(blob, []byte(namespace))
	blob = appendString(blob, nil) // reserved
	blob = appendString(blob, []byte(defaultHash))
	blob = appendString(blob, appendString(appendString(nil, []byte(keyType)), sig))
	enc := base64.StdEncoding.EncodeToString(blob)
	var out strings.Builder
	out.WriteString(sigBegin + "\n")
	for len(enc) > 70 { // ssh-keygen's line width
		out.WriteString(enc[:70] + "\n")
		enc = enc[70:]
	}
	out.WriteString(enc + "\n" + sigEnd + "\n")
	return []byte(out.String())
}

// Verify checks that armored is a valid SSHSIG signature of msg under
// namespace made by the key trusted. A signature by another key returns an
// error wrapping ErrWrongKey.
func Verify(trusted ed25519.PublicKey, namespace string, msg, armored []byte) error {
	blob, err := dearmor(armored)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(blob, []byte(sigMagic)) {
		return errors.New("signature: missing SSHSIG preamble")
	}
	r := &reader{b: blob[len(sigMagic):]}
	version := r.uint32("version")
	pubBlob := r.string("public key")
	ns := string(r.string("namespace"))
	reserved := r.string("reserved")
	hashAlg := string(r.string("hash algorithm"))
	sigBlob := r.string("signature")
	r.end()
	if r.err != nil {
		return fmt.Errorf("signature: %w", r.err)
	}
	if version != sigVersion {
		return fmt.Errorf("signature: SSHSIG version %d, want %d", version, sigVersion)
	}
	signer, err := parsePublicBlob(pubBlob)
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if ns != namespace {
		return fmt.Errorf("signature: namespace %q, want %q", ns, namespace)
	}
	if hashAlg != "sha512" && hashAlg != "sha256" {
		return fmt.Errorf("signature: hash algorithm %q, want sha512 or sha256", hashAlg)
	}
	s := &reader{b: sigBlob}
	typ := string(s.string("signature type"))
	sig := s.string("signature bytes")
	s.end()
	if s.err != nil {
		return fmt.Errorf("signature: %w", s.err)
	}
	if typ != keyType || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("signature: type %q with %d bytes, want %s with %d", typ, len(sig), keyType, ed25519.SignatureSize)
	}
	if !signer.Equal(trusted) {
		return fmt.Errorf("signature: %w: %s, not the trusted key %s", ErrWrongKey, Fingerprint(signer), Fingerprint(trusted))
	}
	if !ed25519.Verify(trusted, signedData(namespace, reserved, hashAlg, msg), sig) {
		return fmt.Errorf("signature by %s does not match the signed bytes (they were changed after signing)", Fingerprint(trusted))
	}
	return nil
}

// signedData is what SSHSIG signs: the preamble, namespace, reserved field,
// hash algorithm and the message's hash.
func signedData(namespace string, reserved []byte, hashAlg string, msg []byte) []byte {
	var sum []byte
	if hashAlg == "sha256" {
		h := sha256.Sum256(msg)
		sum = h[:]
	} else {
		h := sha512.Sum512(msg)
		sum = h[:]
	}
	var b []byte
	b = append(b, sigMagic...)
	b = appendString(b, []byte(namespace))
	b = appendString(b, reserved)
	b = appendString(b, []byte(hashAlg))
	return appendString(b, sum)
}

func dearmor(armored []byte) ([]byte, error) {
	text := strings.TrimSpace(string(armored))
	if !strings.HasPrefix(text, sigBegin) || !strings.HasSuffix(text, sigEnd) {
		return nil, fmt.Errorf("signature: not an armored SSH signature (want %s ... %s)", sigBegin, sigEnd)
	}
	body := strings.TrimSuffix(strings.TrimPrefix(text, sigBegin), sigEnd)
	// Strict: one encoding per signature (no ignored padding bits).
	blob, err := base64.StdEncoding.Strict().DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	return blob, nil
}

func publicBlob(k ed25519.PublicKey) []byte {
	return appendString(appendString(nil, []byte(keyType)), k)
}

func parsePublicBlob(blob []byte) (ed25519.PublicKey, error) {
	r := &reader{b: blob}
	typ := string(r.string("key type"))
	k := r.string("ed25519 key")
	r.end()
	if r.err != nil {
		return nil, fmt.Errorf("public key: %w", r.err)
	}
	if typ != keyType {
		return nil, fmt.Errorf("public key: type %q; only %s keys are supported", typ, keyType)
	}
	if len(k) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key: %d bytes, want %d", len(k), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(bytes.Clone(k)), nil
}

// appendString appends s in SSH wire format: uint32 length, then the bytes.
func appendString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// reader decodes SSH wire format; the first error sticks and names the field.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uint32(field string) uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 4 {
		r.err = fmt.Errorf("%s: truncated", field)
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) string(field string) []byte {
	n := r.uint32(field)
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)) {
		r.err = fmt.Errorf("%s: length %d exceeds the %d bytes left", field, n, len(r.b))
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

// end requires that nothing is left.
func (r *reader) end() {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
}
