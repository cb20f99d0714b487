package testpeers

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCompileC builds and runs a two-file C program (the harness and an
// input source), and reports a compile error with gcc's own message.
func TestCompileC(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		missing(t, "gcc")
	}
	dir := t.TempDir()
	lib, err := CompileC(dir, "lib", "int twice(int x) { return 2 * x; }\n", []string{"-c"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := CompileC(dir, "main", "#include <stdio.h>\nint twice(int);\nint main(void) { printf(\"%d\\n\", twice(21)); return 0; }\n",
		[]string{"-O1"}, []string{lib})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin).Output()
	if err != nil || string(out) != "42\n" {
		t.Fatalf("%s: %q, %v; want 42", bin, out, err)
	}
	_, err = CompileC(dir, "broken", "int main(void) { return undeclared; }\n", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "undeclared") || !strings.Contains(err.Error(), "broken.c") {
		t.Fatalf("compile error: %v; want gcc's message naming broken.c and undeclared", err)
	}
}
