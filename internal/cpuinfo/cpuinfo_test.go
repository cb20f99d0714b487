package cpuinfo

import (
	"strings"
	"testing"
)

// Two processors as /proc/cpuinfo lists them on the machines benchmarks ran
// on (fields trimmed to those Parse reads).
const zen5 = `processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 26
model		: 2
model name	: AMD EPYC
flags		: fpu sse avx avx2 fma f16c avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vnni avx512_vp2intersect

processor	: 1
vendor_id	: AuthenticAMD
cpu family	: 26
model		: 2
model name	: AMD EPYC
flags		: fpu sse avx avx2 fma f16c avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vnni avx512_vp2intersect
`

const zen4 = `processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 17
model name	: AMD EPYC 9R14
flags		: fpu avx avx2 fma f16c avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vnni
`

const graviton = `processor	: 0
BogoMIPS	: 243.75
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint svei8mm svebf16 i8mm bf16 dgh rng
CPU implementer	: 0x41
CPU part	: 0xd4f
`

func TestParseNamesFamilyModelAndKernelFlags(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"zen5", zen5, "AMD EPYC (AuthenticAMD family 26 model 2, Zen 5; 2 CPUs; avx avx2 fma f16c avx512f avx512bw avx512vl avx512dq avx512cd avx512_vnni avx512_bf16 avx512vbmi avx512_vp2intersect)"},
		{"zen4", zen4, "AMD EPYC 9R14 (AuthenticAMD family 25 model 17, Zen 4; 1 CPUs; avx avx2 fma f16c avx512f avx512bw avx512vl avx512dq avx512cd avx512_vnni avx512_bf16 avx512vbmi)"},
	} {
		if got := Parse(tc.text).String(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	g := Parse(graviton)
	if g.Model != 0xd4f || g.Vendor != "0x41" || !g.Has("asimddp") || !g.Has("i8mm") || g.Has("avx2") {
		t.Errorf("arm64: %+v", g)
	}
	if !strings.Contains(g.String(), "asimd asimddp sve sve2 i8mm") {
		t.Errorf("arm64 kernel flags: %s", g.String())
	}
}

func TestParseToleratesMissingFields(t *testing.T) {
	in := Parse("garbage\nno colon here\n")
	if in.Family != -1 || in.Model != -1 || in.CPUs != 0 || in.Name == "" || in.Microarch() != "" {
		t.Errorf("empty cpuinfo: %+v", in)
	}
}

func TestReadThisMachine(t *testing.T) {
	in, err := Read()
	if err != nil {
		t.Skipf("no /proc/cpuinfo: %v", err)
	}
	if in.CPUs < 1 {
		t.Errorf("no processor listed: %+v", in)
	}
}
