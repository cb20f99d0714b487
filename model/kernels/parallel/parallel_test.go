package parallel

import (
	"sync/atomic"
	"testing"
)

func TestForCoversEveryIndexOnce(t *testing.T) {
	p := New(4)
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
