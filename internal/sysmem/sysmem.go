// Package sysmem reads the memory figures Linux reports in /proc: this
// process's resident set (/proc/self/status VmRSS, VmHWM) and the memory
// available for new work without swapping (/proc/meminfo MemAvailable), and
// formats byte counts for the errors that refuse a plan that does not fit.
// It is the one /proc "Name:  N kB" parser of the repository, and the one
// reader of the CPU time this process and its children have used
// (getrusage), which benchmarks divide their work by.
package sysmem

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ErrUnknown is returned by Available when the system does not report
// available memory (not Linux, or /proc not mounted).
var ErrUnknown = errors.New("available memory unknown (no /proc/meminfo MemAvailable)")

// ProcStatusBytes is a "Name:  N kB" field of /proc/self/status in bytes
// (VmRSS, VmHWM for the peak), 0 if unknown.
func ProcStatusBytes(field string) int64 {
	n, _ := ProcStatus(field)
	return n
}

// ProcStatus is a "Name:  N kB" field of /proc/self/status in bytes, or
// false when the system does not report it.
func ProcStatus(field string) (int64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	return kBField(f, field)
}

// ResetPeak resets the kernel's high-water mark of this process's resident
// set (VmHWM; Linux: writing 5 to /proc/self/clear_refs), so that a peak
// read afterwards belongs to the work since. It reports whether it could.
func ResetPeak() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// Available is /proc/meminfo's MemAvailable in bytes: the kernel's estimate
// of the memory new allocations can get without swapping (free memory plus
// reclaimable page cache). It returns ErrUnknown when the system does not
// report it.
func Available() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, ErrUnknown
	}
	defer f.Close()
	n, ok := kBField(f, "MemAvailable")
	if !ok {
		return 0, ErrUnknown
	}
	return n, nil
}

// kBField finds the line "field:  N kB" in r and returns N·1024 (a value
// without the kB unit is returned as is).
func kBField(r io.Reader, field string) (int64, bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		num, kb := strings.CutSuffix(rest, "kB")
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n < 0 {
			return 0, false
		}
		if kb {
			n <<= 10
		}
		return n, true
	}
	return 0, false
}

// Format prints a byte count for people: "68.0 GiB", "512.0 MiB", "12 B".
func Format(n int64) string {
	f := float64(n)
	switch {
	case f >= 1<<30:
		return fmt.Sprintf("%.1f GiB", f/(1<<30))
	case f >= 1<<20:
		return fmt.Sprintf("%.1f MiB", f/(1<<20))
	case f >= 1<<10:
		return fmt.Sprintf("%.1f KiB", f/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
