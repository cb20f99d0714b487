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
	"sync/atomic"
)

// Pool runs chunks of index ranges on a fixed set of worker goroutines.
type Pool struct {
	workers int
	jobs    chan *job // wake-up tokens for idle workers, buffered
}

// job is one For call: its chunks are claimed through an atomic counter by
// the caller and by whichever workers pick up a token, so a worker that wakes
// late finds nothing left and the caller never waits on work nobody started.
type job struct {
	fn     func(lo, hi int)
	n      int
	size   int // indices per chunk
	chunks int
	next   atomic.Int64
	wg     sync.WaitGroup // one count per chunk
}

func (j *job) run() {
	for {
		c := int(j.next.Add(1) - 1)
		if c >= j.chunks {
			return
		}
		lo := c * j.size
		j.fn(lo, min(lo+j.size, j.n))
		j.wg.Done()
	}
}

// New starts a pool that uses n goroutines in total (n-1 workers plus the caller).
// n < 1 means GOMAXPROCS.
func New(n int) *Pool {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &Pool{workers: n, jobs: make(chan *job, n)}
	for i := 0; i < n-1; i++ {
		go p.worker()
	}
	return p
}

func (p *Pool) worker() {
	for j := range p.jobs {
		j.run()
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

// For splits [0, n) into at most Threads() contiguous chunks of at least
// grain indices and runs fn on them in parallel, returning when all are done.
// fn must be safe to run concurrently on disjoint ranges. Small n (n <= grain)
// runs inline. The caller computes too: it takes chunks until none are left,
// so nested calls from inside fn never deadlock and never oversubscribe (when
// every worker is busy the nested call simply runs on its caller).
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
	size := (n + chunks - 1) / chunks
	j := &job{fn: fn, n: n, size: size, chunks: (n + size - 1) / size}
	j.wg.Add(j.chunks)
	// Wake up to chunks-1 workers; a full queue means they are all busy.
wake:
	for c := 1; c < j.chunks; c++ {
		select {
		case p.jobs <- j:
		default:
			break wake
		}
	}
	j.run()
	j.wg.Wait()
}
