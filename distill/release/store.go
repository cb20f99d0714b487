package release

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/distill-ml/distill/distill/release/sshsig"
	"github.com/distill-ml/distill/internal/atomicfile"
)

// Store is a release store directory:
//
//	versions/<name>-<version>/   immutable copies of promoted artifacts (with manifest.json[.sig])
//	CURRENT                      the id of the version in service
//	history.jsonl                one Event per promote/rollback, append-only
//	trusted-key.pub              optional: the only key whose releases the store takes (Trust)
//
// Every id read back (CURRENT, history) is validated with ValidateID and its
// version directory must be a real directory inside versions/, not a symlink.
type Store struct{ Dir string }

// TrustedKeyName is the store's trusted public key file.
const TrustedKeyName = "trusted-key.pub"

// Event is one line of history.jsonl.
type Event struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"` // promote | rollback
	ID     string    `json:"id"`     // the version made current
	From   string    `json:"from"`   // the version that was current before ("" if none)
}

// validate checks an event read from history.jsonl.
func (e Event) validate() error {
	if e.Action != "promote" && e.Action != "rollback" {
		return fmt.Errorf("action %q, want promote or rollback", e.Action)
	}
	if err := ValidateID(e.ID); err != nil {
		return fmt.Errorf("id: %w", err)
	}
	if e.From != "" {
		if err := ValidateID(e.From); err != nil {
			return fmt.Errorf("from: %w", err)
		}
	}
	return nil
}

// Current returns the id in service, or "" when nothing was promoted.
func (s Store) Current() (string, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, "CURRENT"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("release store: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if err := ValidateID(id); err != nil {
		return "", fmt.Errorf("release store %s: CURRENT: %w", s.Dir, err)
	}
	return id, nil
}

// Path is the directory of a stored version. The id is validated, and the
// directory, if it exists, must be a real directory (not a symlink) in the
// store's versions/ directory.
func (s Store) Path(id string) (string, error) {
	if err := ValidateID(id); err != nil {
		return "", fmt.Errorf("release store %s: version id: %w", s.Dir, err)
	}
	versions := filepath.Join(s.Dir, "versions")
	p := filepath.Join(versions, id)
	for _, d := range []string{versions, p} {
		st, err := os.Lstat(d)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("release store: %w", err)
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return "", fmt.Errorf("release store: %s is a symlink; stored versions must be real directories inside the store", d)
		}
		if !st.IsDir() {
			return "", fmt.Errorf("release store: %s is not a directory", d)
		}
	}
	return p, nil
}

// History returns the store's events, oldest first. Every event is
// validated; a bad line is an error naming it.
func (s Store) History() ([]Event, error) {
	path := filepath.Join(s.Dir, "history.jsonl")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("release store: %w", err)
	}
	defer f.Close()
	var evs []Event
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		var e Event
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("release store %s line %d: %w", path, line, err)
		}
		if err := e.validate(); err != nil {
			return nil, fmt.Errorf("release store %s line %d: %w", path, line, err)
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("release store %s: %w", path, err)
	}
	return evs, nil
}

// TrustedKey returns the key the store requires releases to be signed by,
// or nil when it has none (then releases are promoted unchecked).
func (s Store) TrustedKey() (ed25519.PublicKey, error) {
	path := filepath.Join(s.Dir, TrustedKeyName)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	k, err := ReadPublicKey(path)
	if err != nil {
		return nil, fmt.Errorf("release store: %w", err)
	}
	return k, nil
}

// Trust records key as the store's trusted key: from then on Promote and
// Rollback take only releases signed by it. Replacing a different trusted
// key needs replace.
func (s Store) Trust(key ed25519.PublicKey, replace bool) error {
	old, err := s.TrustedKey()
	if err != nil && !replace {
		return err
	}
	if old != nil && !old.Equal(key) && !replace {
		return fmt.Errorf("release store %s already trusts %s; replacing it with %s needs --replace", s.Dir, Fingerprint(old), Fingerprint(key))
	}
	return atomicfile.WriteFile(filepath.Join(s.Dir, TrustedKeyName), sshsig.MarshalPublicKey(key, "distill release store"), 0o644)
}

// verify checks an artifact's hashes and, when the store trusts a key, its
// signature by that key.
func (s Store) verify(path string, key ed25519.PublicKey) (*Manifest, error) {
	if key == nil {
		return Verify(path)
	}
	return VerifySigned(path, key)
}

// Promote verifies the artifact in dir (and its signature, when the store
// trusts a key), cross-checks its gate approval with CheckGate, copies it
// into the store as an immutable version and makes it current. The
// previously current version stays in the store for Rollback.
func (s Store) Promote(dir string) (string, error) {
	key, err := s.TrustedKey()
	if err != nil {
		return "", fmt.Errorf("promote: %w", err)
	}
	m, err := s.verify(dir, key)
	if err != nil {
		return "", fmt.Errorf("promote: %w", err)
	}
	if err := CheckGate(dir, m); err != nil {
		return "", fmt.Errorf("promote: %w", err)
	}
	id := m.ID()
	dst, err := s.Path(id)
	if err != nil {
		return "", fmt.Errorf("promote %s: %w", id, err)
	}
	if _, err := os.Stat(dst); err == nil {
		// Promoting the same version again is allowed only if it is byte-identical.
		stored, err := s.verify(dst, key)
		if err != nil {
			return "", fmt.Errorf("promote %s: the stored copy of this id does not verify: %w", id, err)
		}
		if !slices.Equal(stored.Files, m.Files) {
			return "", fmt.Errorf("promote %s: the store already holds a different artifact with this name and version", id)
		}
	} else {
		if err := copyDirAtomic(dir, dst, m.Files); err != nil {
			return "", fmt.Errorf("promote %s: %w", id, err)
		}
		copied, err := s.verify(dst, key)
		if err == nil {
			err = CheckGate(dst, copied)
		}
		if err != nil {
			return "", fmt.Errorf("promote %s: copy does not verify: %w", id, err)
		}
	}
	prev, err := s.Current()
	if err != nil {
		return "", err
	}
	if err := s.switchTo(id, prev, "promote"); err != nil {
		return "", err
	}
	return id, nil
}

// Rollback makes current the version that was current when the current one
// was promoted, and returns it. Repeated rollbacks walk further back. The
// target is verified again (with its signature, when the store trusts a key).
func (s Store) Rollback() (string, error) {
	cur, err := s.Current()
	if err != nil {
		return "", err
	}
	if cur == "" {
		return "", errors.New("rollback: nothing has been promoted")
	}
	key, err := s.TrustedKey()
	if err != nil {
		return "", fmt.Errorf("rollback: %w", err)
	}
	evs, err := s.History()
	if err != nil {
		return "", fmt.Errorf("rollback: %w", err)
	}
	// Rollback walks back the promotion chain: the version that was current
	// when the current one was last promoted.
	target := ""
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Action == "promote" && evs[i].ID == cur {
			target = evs[i].From
			break
		}
	}
	if target == "" {
		return "", fmt.Errorf("rollback: %s has no earlier version to return to", cur)
	}
	dir, err := s.Path(target)
	if err != nil {
		return "", fmt.Errorf("rollback to %s: %w", target, err)
	}
	m, err := s.verify(dir, key)
	if err != nil {
		return "", fmt.Errorf("rollback to %s: %w", target, err)
	}
	if m.ID() != target {
		return "", fmt.Errorf("rollback to %s: its manifest says %s", target, m.ID())
	}
	if err := s.switchTo(target, cur, "rollback"); err != nil {
		return "", err
	}
	return target, nil
}

func (s Store) switchTo(id, from, action string) error {
	e := Event{Time: time.Now().UTC(), Action: action, ID: id, From: from}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	hist := filepath.Join(s.Dir, "history.jsonl")
	old, err := os.ReadFile(hist)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("release store: %w", err)
	}
	if err := atomicfile.WriteFile(hist, append(append(old, line...), '\n'), 0o644); err != nil {
		return fmt.Errorf("release store: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(s.Dir, "CURRENT"), []byte(id+"\n"), 0o644); err != nil {
		return fmt.Errorf("release store: %w", err)
	}
	return nil
}

// copyDirAtomic copies the listed files and the manifest from src into a
// temporary sibling of dst, then renames it into place.
func copyDirAtomic(src, dst string, files []File) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := atomicfile.MkdirTemp(filepath.Dir(dst), filepath.Base(dst))
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	paths := []string{ManifestName}
	if _, err := os.Lstat(filepath.Join(src, SignatureName)); err == nil {
		paths = append(paths, SignatureName)
	}
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	for _, p := range paths {
		if err := atomicfile.Copy(filepath.Join(src, filepath.FromSlash(p)), filepath.Join(tmp, filepath.FromSlash(p)), 0o644); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	ok = true
	return nil
}
