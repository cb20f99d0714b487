// Package benchrun holds what the quality benchmarks (bench/quality,
// bench/inloop) share: running the distill binary with its output on
// stderr, and printing a figure that may be missing.
package benchrun

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Distill runs the distill binary bin with args, its output on stderr, after
// echoing the command line; a failure names the subcommand.
func Distill(bin string, args ...string) error {
	fmt.Fprintf(os.Stderr, "$ distill %s\n", strings.Join(args, " "))
	c := exec.Command(bin, args...)
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("distill %s: %w", args[0], err)
	}
	return nil
}

// Num formats x with prec decimals, or "n/a" when x is NaN (a figure the
// run did not produce).
func Num(x float64, prec int) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}
