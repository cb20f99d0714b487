package testpeers

import (
	"os"
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

// TestBuildOnce: the build runs once however often the program is asked
// for, in a directory Remove deletes; Output feeds stdin and returns stdout.
func TestBuildOnce(t *testing.T) {
	var b BuildOnce
	builds := 0
	build := func(dir string) (string, error) {
		builds++
		return CompileC(dir, "cat", "#include <stdio.h>\nint main(void) { int c; while ((c = getchar()) != EOF) putchar(c); return 0; }\n", []string{"-O1"}, nil)
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		missing(t, "gcc")
	}
	bin := b.Program(t, "cat", build)
	if again := b.Program(t, "cat", build); again != bin || builds != 1 {
		t.Fatalf("second Program: %s after %s, %d builds; want the same program, 1 build", again, bin, builds)
	}
	if out := Output(t, "cat", exec.Command(bin), []byte("ggml\n")); string(out) != "ggml\n" {
		t.Fatalf("Output: %q, want %q", out, "ggml\n")
	}
	b.Remove()
	if _, err := os.Stat(bin); !os.IsNotExist(err) {
		t.Fatalf("after Remove, %s: %v; want it gone", bin, err)
	}
}
