//go:build unix

package sysmem

import (
	"crypto/sha256"
	"os"
	"os/exec"
	"testing"
	"time"
)

// burnCPU hashes until CPUTime has advanced by at least d, or gives up
// after a fixed amount of work (far more than d needs) and reports false.
func burnCPU(d time.Duration) bool {
	start := CPUTime()
	buf := make([]byte, 1<<12)
	for i := 0; i < 1<<20; i++ {
		sum := sha256.Sum256(buf)
		buf[i%len(buf)] ^= sum[0]
		if i%64 == 0 && CPUTime()-start >= d {
			return true
		}
	}
	return false
}

// TestCPUTimeAdvancesWithWork: hashing makes this process's CPU time grow.
func TestCPUTimeAdvancesWithWork(t *testing.T) {
	if CPUTime() <= 0 {
		t.Fatal("CPUTime is 0 in a running process")
	}
	if !burnCPU(20 * time.Millisecond) {
		t.Fatal("CPUTime did not advance by 20 ms over 4 GiB of hashing")
	}
}

// TestChildrenCPUTimeCountsWaitedChildren: a child that burns 50 ms of CPU
// adds at least that much to ChildrenCPUTime once it has been waited for.
func TestChildrenCPUTimeCountsWaitedChildren(t *testing.T) {
	if os.Getenv("SYSMEM_BURN_CHILD") == "1" {
		if !burnCPU(50 * time.Millisecond) {
			os.Exit(3)
		}
		os.Exit(0)
	}
	before := ChildrenCPUTime()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildrenCPUTimeCountsWaitedChildren$")
	cmd.Env = append(os.Environ(), "SYSMEM_BURN_CHILD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if got := ChildrenCPUTime() - before; got < 50*time.Millisecond {
		t.Fatalf("ChildrenCPUTime grew by %v after a child burned 50 ms", got)
	}
}
