package parallel

import "sync"

// FreeList is a mutex-guarded stack of recycled objects. Unlike a
// sync.Pool it does not miss (and allocate) when the caller has moved to
// another P since its last Put, and it keeps its objects across garbage
// collections, so a steady state allocates nothing. The zero value is an
// empty list.
type FreeList[T any] struct {
	mu    sync.Mutex
	items []*T
}

// Get takes the object put last, or returns nil when the list is empty.
func (f *FreeList[T]) Get() *T {
	f.mu.Lock()
	var x *T
	if n := len(f.items); n > 0 {
		x = f.items[n-1]
		f.items[n-1] = nil
		f.items = f.items[:n-1]
	}
	f.mu.Unlock()
	return x
}

// Put keeps x for a later Get.
func (f *FreeList[T]) Put(x *T) {
	f.mu.Lock()
	f.items = append(f.items, x)
	f.mu.Unlock()
}
