package gate

import "github.com/distill-ml/distill/internal/sysmem"

// resetPeakRSS resets the kernel's high-water mark of this process's resident
// set, so that the peak measured afterwards belongs to the artifact under
// test. It reports whether it could.
func resetPeakRSS() bool { return sysmem.ResetPeak() }

// peakRSS is this process's peak resident set (VmHWM) in bytes, or -1.
func peakRSS() int64 {
	if n, ok := sysmem.ProcStatus("VmHWM"); ok {
		return n
	}
	return -1
}
