// Package parallel is the one worker pool every compute kernel in distill
// shares (GEMM, fused training ops, quantized matrix-vector products), so that
// kernels never oversubscribe the machine: at most GOMAXPROCS goroutines do
// compute at any moment, the caller's goroutine included, and idle workers
// park on a channel.
//
// Hand-off latency. Waking a parked goroutine costs tens of microseconds —
// longer than one chunk of a decode-time matrix-vector product (a 576×576
// Q8_0 product is ~10 µs per thread), so with parked workers the caller ends
// up doing every chunk itself. A worker that has just finished a chunk
// therefore polls for the next job for a short window (SpinWindow, 50 µs)
// before parking: back-to-back kernels (one token's ~150 products) find it
// awake, while an idle pool parks within 50 µs and burns no CPU. The caller
// likewise polls (for the same window) for the chunks it hands off before it
// blocks, since a blocked caller would have to be handed back its goroutine
// through the scheduler too. This is the bounded spin-then-block that
// llama.cpp's thread pool and OpenMP runtimes use; nothing spins while the
// pool is idle (TestIdlePoolBurnsNoCPU).
//
// A Pool is a value the caller owns; Default returns a process-wide pool
// sized by GOMAXPROCS at first use (a read-only singleton created lazily,
// the only shared state).
package parallel

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// SpinWindow is how long a worker keeps polling for new work after its last
// chunk before it parks.
const SpinWindow = 50 * time.Microsecond

// Pool runs chunks of index ranges on a fixed set of worker goroutines.
type Pool struct {
	workers int
	jobs    chan *job           // wake-up tokens for parked workers, buffered
	cur     atomic.Pointer[job] // the latest job, seen by polling workers
	polling atomic.Int32        // workers awake (polling or running a job)
	stop    chan struct{}
	spin    time.Duration // how long an idle worker polls before parking
	free    FreeList[job] // recycled jobs
}

// job is one For call: its chunks are claimed through an atomic bit mask by
// the caller and by whichever workers pick up a token, so a worker that wakes
// late finds nothing left and the caller never waits on work nobody started.
//
// Affinity: participant p (the caller is 0, workers 1..n-1) first claims
// chunk p, then any chunk left. So when everyone is awake, the same thread
// computes the same rows call after call and finds them in its own cache (on
// a model that fits in cache, random assignment made 2-thread decode slower
// than 1-thread).
//
// Jobs are recycled (Pool.free) so that For allocates nothing. A worker may
// still hold a job from an earlier call when it is reused; that is safe
// because every claim is a compare-and-swap on state, which packs the
// generation, the chunk count and the claimed-chunk mask into one word: a
// claim succeeds only on a published word with chunks left, and fn, n and
// size are written before that word is published and not touched again until
// every claimed chunk has finished.
type job struct {
	fn      func(lo, hi int)
	n       int
	size    int           // indices per chunk
	state   atomic.Uint64 // gen<<48 | chunks<<40 | claimed-chunk mask
	pending atomic.Int64  // chunks not yet finished
	done    chan struct{} // one token per generation, sent by the last chunk
}

const (
	maxChunks = 40 // bits of the claimed mask; For never splits into more
	maskBits  = 1<<maxChunks - 1
)

// publish makes the job runnable as a new generation with the given chunks.
func (j *job) publish(chunks int) {
	gen := (j.state.Load()>>48 + 1) & 0xffff
	j.pending.Store(int64(chunks))
	j.state.Store(gen<<48 | uint64(chunks)<<maxChunks)
}

// generation identifies the job's current publication.
func (j *job) generation() uint64 { return j.state.Load() >> 48 }

// run claims and runs chunks until none is left, starting with chunk
// pref (mod chunks) when it is free.
func (j *job) run(pref int) {
	for {
		w := j.state.Load()
		chunks := int(w >> maxChunks & 0xff)
		mask := w & maskBits
		if mask == 1<<chunks-1 {
			return
		}
		c := pref % chunks
		if pref < 0 || mask&(1<<c) != 0 {
			c = bits.TrailingZeros64(^mask)
		}
		if !j.state.CompareAndSwap(w, w|1<<c) {
			continue
		}
		pref = -1
		lo := c * j.size
		j.fn(lo, min(lo+j.size, j.n))
		if j.pending.Add(-1) == 0 {
			j.done <- struct{}{}
		}
	}
}

// wait returns when every chunk has finished, consuming the generation's
// done token. It polls for up to spin first: blocking would park the
// caller's goroutine, and the worker that finishes the last chunk would then
// have to hand it back through the scheduler, which costs more than a small
// chunk.
func (j *job) wait(spin time.Duration) {
	if spin > 0 {
		deadline := time.Now().Add(spin)
		for spins := 0; j.pending.Load() > 0; spins++ {
			if spins&15 == 15 && time.Now().After(deadline) {
				break
			}
		}
	}
	<-j.done
}

// New starts a pool that uses n goroutines in total (n-1 workers plus the caller).
// n < 1 means GOMAXPROCS. Idle workers poll for SpinWindow before parking.
func New(n int) *Pool { return NewSpin(n, SpinWindow) }

// NewSpin is New with an explicit polling window; 0 parks workers as soon as
// they run out of work (lowest CPU use on a shared machine, slowest hand-off).
func NewSpin(n int, spin time.Duration) *Pool {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &Pool{workers: n, jobs: make(chan *job, n), stop: make(chan struct{}), spin: max(spin, 0)}
	for i := 1; i < n; i++ {
		go p.worker(i)
	}
	return p
}

// worker runs jobs: woken through p.jobs, it then polls p.cur for up to
// SpinWindow after each job before parking again.
func (p *Pool) worker(id int) {
	var last *job
	var lastGen uint64
	for {
		select {
		case j := <-p.jobs:
			p.polling.Add(1)
			last, lastGen = j, j.generation()
			j.run(id)
		case <-p.stop:
			return
		}
		deadline := time.Now().Add(p.spin)
		for spins := 0; p.spin > 0; spins++ {
			if j := p.cur.Load(); j != nil && (j != last || j.generation() != lastGen) {
				last, lastGen = j, j.generation()
				j.run(id)
				deadline = time.Now().Add(p.spin)
				continue
			}
			if spins&15 == 15 {
				if time.Now().After(deadline) {
					break
				}
			}
		}
		p.polling.Add(-1)
		// A job published between the last poll and the decrement is run by
		// its caller (the caller always claims every unclaimed chunk), so
		// parking here never loses work.
	}
}

// Close stops the pool's workers (after their current chunk). Calling For
// after Close runs everything on the caller. Default's pool is never closed.
func (p *Pool) Close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
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
	chunks := min(p.workers, maxChunks)
	if max := (n + grain - 1) / grain; chunks > max {
		chunks = max
	}
	if chunks <= 1 {
		fn(0, n)
		return
	}
	size := (n + chunks - 1) / chunks
	chunks = (n + size - 1) / size
	j := p.free.Get()
	if j == nil {
		j = &job{done: make(chan struct{}, 1)}
	}
	j.fn, j.n, j.size = fn, n, size
	j.publish(chunks)
	// Publish the job to polling workers, then wake parked ones for the
	// chunks the awake ones will not cover; a full queue means every worker
	// already has a token.
	p.cur.Store(j)
wake:
	for c := 1 + int(p.polling.Load()); c < chunks; c++ {
		select {
		case p.jobs <- j:
		default:
			break wake
		}
	}
	j.run(0)
	j.wait(p.spin)
	p.cur.CompareAndSwap(j, nil)
	j.fn = nil // do not keep fn's captures alive
	p.free.Put(j)
}
