//go:build unix

package qdot

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system, all threads) this process has
// used so far, for CPU-time-normalised benchmark figures on a shared machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
