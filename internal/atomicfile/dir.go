package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// SyncDir fsyncs the directory dir, so that the entries created, renamed or
// removed in it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// ReplaceDir puts the complete directory tmp (a sibling made by MkdirTemp)
// in place of dst: tmp is fsynced, an existing dst is moved to dst+".old",
// tmp is renamed to dst, the parent is fsynced and the old tree removed. A
// crash leaves dst, or dst.old with tmp beside it; a failed rename puts the
// old dst back.
func ReplaceDir(tmp, dst string) error {
	if err := SyncDir(tmp); err != nil {
		return fmt.Errorf("replace %s: %w", dst, err)
	}
	old := ""
	if _, err := os.Lstat(dst); err == nil {
		old = dst + ".old"
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("replace %s: remove leftover %s: %w", dst, old, err)
		}
		if err := os.Rename(dst, old); err != nil {
			return fmt.Errorf("replace %s: %w", dst, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replace %s: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		if old != "" {
			if rerr := os.Rename(old, dst); rerr != nil {
				return fmt.Errorf("replace %s: %w (and restoring the old directory from %s failed: %v)", dst, err, old, rerr)
			}
		}
		return fmt.Errorf("replace %s: %w", dst, err)
	}
	if err := SyncDir(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("replace %s: %w", dst, err)
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("replace %s: remove previous tree %s: %w", dst, old, err)
		}
	}
	return nil
}
