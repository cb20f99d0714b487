//go:build !unix

package qdot

import "time"

// processCPU is unavailable here; CPU-normalised figures are then omitted.
func processCPU() time.Duration { return 0 }
