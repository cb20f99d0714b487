package testpeers

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// CheckoutLlamaSources checks the given paths of the llama.cpp source tree
// in bundle (LlamaCppBundle) out into root, a directory git creates; the C
// reference harnesses compile ggml's own files from there.
func CheckoutLlamaSources(bundle, root string, paths ...string) error {
	if err := runQuiet("git", "clone", "-q", "--no-checkout", bundle, root); err != nil {
		return err
	}
	return runQuiet("git", append([]string{"-C", root, "checkout", "-q", "HEAD", "--"}, paths...)...)
}

// CompileC writes source to dir/name.c and compiles it with gcc into the
// program dir/name, whose path it returns: gcc flags… dir/name.c inputs…
// -o dir/name (inputs: further sources, libraries and link options).
func CompileC(dir, name, source string, flags, inputs []string) (string, error) {
	if _, err := exec.LookPath("gcc"); err != nil {
		return "", fmt.Errorf("gcc is needed to compile %s: %w", name, err)
	}
	c := filepath.Join(dir, name+".c")
	if err := os.WriteFile(c, []byte(source), 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name)
	args := append(append(append(append([]string{}, flags...), c), inputs...), "-o", bin)
	if err := runQuiet("gcc", args...); err != nil {
		return "", err
	}
	return bin, nil
}

// runQuiet runs name with args, with the tail of its output in the error
// when it fails.
func runQuiet(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(string(out), 4000))
	}
	return nil
}

// BuildOnce is a helper program built at most once per test binary, in a
// temporary directory that Remove deletes (TestMain: os.Exit(b.Run(m))).
// The zero BuildOnce is ready to use.
type BuildOnce struct {
	once     sync.Once
	dir, bin string
	err      error
}

// Program returns the program's path, building it on first use with build,
// which gets a fresh temporary directory and returns the program's path in
// it. A failed build fails t, and every later caller, naming what.
func (b *BuildOnce) Program(t testing.TB, what string, build func(dir string) (string, error)) string {
	t.Helper()
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "testpeers-build-*"); b.err != nil {
			return
		}
		b.bin, b.err = build(b.dir)
	})
	if b.err != nil {
		t.Fatalf("building %s: %v", what, b.err)
	}
	return b.bin
}

// Run runs the package's tests and then removes the build directory,
// returning the tests' exit code.
func (b *BuildOnce) Run(m *testing.M) int {
	defer b.Remove()
	return m.Run()
}

// Remove deletes the build directory, if there is one.
func (b *BuildOnce) Remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// Output runs cmd with stdin (nil: none) and returns its stdout; a failure
// fails t with the tail of cmd's stderr, naming what.
func Output(t testing.TB, what string, cmd *exec.Cmd, stdin []byte) []byte {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s failed: %v\nstderr:\n%s", what, err, tail(errb.String(), 4000))
	}
	return out.Bytes()
}
