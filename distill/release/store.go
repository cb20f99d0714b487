package release

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distill-ml/distill/internal/atomicfile"
)

// Store is a release store directory:
//
//	versions/<name>-<version>/   immutable copies of promoted artifacts (with manifest.json)
//	CURRENT                      the id of the version in service
//	history.jsonl                one Event per promote/rollback, append-only
type Store struct{ Dir string }

// Event is one line of history.jsonl.
type Event struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"` // promote | rollback
	ID     string    `json:"id"`     // the version made current
	From   string    `json:"from"`   // the version that was current before ("" if none)
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
	return strings.TrimSpace(string(b)), nil
}

// Path is the directory of a stored version.
func (s Store) Path(id string) string { return filepath.Join(s.Dir, "versions", id) }

// History returns the store's events, oldest first.
func (s Store) History() ([]Event, error) {
	f, err := os.Open(filepath.Join(s.Dir, "history.jsonl"))
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
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("release store history.jsonl line %d: %w", line, err)
		}
		evs = append(evs, e)
	}
	return evs, sc.Err()
}

// Promote verifies the artifact in dir, requires its gate approval, copies
// it into the store as an immutable version and makes it current. The
// previously current version stays in the store for Rollback.
func (s Store) Promote(dir string) (string, error) {
	m, err := Verify(dir)
	if err != nil {
		return "", fmt.Errorf("promote: %w", err)
	}
	if !m.Gate.Approved {
		return "", fmt.Errorf("promote %s: the gate did not approve this artifact", m.ID())
	}
	id := m.ID()
	dst := s.Path(id)
	if _, err := os.Stat(dst); err == nil {
		// Promoting the same version again is allowed only if it is byte-identical.
		if _, err := Verify(dst); err != nil {
			return "", fmt.Errorf("promote %s: a different artifact with this id is already in the store: %w", id, err)
		}
		stored, _ := Read(filepath.Join(dst, ManifestName))
		if stored == nil || !sameFiles(stored.Files, m.Files) {
			return "", fmt.Errorf("promote %s: the store already holds a different artifact with this name and version", id)
		}
	} else {
		if err := copyDirAtomic(dir, dst, m.Files); err != nil {
			return "", fmt.Errorf("promote %s: %w", id, err)
		}
		if _, err := Verify(dst); err != nil {
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
// was promoted, and returns it. Repeated rollbacks walk further back.
func (s Store) Rollback() (string, error) {
	cur, err := s.Current()
	if err != nil {
		return "", err
	}
	if cur == "" {
		return "", errors.New("rollback: nothing has been promoted")
	}
	evs, err := s.History()
	if err != nil {
		return "", err
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
	if _, err := Verify(s.Path(target)); err != nil {
		return "", fmt.Errorf("rollback to %s: %w", target, err)
	}
	if err := s.switchTo(target, cur, "rollback"); err != nil {
		return "", err
	}
	return target, nil
}

func (s Store) switchTo(id, from, action string) error {
	e := Event{Time: time.Now().UTC(), Action: action, ID: id, From: from}
	line, _ := json.Marshal(e)
	hist := filepath.Join(s.Dir, "history.jsonl")
	old, err := os.ReadFile(hist)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := atomicfile.WriteFile(hist, append(append(old, line...), '\n'), 0o644); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(s.Dir, "CURRENT"), []byte(id+"\n"), 0o644)
}

func sameFiles(a, b []File) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
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
