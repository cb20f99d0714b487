//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package atomicfile

import "os"

const holdSupported = false

// Hold does nothing where advisory locks are not available: RemoveStale
// then only removes temporaries older than a day.
func Hold(f *os.File) error { return nil }

func heldByLiveProcess(path string) (held, known bool) { return false, false }
