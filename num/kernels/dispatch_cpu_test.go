//go:build amd64

package kernels

import (
	"testing"

	"github.com/distill-ml/distill/internal/cpuinfo"
)

// TestDispatchFollowsCPUFlags checks the SGEMM micro-kernel chosen first
// against the flags /proc/cpuinfo lists (an independent reading of the CPU)
// and logs which kernel ran on which CPU family.
func TestDispatchFollowsCPUFlags(t *testing.T) {
	in, err := cpuinfo.Read()
	if err != nil {
		t.Skipf("no /proc/cpuinfo: %v", err)
	}
	want := genericKernel.name
	switch {
	case in.Has("avx512f") && in.Has("avx512vl"):
		want = avx512Kernel.name
	case in.Has("avx2") && in.Has("fma"):
		want = avx2Kernel.name
	}
	if got := Kernels()[0]; got != want {
		t.Errorf("%s: the first SGEMM kernel is %q, the listed flags call for %q", in, got, want)
	}
	t.Logf("%s: SGEMM kernels %v", in, Kernels())
}
