//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package atomicfile

import (
	"errors"
	"os"
	"syscall"
)

const holdSupported = true

// Hold takes an advisory lock (flock) on f, an open temporary file or
// directory, so that RemoveStale leaves it alone while this process lives;
// the lock is released when f is closed or the process dies.
func Hold(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// heldByLiveProcess reports whether another open file holds the lock on
// path; known is false when that cannot be told (the file system does not
// support locks).
func heldByLiveProcess(path string) (held, known bool) {
	f, err := os.Open(path)
	if err != nil {
		return false, false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case err == nil:
		return false, true // closing f releases it
	case errors.Is(err, syscall.EWOULDBLOCK):
		return true, true
	}
	return false, false
}
