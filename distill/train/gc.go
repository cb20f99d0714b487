package train

import (
	"os"
	"runtime/debug"
)

// TrainingGCPercent is the garbage-collector target the trainer runs with:
// the heap may grow 25% over the live set (Go's default is 100%). A training
// step's live set is large (weights, moments, activations) and its garbage
// small, so the default lets RSS drift up to ~2× the live set before the
// first collection; 25% keeps it flat at a cost of a few cheap collections
// of pointer-free buffers per step.
const TrainingGCPercent = 25

// TuneGC applies TrainingGCPercent unless the user set GOGC.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(TrainingGCPercent)
	}
}
