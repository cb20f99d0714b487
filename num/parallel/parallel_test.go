package parallel

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distill-ml/distill/internal/sysmem"
)

func TestForCoversEveryIndexOnce(t *testing.T) {
	for _, p := range []*Pool{New(4), NewSpin(4, 0), NewSpin(2, time.Millisecond)} {
		forCoversEveryIndexOnce(t, p)
		p.Close()
	}
}

func forCoversEveryIndexOnce(t *testing.T, p *Pool) {
	for _, n := range []int{0, 1, 2, 3, 7, 64, 1000, 1001} {
		for _, grain := range []int{0, 1, 3, 100, 5000} {
			hits := make([]int32, n)
			p.For(n, grain, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					atomic.AddInt32(&hits[i], 1)
				}
			})
			for i, h := range hits {
				if h != 1 {
					t.Fatalf("n=%d grain=%d: index %d hit %d times", n, grain, i, h)
				}
			}
		}
	}
}

func TestNestedForDoesNotDeadlock(t *testing.T) {
	p := New(2)
	var total int64
	p.For(8, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			p.For(100, 10, func(a, b int) { atomic.AddInt64(&total, int64(b-a)) })
		}
	})
	if total != 800 {
		t.Fatalf("total %d, want 800", total)
	}
}

// TestConcurrentCallers: many goroutines calling For on one pool at once,
// some nesting, all complete with every index covered once.
func TestConcurrentCallers(t *testing.T) {
	p := New(3)
	done := make(chan int64)
	for g := 0; g < 8; g++ {
		go func() {
			var total int64
			for rep := 0; rep < 200; rep++ {
				p.For(64, 1, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						p.For(10, 2, func(a, b int) { atomic.AddInt64(&total, int64(b-a)) })
					}
				})
			}
			done <- total
		}()
	}
	for g := 0; g < 8; g++ {
		if total := <-done; total != 200*64*10 {
			t.Fatalf("caller %d covered %d indices, want %d", g, total, 200*64*10)
		}
	}
}

// BenchmarkForHandoff is the cost of one two-chunk For whose chunks each do
// about 2 µs (work=1200) or 20 µs (work=12000) of dependent arithmetic, back
// to back (the shape of a decode step: many small products), with polling
// workers (spin) and with workers that park at once (park). It reports the
// fraction of calls in which the two chunks actually ran at the same time.
// With 2 free cores the ideal is one chunk's time per op; two chunks' time
// means the caller ran both.
//
//	go test ./num/parallel -run '^$' -bench Handoff -cpu 2
func BenchmarkForHandoff(b *testing.B) {
	for _, work := range []int{1200, 12000} {
		for _, mode := range []string{"spin", "park"} {
			b.Run(fmt.Sprintf("work=%d/%s", work, mode), func(b *testing.B) {
				p := New(2)
				if mode == "park" {
					p = NewSpin(2, 0)
				}
				defer p.Close()
				var active, overlaps atomic.Int64
				var sink [2]float64
				for i := 0; i < b.N; i++ {
					p.For(2, 1, func(lo, hi int) {
						if active.Add(1) == 2 {
							overlaps.Add(1)
						}
						x := 1.0
						for k := 0; k < work; k++ {
							x = x*1.0000001 + 1e-9
						}
						sink[lo] += x
						active.Add(-1)
					})
				}
				b.ReportMetric(float64(overlaps.Load())/float64(b.N), "overlap/op")
			})
		}
	}
}

// TestClosedPoolRunsOnCaller: after Close, For still covers every index (on
// the caller) and does not block.
func TestClosedPoolRunsOnCaller(t *testing.T) {
	p := New(3)
	p.For(10, 1, func(lo, hi int) {})
	p.Close()
	p.Close() // idempotent
	forCoversEveryIndexOnce(t, p)
}

// TestIdlePoolBurnsNoCPU: once the polling window has passed, an idle pool's
// workers are parked: the process uses (almost) no CPU while it sleeps. A
// pool whose workers spun while idle would burn ~2 CPU-seconds per second
// here.
func TestIdlePoolBurnsNoCPU(t *testing.T) {
	p := New(4)
	defer p.Close()
	for i := 0; i < 100; i++ {
		p.For(64, 1, func(lo, hi int) {})
	}
	time.Sleep(20 * time.Millisecond) // ≫ SpinWindow
	before := sysmem.CPUTime()
	if before == 0 {
		t.Skip("CPU time unknown here")
	}
	time.Sleep(300 * time.Millisecond)
	if used := sysmem.CPUTime() - before; used > 60*time.Millisecond {
		t.Fatalf("idle pool used %v of CPU in 300 ms of sleep", used)
	}
}

// TestForAllocatesNothing: in steady state For itself allocates nothing (jobs
// are recycled); only a closure that captures variables costs its caller
// an allocation, as any escaping closure does.
func TestForAllocatesNothing(t *testing.T) {
	for _, p := range []*Pool{New(2), New(4), NewSpin(2, 0)} {
		var sink [4]atomic.Int64
		body := func(lo, hi int) { sink[lo%4].Add(int64(hi - lo)) }
		p.For(64, 1, body) // warm the job pool
		if n := testing.AllocsPerRun(200, func() { p.For(64, 1, body) }); n != 0 {
			t.Errorf("%d threads, spin %v: For allocated %.1f times per call", p.Threads(), p.spin, n)
		}
		p.Close()
	}
}

// TestRecycledJobsUnderContention: several goroutines call For on one pool
// as fast as they can (jobs recycled between calls while workers may still
// hold the previous incarnation); every index is covered exactly once per
// call.
func TestRecycledJobsUnderContention(t *testing.T) {
	p := New(4)
	defer p.Close()
	done := make(chan error)
	for g := 0; g < 4; g++ {
		go func() {
			hits := make([]int32, 37)
			for rep := 0; rep < 2000; rep++ {
				p.For(len(hits), 1, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						atomic.AddInt32(&hits[i], 1)
					}
				})
				for i := range hits {
					if h := atomic.LoadInt32(&hits[i]); h != int32(rep+1) {
						done <- fmt.Errorf("call %d: index %d hit %d times in total, want %d", rep, i, h, rep+1)
						return
					}
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
