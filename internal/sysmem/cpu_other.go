//go:build !unix

package sysmem

import "time"

// CPUTime is unknown here (no getrusage): 0, and CPU-normalised figures
// are omitted.
func CPUTime() time.Duration { return 0 }

// ChildrenCPUTime is unknown here (no getrusage): 0.
func ChildrenCPUTime() time.Duration { return 0 }
