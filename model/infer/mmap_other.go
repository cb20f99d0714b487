//go:build !unix

package infer

import (
	"errors"
	"os"
)

func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	return nil, nil, errors.New("mmap not supported on this platform")
}

func copyToHugePages(f *os.File, size int64) ([]byte, func() error, error) {
	return nil, nil, errors.New("needs a unix system (anonymous mmap and madvise)")
}
