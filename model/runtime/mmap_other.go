//go:build !unix

package runtime

import (
	"errors"
	"os"
)

func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	return nil, nil, errors.New("mmap not supported on this platform")
}
