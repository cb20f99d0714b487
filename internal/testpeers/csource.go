package testpeers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
