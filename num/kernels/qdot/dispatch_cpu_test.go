//go:build amd64

package qdot

import (
	"testing"

	"github.com/distill-ml/distill/internal/cpuinfo"
)

// TestDispatchFollowsCPUFlags names the kernel sets this CPU runs and checks
// each choice against the flags /proc/cpuinfo lists — an independent reading
// of the CPU from golang.org/x/sys/cpu's CPUID — so a machine change (Zen 4
// to Zen 5, or a CPU without AVX-512) cannot silently land on a slower set
// or on one the CPU cannot run. The log line is the record of which set ran
// on which CPU family.
func TestDispatchFollowsCPUFlags(t *testing.T) {
	in, err := cpuinfo.Read()
	if err != nil {
		t.Skipf("no /proc/cpuinfo: %v", err)
	}
	all := func(flags ...string) bool {
		for _, f := range flags {
			if !in.Has(f) {
				return false
			}
		}
		return true
	}
	want := "go"
	if all("avx2", "fma", "f16c") {
		want = "avx2"
		if all("avx512f", "avx512bw", "avx512vl", "avx512_vnni") {
			want = "avx512"
		}
	}
	if got := chooseKernels("").name; got != want {
		t.Errorf("%s: the default kernel set is %q, the listed flags call for %q", in, got, want)
	}
	wantOrder := "avx2"
	if all("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw") {
		wantOrder = "avx512"
	}
	if got := LlamaOrderVariant(); got != wantOrder {
		t.Errorf("%s: llama.cpp float order %q, the listed flags call for %q", in, got, wantOrder)
	}
	t.Logf("%s: qdot kernel set %s, llama.cpp float order of its %s build, Q4_K four-row AVX-512 kernel %v",
		in, chooseKernels("").name, LlamaOrderVariant(), want == "avx512" && in.Has("avx512vbmi"))
}
