package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Temporaries of killed writers. A writer names its temporary
// "."+base+".tmp-"+digits (os.CreateTemp / os.MkdirTemp with TempPattern)
// and holds an advisory lock on it while it works (Hold); the lock dies
// with the process. RemoveStale removes a temporary only when the name is
// exactly of that form, no live process holds it, and it was last modified
// at least staleGrace ago (the moment between creating and locking). Where
// advisory locks are not available the holder cannot be known and only
// temporaries older than staleUnknownHolder are removed.
const (
	staleGrace         = time.Minute
	staleUnknownHolder = 24 * time.Hour
)

// TempPattern is the os.CreateTemp / os.MkdirTemp pattern for a temporary
// sibling of the file or directory named base.
func TempPattern(base string) string { return "." + base + ".tmp-*" }

// isTempOf matches the names TempPattern(base) produces: ".<base>.tmp-" and
// the random digits os.CreateTemp puts in place of the star.
func isTempOf(base string) func(name string) bool {
	prefix := "." + base + ".tmp-"
	return func(name string) bool {
		rest, ok := strings.CutPrefix(name, prefix)
		return ok && AllDigits(rest)
	}
}

// AllDigits reports whether s is one or more ASCII decimal digits: the
// random part os.CreateTemp and os.MkdirTemp put in place of a pattern's
// star, which RemoveStale predicates check before removing anything.
func AllDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// MkdirTemp creates a temporary directory for what will be renamed to
// dir/base, named by TempPattern and made 0755 (os.MkdirTemp gives 0700,
// which the final directory would keep). Use it for anything that does not
// hold secrets.
func MkdirTemp(dir, base string) (string, error) {
	tmp, err := os.MkdirTemp(dir, TempPattern(base))
	if err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// RemoveStale removes the temporaries killed writers left in dir: entries
// whose name match accepts, that no live process holds (see Hold) and that
// are old enough by now. It returns the paths removed; entries it cannot
// inspect are left alone.
func RemoveStale(dir string, match func(name string) bool, now time.Time) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("remove stale temporaries in %s: %w", dir, err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !match(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		info, err := os.Lstat(p)
		if err != nil || info.Mode()&os.ModeSymlink != 0 {
			continue
		}
		age := now.Sub(info.ModTime())
		if age < staleGrace {
			continue
		}
		isHeld, known := heldByLiveProcess(p)
		if isHeld || (!known && age < staleUnknownHolder) {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}
