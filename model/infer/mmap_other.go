//go:build !unix

package infer

import (
	"errors"
	"os"
)

func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	return nil, nil, errors.New("mmap not supported on this platform")
}
