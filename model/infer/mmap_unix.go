//go:build unix

package infer

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps the whole file read-only; pages load on first touch and count
// once in RSS however many tensors view them.
func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	if size == 0 {
		return nil, func() error { return nil }, nil
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return b, func() error { return unix.Munmap(b) }, nil
}
