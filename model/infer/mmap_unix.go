//go:build unix

package infer

import (
	"fmt"
	"io"
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

// copyToHugePages reads the whole file into a private anonymous mapping
// advised MADV_HUGEPAGE (so the kernel backs it with transparent huge
// pages where THP is "always" or "madvise"), then makes it read-only like
// the file mapping; Options.HugePages.
func copyToHugePages(f *os.File, size int64) ([]byte, func() error, error) {
	if size == 0 {
		return nil, func() error { return nil }, nil
	}
	b, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil, fmt.Errorf("allocate %d bytes of anonymous memory: %w", size, err)
	}
	unmap := func() error { return unix.Munmap(b) }
	fail := func(err error) ([]byte, func() error, error) {
		_ = unmap()
		return nil, nil, err
	}
	// Advise before the pages are touched: the copy then faults in 2 MiB at a time.
	if err := unix.Madvise(b, unix.MADV_HUGEPAGE); err != nil {
		return fail(fmt.Errorf("madvise MADV_HUGEPAGE (is transparent_hugepage supported?): %w", err))
	}
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), b); err != nil {
		return fail(fmt.Errorf("read weights: %w", err))
	}
	if err := unix.Mprotect(b, unix.PROT_READ); err != nil {
		return fail(fmt.Errorf("make the weights read-only: %w", err))
	}
	return b, unmap, nil
}
