//go:build !arm64

package qdot

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// arm64QemuTests are the tests the emulated run must pass: the NEON kernels
// against the Go ones (kernels_arm64_test.go) and the implementation-
// independent checks of every kernel set and of the activation quantizers
// against float64 references.
var arm64QemuTests = []string{
	"TestNEONQuantDotsBitIdenticalToGo",
	"TestNEONFloatDotsBitIdenticalToGo",
	"TestNEONMulBatchBitIdenticalToGo",
	"TestNEONIsChosenByDefault",
	"TestDotAgainstFloat64Reference",
	"TestDotOddLengthsFloat",
	"TestMulBatchMatchesRowDots",
	"TestMulBatchSetMixedTypes",
	"TestRowKernelsCheckBounds",
	"TestDequantizeBitIdentical",
	"TestQuantizeQ8_0",
	"TestQuantizeQ8_K",
	"TestQuantizersMatchFloat64Reference", // failed on arm64 before roundEven's float32(p)
}

// TestArm64KernelsUnderQemu cross-compiles this package's tests for
// linux/arm64 and runs them under qemu-aarch64-static (Debian's
// qemu-user-static, installed by scripts/install-test-deps.sh), so that an
// amd64 CI checks the NEON kernels bit for bit. A correctness run only:
// nothing here measures time.
func TestArm64KernelsUnderQemu(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles and emulates the package tests for arm64 (minutes on a cold build cache); skipped under -short")
	}
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		t.Skip("qemu-aarch64-static not found (Debian qemu-user-static; run scripts/install-test-deps.sh): the arm64 NEON kernels are not checked")
	}
	bin := filepath.Join(t.TempDir(), "qdot-arm64.test")
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cross-compile the package tests for linux/arm64: %v\n%s", err, out)
	}
	run := exec.Command(qemu, bin, "-test.v", "-test.count=1", "-test.run", "^("+strings.Join(arm64QemuTests, "|")+")$")
	run.Env = append(os.Environ(), EnvImplementation+"=") // the default choice, which must be neon
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("arm64 tests under %s: %v\n%s", qemu, err, tailLines(string(out), 60))
	}
	for _, name := range arm64QemuTests { // each ran and passed: none filtered out or skipped
		if !strings.Contains(string(out), "--- PASS: "+name+" ") {
			t.Errorf("arm64 run under qemu has no PASS for %s:\n%s", name, tailLines(string(out), 60))
		}
	}
}

// tailLines is the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
