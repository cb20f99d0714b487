package rtbench

import (
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/num/kernels"
	"github.com/distill-ml/distill/num/parallel"
)

// ReadBandwidth measures the memory read bandwidth (bytes/s) that threads
// cores reach streaming bytes of float32 weights far larger than the caches
// through F32 matrix-vector products over disjoint row blocks — decode's
// access pattern with none of its arithmetic — best of reps passes. It is
// the ceiling a decode step that reads every weight once can approach.
func ReadBandwidth(threads int, bytes int64, reps int) float64 {
	const n = 4096 // columns: one 16 KiB row per dot product
	rows := int(bytes / 4 / n)
	a := make([]float32, rows*n) // a: [rows, n]
	for i := range a {
		a[i] = float32(i&15) * 0.25 // touch every page before timing
	}
	x := make([]float32, n) // x: [n]
	for i := range x {
		x[i] = 1
	}
	y := make([]float32, rows) // y: [rows]
	pool := parallel.New(threads)
	defer pool.Close()
	e := kernels.NewEngine(pool)
	best := time.Duration(1 << 62)
	for r := 0; r < reps; r++ {
		t0 := time.Now()
		e.Sgemv(false, rows, n, 1, a, n, x, 1, 0, y, 1)
		best = min(best, time.Since(t0))
	}
	return float64(rows*n*4) / best.Seconds()
}

// DecodeBytesPerToken is the weight bytes one decode step reads from the
// GGUF file at path: every tensor once, except that an input embedding
// distinct from the output head contributes one row.
func DecodeBytesPerToken(path string) (int64, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	_, untied := f.Tensor("output.weight")
	var total int64
	for _, t := range f.Tensors {
		size := int64(t.Size)
		if t.Name == "token_embd.weight" && untied {
			if len(t.Dims) != 2 || t.Dims[1] == 0 {
				return 0, fmt.Errorf("%s: token_embd.weight has dims %v", path, t.Dims)
			}
			size /= int64(t.Dims[1])
		}
		total += size
	}
	return total, nil
}

// BandwidthShare is the fraction of bandwidth bytes/s a decode at tokS
// tokens/s reading bytesPerToken uses (NaN when unknown).
func BandwidthShare(tokS float64, bytesPerToken int64, bandwidth float64) float64 {
	if tokS <= 0 || bytesPerToken <= 0 || bandwidth <= 0 {
		return math.NaN()
	}
	return tokS * float64(bytesPerToken) / bandwidth
}

// THPMode is the kernel's transparent huge page mode — the bracketed word
// of /sys/kernel/mm/transparent_hugepage/enabled ("always", "madvise",
// "never") — or "unknown".
func THPMode() string {
	data, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		return "unknown"
	}
	return thpMode(string(data))
}

// thpMode is the bracketed word of a transparent_hugepage/enabled line.
func thpMode(s string) string {
	if lo, hi := strings.IndexByte(s, '['), strings.IndexByte(s, ']'); lo >= 0 && hi > lo {
		return s[lo+1 : hi]
	}
	return "unknown"
}
