package parallel

import "testing"

func TestFreeListIsALIFOThatAllocatesNothingInSteadyState(t *testing.T) {
	var f FreeList[int]
	if f.Get() != nil {
		t.Fatal("empty list returned an object")
	}
	a, b := new(int), new(int)
	f.Put(a)
	f.Put(b)
	if f.Get() != b || f.Get() != a || f.Get() != nil {
		t.Fatal("not last in, first out")
	}
	f.Put(a)
	if n := testing.AllocsPerRun(100, func() { f.Put(f.Get()) }); n != 0 {
		t.Fatalf("%v allocations per Get+Put", n)
	}
}
