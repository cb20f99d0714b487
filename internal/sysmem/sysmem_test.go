package sysmem

import (
	"os"
	"strings"
	"testing"
)

func TestKBField(t *testing.T) {
	const meminfo = "MemTotal:       24576000 kB\nMemFree:        20000000 kB\nMemAvailable:   22000000 kB\nHugePages_Total:       0\n"
	for _, c := range []struct {
		field string
		want  int64
		ok    bool
	}{
		{"MemAvailable", 22000000 * 1024, true},
		{"MemTotal", 24576000 * 1024, true},
		{"HugePages_Total", 0, true},
		{"Mem", 0, false}, // a prefix of a field name is not the field
		{"SwapTotal", 0, false},
	} {
		got, ok := kBField(strings.NewReader(meminfo), c.field)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %d, %v; want %d, %v", c.field, got, ok, c.want, c.ok)
		}
	}
	if _, ok := kBField(strings.NewReader("MemAvailable: lots kB\n"), "MemAvailable"); ok {
		t.Error("a non-numeric value was accepted")
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{12: "12 B", 1536: "1.5 KiB", 512 << 20: "512.0 MiB", 68 << 30: "68.0 GiB"} {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestProcStatusReportsUnknownFields(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc on this system")
	}
	if n, ok := ProcStatus("VmHWM"); !ok || n <= 0 {
		t.Errorf("ProcStatus(VmHWM) = %d, %v; want a positive byte count", n, ok)
	}
	if n, ok := ProcStatus("NoSuchField"); ok {
		t.Errorf("ProcStatus(NoSuchField) = %d, true; want unknown", n)
	}
}
