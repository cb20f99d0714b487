//go:build amd64 && !purego

package kernels

import (
	"testing"

	"github.com/distill-ml/distill/internal/cpuinfo"
)

// TestDispatchFollowsCPUFlags checks the SGEMM micro-kernel chosen first
// against the flags and family /proc/cpuinfo lists (an independent reading
// of the CPU) and logs which kernel ran on which CPU family.
func TestDispatchFollowsCPUFlags(t *testing.T) {
	in, err := cpuinfo.Read()
	if err != nil {
		t.Skipf("no /proc/cpuinfo: %v", err)
	}
	want := "generic 4x8"
	switch {
	case in.Has("avx512f") && in.Has("avx512vl") && in.Vendor == "AuthenticAMD" && in.Family >= 26:
		want = "avx512 12x32 regbcast"
	case in.Has("avx512f") && in.Has("avx512vl"):
		want = "avx512 12x32"
	case in.Has("avx2") && in.Has("fma"):
		want = "avx2 6x16"
	}
	if got := Kernels()[0]; got != want {
		t.Errorf("%s: the first SGEMM kernel is %q, the listed flags and family call for %q", in, got, want)
	}
	t.Logf("%s: SGEMM kernels %v", in, Kernels())
}

// TestKernelOrderPerCPU names the kernel set each CPU the project meets
// gets, fastest first: the register-broadcast AVX-512 kernel leads on Zen 5
// (AMD family 26) only; Zen 4 (family 25) and Intel keep the
// embedded-broadcast one they were tuned with.
func TestKernelOrderPerCPU(t *testing.T) {
	zen := func(family int) cpuinfo.Info { return cpuinfo.Info{Vendor: "AuthenticAMD", Family: family, Model: 2} }
	for _, c := range []struct {
		name         string
		in           cpuinfo.Info
		avx512, avx2 bool
		want         []string
	}{
		{"Zen 5", zen(26), true, true, []string{"avx512 12x32 regbcast", "avx512 12x32", "avx2 6x16", "generic 4x8"}},
		{"Zen 4", zen(25), true, true, []string{"avx512 12x32", "avx512 12x32 regbcast", "avx2 6x16", "generic 4x8"}},
		{"Zen 3", zen(25), false, true, []string{"avx2 6x16", "generic 4x8"}},
		{"Intel AVX-512", cpuinfo.Info{Vendor: "GenuineIntel", Family: 6, Model: 143}, true, true, []string{"avx512 12x32", "avx512 12x32 regbcast", "avx2 6x16", "generic 4x8"}},
		{"unreadable /proc/cpuinfo", cpuinfo.Info{Family: -1, Model: -1}, true, true, []string{"avx512 12x32", "avx512 12x32 regbcast", "avx2 6x16", "generic 4x8"}},
		{"no AVX2", zen(26), false, false, []string{"generic 4x8"}},
	} {
		var got []string
		for _, k := range kernelOrder(c.in, c.avx512, c.avx2) {
			got = append(got, k.name)
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: kernels %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: kernels %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
}
