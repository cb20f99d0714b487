package main

import (
	"fmt"
	"io"
	"math/rand"
	"runtime"
	"time"

	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/distill-ml/distill/num/kernels"
	"github.com/distill-ml/distill/num/kernels/gonumblas"
	"github.com/distill-ml/distill/num/parallel"
)

// runGorgonia times a Gorgonia graph y = x·w (TapeMachine.RunAll) with
// Gorgonia's default BLAS (gonum, pure Go) and with gonumblas installed by
// gorgonia.Use, alternating rounds like the OpenBLAS comparison. gonum
// computes on its own goroutines, so this uses elapsed time with GOMAXPROCS
// set to the thread count (which bounds gonum and our pool alike).
func runGorgonia(w io.Writer, threads []int, ss []shape, minTime time.Duration) error {
	fmt.Fprintf(w, "\n| Gorgonia graph Mul | m×n×k | threads | gonum GFLOP/s | gonumblas GFLOP/s | speed-up |\n|---|---|---|---|---|---|\n")
	defer G.Use(gonum.Implementation{})
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	clock := wallClock
	for _, t := range threads {
		runtime.GOMAXPROCS(t)
		ours := gonumblas.Implementation{Engine: kernels.NewEngine(parallel.New(t))}
		for _, s := range ss {
			if s.TransA || s.TransB {
				continue
			}
			r := rand.New(rand.NewSource(1))
			g := G.NewGraph()
			x := G.NewMatrix(g, tensor.Float32, G.WithShape(s.M, s.K), G.WithName("x"),
				G.WithValue(tensor.New(tensor.WithShape(s.M, s.K), tensor.WithBacking(randSlice(r, s.M*s.K)))))
			wt := G.NewMatrix(g, tensor.Float32, G.WithShape(s.K, s.N), G.WithName("w"),
				G.WithValue(tensor.New(tensor.WithShape(s.K, s.N), tensor.WithBacking(randSlice(r, s.K*s.N)))))
			if _, err := G.Mul(x, wt); err != nil {
				return fmt.Errorf("gorgonia graph for %s: %w", s.Name, err)
			}
			vm := G.NewTapeMachine(g)
			timeOne := func(impl G.BLAS) (time.Duration, error) {
				G.Use(impl)
				best, total := time.Duration(1<<62), time.Duration(0)
				for reps := 0; reps < 2 || total < minTime/rounds; reps++ {
					vm.Reset()
					t0 := clock()
					if err := vm.RunAll(); err != nil {
						return 0, fmt.Errorf("gorgonia %s: %w", s.Name, err)
					}
					d := clock() - t0
					best, total = min(best, d), total+d
				}
				return best, nil
			}
			gBest, oBest := time.Duration(1<<62), time.Duration(1<<62)
			for range rounds {
				d, err := timeOne(gonum.Implementation{})
				if err != nil {
					vm.Close()
					return err
				}
				gBest = min(gBest, d)
				if d, err = timeOne(ours); err != nil {
					vm.Close()
					return err
				}
				oBest = min(oBest, d)
			}
			vm.Close()
			gr, or := s.flops()/gBest.Seconds()/1e9, s.flops()/oBest.Seconds()/1e9
			fmt.Fprintf(w, "| %s | %d×%d×%d | %d | %.1f | %.1f | %.1f× |\n", s.Name, s.M, s.N, s.K, t, gr, or, or/gr)
		}
	}
	return nil
}
