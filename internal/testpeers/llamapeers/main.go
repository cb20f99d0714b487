// Command llamapeers builds the llama.cpp tools distill's tests and
// benchmarks run (testpeers.PrebuildLlama) into the peers directory, so that
// no test spends an hour compiling llama.cpp. scripts/install-test-deps.sh
// runs it after installing node-llama-cpp, cmake and g++:
//
//	go run ./internal/testpeers/llamapeers -deps "$DISTILL_TESTDEPS"
//
// It is idempotent: tools already built for the bundled llama.cpp commit
// are kept.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/distill-ml/distill/internal/testpeers"
)

func main() {
	deps := flag.String("deps", os.Getenv("DISTILL_TESTDEPS"), "the peers directory (scripts/install-test-deps.sh's $DISTILL_TESTDEPS)")
	jobs := flag.Int("jobs", 0, "native build parallelism (0: all CPUs)")
	flag.Parse()
	if *deps == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: llamapeers -deps DIR [-jobs N]")
		os.Exit(2)
	}
	if err := testpeers.PrebuildLlama(*deps, *jobs, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "llamapeers:", err)
		os.Exit(1)
	}
}
