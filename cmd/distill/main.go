// Command distill is the knowledge-distillation pipeline's command line:
// one binary with a subcommand per stage (tokenizer, data, train, export,
// quantize, generate, eval, ...). It is thin: every subcommand parses flags,
// loads and validates its config once, and calls into the library packages.
//
// Exit codes: 0 success, 1 failure, 2 usage error (unknown flag or command,
// wrong argument count, invalid flag value). Errors go to stderr as one line.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// version is the distill version recorded in dataset metadata, GGUF
// provenance and release manifests. Overridable with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// usageError marks an error caused by how the command was invoked; it maps to exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef builds a usage error (exit code 2).
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// app carries what every subcommand needs: its output streams. No global state.
type app struct {
	stdout io.Writer
	stderr io.Writer
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "distill",
		Short:         "Distill a big teacher model into a small student that runs on a device",
		Long:          "distill collects permitted teacher signals into Parquet, trains a small deep-and-thin\nstudent with knowledge distillation, quantizes and exports it as GGUF, and gates the\nartifact on quality, latency and footprint before it ships.",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	for _, sub := range subcommands(a) {
		root.AddCommand(sub)
	}
	wrapArgs(root)
	return root
}

// wrapArgs makes every positional-argument validation failure a usage error.
func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		inner := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := inner(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	} else if c.HasSubCommands() {
		// A group command given an unknown subcommand is a usage error.
		c.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return nil
		}
		if c.RunE == nil && c.Run == nil {
			c.RunE = func(cmd *cobra.Command, args []string) error {
				return usagef("%s needs a subcommand; see '%s --help'", cmd.CommandPath(), cmd.CommandPath())
			}
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

// run executes the CLI with args and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "distill: %v\n", oneLine(err))
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		return 2
	}
	return 1
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
