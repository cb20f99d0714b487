package main

import (
	"bytes"
	"strings"
	"testing"
)

// runCLI runs the CLI in-process and returns exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"--no-such-flag"},
		{"inspect"},
		{"inspect", "a", "b"},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "distill: ") {
			t.Errorf("%v: stderr not one 'distill: ' line: %q", args, stderr)
		}
	}
}

func TestFailureExit1(t *testing.T) {
	code, _, stderr := runCLI(t, "inspect", "/nonexistent/file.gguf")
	if code != 1 || !strings.Contains(stderr, "/nonexistent/file.gguf") {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
}

func TestHelpEverywhere(t *testing.T) {
	root := newRootCmd(&app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}})
	cmds := root.Commands()
	for len(cmds) > 0 {
		c := cmds[0]
		cmds = append(cmds[1:], c.Commands()...)
		args := append(strings.Fields(strings.TrimPrefix(c.CommandPath(), "distill ")), "--help")
		code, out, stderr := runCLI(t, args...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, stderr)
		}
	}
}
