package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/model/infer/infertest"
)

// cliChildEnv holds the arguments (a JSON array) a child process of
// runCLIChild runs the CLI with.
const cliChildEnv = "DISTILL_CLI_CHILD_ARGS"

// TestMain lets runCLIChild re-run this test binary as the CLI.
func TestMain(m *testing.M) {
	if js := os.Getenv(cliChildEnv); js != "" {
		var args []string
		if err := json.Unmarshal([]byte(js), &args); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", cliChildEnv, err)
			os.Exit(3)
		}
		os.Exit(run(args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// runCLIChild runs the CLI in a child process: a command that could
// exhaust memory (the bugs these tests guard against) crashes the child,
// not the test binary. It returns the exit code (-1 when killed) and the
// first lines of stderr.
func runCLIChild(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	js, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), cliChildEnv+"="+string(js))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(errb.String(), "\n", 21)
	return code, out.String(), strings.Join(lines[:min(20, len(lines))], "\n")
}

// ctx16mGGUF is issue 16's file: llama.context_length = 16777216 on a model
// whose sessions cost 8.5 KiB per token (KV cache: 2 layers × K,V × 1024
// channels × F16 = 8 KiB; RoPE cos and sin: 64 pairs × 2 × 4 B = 512 B),
// 136 GiB at the declared context.
func ctx16mGGUF(t *testing.T) string {
	t.Helper()
	sp := infertest.RandomSpec{VocabSize: 300, DModel: 1024, NLayers: 2, NHeads: 8, NKVHeads: 8, FFNDim: 256,
		ContextLength: 1 << 24, RopeBase: 10000, NormEps: 1e-5, Sigma: 0.05, EmbedSigma: 0.3, Seed: 3, Type: "Q8_0"}
	return infertest.WriteTemp(t, "ctx16m.gguf", sp)
}

// generate and eval size their sessions to the text, not to a declared
// context of 16M tokens (before: fatal error: out of memory); --ctx asking
// for all of it is refused with the numbers and the flag, before anything
// is allocated.
func TestGenerateAndEvalWithHugeDeclaredContext(t *testing.T) {
	model := ctx16mGGUF(t)
	code, out, stderr := runCLIChild(t, "generate", "--model", model, "--prompt", "the cat sat", "--max-tokens", "8", "--temperature", "0", "--ignore-eos")
	if code != 0 || !strings.Contains(stderr, "8 generated (length)") {
		t.Fatalf("generate: exit %d\nstdout %q\nstderr %s", code, out, stderr)
	}
	data := filepath.Join(t.TempDir(), "d.txt")
	if err := os.WriteFile(data, []byte("hello world, this is a test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = runCLIChild(t, "eval", "--model", model, "--data", data)
	if code != 0 || !strings.Contains(out, "perplexity") {
		t.Fatalf("eval: exit %d\nstdout %q\nstderr %s", code, out, stderr)
	}
	code, _, stderr = runCLIChild(t, "generate", "--model", model, "--prompt", "the cat sat", "--max-tokens", "8", "--ctx", "16777216")
	for _, want := range []string{"136.0 GiB", "8.5 KiB per token", "--ctx", "llama.context_length is 16777216"} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("generate --ctx 16777216: exit %d, want 1 with an error mentioning %q:\n%s", code, want, stderr)
		}
	}
	code, _, stderr = runCLIChild(t, "eval", "--model", model, "--data", data, "--ctx", "16777217")
	if code != 1 || !strings.Contains(stderr, "exceeds the model's llama.context_length 16777216") {
		t.Errorf("eval --ctx beyond the model: exit %d, want 1:\n%s", code, stderr)
	}
}
