//go:build unix

package sysmem

import (
	"syscall"
	"time"
)

// CPUTime is the user + system CPU time all threads of this process have
// used so far (getrusage RUSAGE_SELF), 0 if unknown. Benchmarks divide work
// by it: on a shared machine CPU time is less distorted than wall time.
func CPUTime() time.Duration { return rusage(syscall.RUSAGE_SELF) }

// ChildrenCPUTime is the user + system CPU time of this process's children
// that have been waited for (getrusage RUSAGE_CHILDREN), 0 if unknown.
func ChildrenCPUTime() time.Duration { return rusage(syscall.RUSAGE_CHILDREN) }

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
