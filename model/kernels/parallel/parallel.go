// Package parallel is the one worker pool every compute kernel in distill
// shares (GEMM, fused training ops, quantized matrix-vector products), so that
// kernels never oversubscribe the machine: at most GOMAXPROCS goroutines do
// compute at any moment, the caller's goroutine included, and idle workers
// block on a channel instead of spinning.
//
// A Pool is a value the caller owns; Default returns a process-wide pool
// sized by GOMAXPROCS at first use (a read-only singleton created lazily,
// the only shared state).
package parallel

import (
	"runtime"
	"sync"
)

// Pool runs chunks of index ranges on a fixed set of worker goroutines.
type Pool struct {
	workers int
	tasks   chan task
}

type task struct {
	fn     func(lo, hi int)
	lo, hi int
	wg     *sync.WaitGroup
}

// New starts a pool that uses n goroutines in total (n-1 workers plus the caller).
// n < 1 means GOMAXPROCS.
func New(n int) *Pool {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &Pool{workers: n, tasks: make(chan task)}
	for i := 0; i < n-1; i++ {
		go p.worker()
	}
	return p
}

func (p *Pool) worker() {
	for t := range p.tasks {
		t.fn(t.lo, t.hi)
		t.wg.Done()
	}
}

// Threads is the number of goroutines the pool computes on.
func (p *Pool) Threads() int { return p.workers }

var (
	defaultOnce sync.Once
	defaultPool *Pool
)

// Default returns the shared process-wide pool (GOMAXPROCS threads).
func Default() *Pool {
	defaultOnce.Do(func() { defaultPool = New(0) })
	return defaultPool
}

// For splits [0, n) into contiguous chunks of at least grain indices and runs
// fn on them in parallel, returning when all are done. fn must be safe to run
// concurrently on disjoint ranges. Small n (n <= grain) runs inline.
// Nested calls from inside fn run inline too (no deadlock, no oversubscription)
// when the pool is busy.
func (p *Pool) For(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := p.workers
	if max := (n + grain - 1) / grain; chunks > max {
		chunks = max
	}
	if chunks <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	size := (n + chunks - 1) / chunks
	// Hand chunks 1.. to idle workers; run any that no worker takes inline.
	for c := 1; c < chunks; c++ {
		lo, hi := c*size, (c+1)*size
		if lo >= n {
			break
		}
		if hi > n {
			hi = n
		}
		wg.Add(1)
		t := task{fn: fn, lo: lo, hi: hi, wg: &wg}
		select {
		case p.tasks <- t:
		default:
			fn(lo, hi)
			wg.Done()
		}
	}
	hi := size
	if hi > n {
		hi = n
	}
	fn(0, hi)
	wg.Wait()
}
