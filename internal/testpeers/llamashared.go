package testpeers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distill-ml/distill/internal/atomicfile"
)

// LlamaSharedLibDir is the directory of node-llama-cpp's prebuilt linux-x64
// shared libraries (libllama, libllama-common, libggml and its CPU
// backends), built from the llama.cpp source LlamaCppBundle holds.
func LlamaSharedLibDir(t testing.TB) string {
	t.Helper()
	NodeModules(t, "@node-llama-cpp/linux-x64")
	return LlamaSharedLibPath(DepsDir(t))
}

// LlamaSharedLibPath is where scripts/install-test-deps.sh puts
// node-llama-cpp's prebuilt linux-x64 libraries, under the peers directory deps.
func LlamaSharedLibPath(deps string) string {
	return filepath.Join(deps, "node", "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
}

// llamaSharedToolSources are the tools LlamaSharedTool compiles: each one's
// C++ sources in the bundled llama.cpp tree, exactly the files its cmake
// target builds from (llama-quantize is main.cpp plus the quantize.cpp
// library the llama.cpp app reuses).
func llamaSharedToolSources(name string) ([]string, bool) {
	switch name {
	case "llama-imatrix":
		return []string{"tools/imatrix/imatrix.cpp"}, true
	case "llama-quantize":
		return []string{"tools/quantize/main.cpp", "tools/quantize/quantize.cpp"}, true
	}
	return nil, false
}

// LlamaSharedTools are the tools LlamaSharedTool knows (and
// scripts/install-test-deps.sh prebuilds).
func LlamaSharedTools() []string { return []string{"llama-imatrix", "llama-quantize"} }

// LlamaNativeTools are the natively built tools (LlamaTool, BuildLlamaCpp)
// the test suite and benchmarks use, which scripts/install-test-deps.sh
// prebuilds.
func LlamaNativeTools() []string { return []string{"llama-bench", "llama-perplexity"} }

// LlamaSharedBuildOptions say which tool to compile from which bundle
// against which libraries, and where to cache it.
type LlamaSharedBuildOptions struct {
	Bundle string // node-llama-cpp's llama/gitRelease.bundle
	LibDir string // node-llama-cpp's prebuilt shared libraries (LlamaSharedLibDir)
	// CacheDir holds one directory per commit (normally .testdeps/llama-shared).
	CacheDir string
	Name     string    // a tool of LlamaSharedTools, e.g. "llama-quantize"
	Progress io.Writer // one line per build step (nil: discarded)
}

// LlamaSharedBuildInfo is the key of a cached shared-library tool build
// (NAME.build-info.json beside the binary): a build is reused only when
// every field but BuiltAt matches.
type LlamaSharedBuildInfo struct {
	Commit     string   `json:"commit"`
	Sources    []string `json:"sources"`
	Flags      []string `json:"flags"`
	LibDir     string   `json:"lib_dir"`     // linked by rpath; the wrapper loads the CPU backends from it
	LibVersion string   `json:"lib_version"` // @node-llama-cpp/linux-x64's package.json version
	BuiltAt    string   `json:"built_at"`
}

// llamaSharedFlags are the compiler flags of every LlamaSharedTool object.
var llamaSharedFlags = []string{"-O1", "-std=c++17", "-Dmain=llama_tool_main"}

// LlamaSharedToolPath is where BuildLlamaSharedTool caches tool name for a
// bundle commit: cacheDir/<commit[:7]>/name.
func LlamaSharedToolPath(cacheDir, commit, name string) string {
	return filepath.Join(cacheDir, commit[:min(7, len(commit))], name)
}

// LlamaSharedTool returns one llama.cpp tool of LlamaSharedTools (e.g.
// "llama-quantize"), compiled from the bundled llama.cpp source against
// LlamaSharedLibDir's libraries: the tool's own code, linked to the libllama
// and libllama-common node-llama-cpp runs. scripts/install-test-deps.sh
// builds it into DepsDir/llama-shared; when that cache is missing or stale
// it is built here (seconds to a minute; LlamaTool's native build of the
// whole tree takes about an hour on two cores). Needs g++ and git.
func LlamaSharedTool(t testing.TB, name string) string {
	t.Helper()
	bundle := LlamaCppBundle(t)
	libDir := LlamaSharedLibDir(t)
	for _, tool := range []string{"g++", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, tool+" (to build llama.cpp's "+name+")")
		}
	}
	bin, err := BuildLlamaSharedTool(LlamaSharedBuildOptions{Bundle: bundle, LibDir: libDir,
		CacheDir: LlamaSharedCacheDir(DepsDir(t)), Name: name, Progress: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// BuildLlamaSharedTool returns the cached build of tool o.Name for the
// bundle's commit, compiling it first unless LlamaSharedToolPath holds a
// build with the same key (LlamaSharedBuildInfo). The sources are checked
// out of the bundle into a temporary directory, each compiled with
// -Dmain=llama_tool_main, and linked with a wrapper main that loads
// node-llama-cpp's CPU backends (its libggml loads them at run time, as
// node-llama-cpp does) before calling the tool's. The binary and its info
// are installed atomically; one process builds a tool at a time (a file
// lock), others wait and reuse its build.
func BuildLlamaSharedTool(o LlamaSharedBuildOptions) (string, error) {
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	sources, ok := llamaSharedToolSources(o.Name)
	if !ok {
		return "", fmt.Errorf("llama.cpp shared tool %q: unknown (known: %s)", o.Name, strings.Join(LlamaSharedTools(), ", "))
	}
	commit, err := LlamaBundleCommit(o.Bundle)
	if err != nil {
		return "", err
	}
	version, err := llamaLibVersion(o.LibDir)
	if err != nil {
		return "", fmt.Errorf("llama.cpp shared tool %s: %w", o.Name, err)
	}
	want := LlamaSharedBuildInfo{Commit: commit, Sources: sources, Flags: llamaSharedFlags, LibDir: o.LibDir, LibVersion: version}
	bin := LlamaSharedToolPath(o.CacheDir, commit, o.Name)
	infoPath := bin + ".build-info.json"
	current := func() bool {
		data, err := os.ReadFile(infoPath)
		if err != nil {
			return false
		}
		var got LlamaSharedBuildInfo
		if json.Unmarshal(data, &got) != nil {
			return false
		}
		got.BuiltAt = ""
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(want)
		if !bytes.Equal(a, b) {
			return false
		}
		_, err = os.Stat(bin)
		return err == nil
	}
	if current() {
		return bin, nil
	}
	dir := filepath.Dir(bin)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("llama.cpp shared tool %s: %w", o.Name, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "."+o.Name+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("llama.cpp shared tool %s: %w", o.Name, err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("llama.cpp shared tool %s: lock %s: %w", o.Name, dir, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if current() { // built by the process we waited for
		return bin, nil
	}
	var libs []string
	for _, pattern := range []string{"libllama-common.so", "libllama.v*.so", "libggml.v*.so", "libggml-base.so"} {
		m, _ := filepath.Glob(filepath.Join(o.LibDir, pattern))
		if len(m) != 1 {
			return "", fmt.Errorf("llama.cpp shared tool %s: want one %s in %s, found %v", o.Name, pattern, o.LibDir, m)
		}
		libs = append(libs, "-l:"+filepath.Base(m[0]))
	}
	work, err := os.MkdirTemp(dir, "build-"+o.Name+"-")
	if err != nil {
		return "", fmt.Errorf("llama.cpp shared tool %s: %w", o.Name, err)
	}
	defer os.RemoveAll(work)
	start := time.Now()
	fmt.Fprintf(progress, "llama.cpp shared tool: building %s (%s) against %s\n", bin, strings.Join(sources, " "), o.LibDir)
	run := func(name string, args ...string) error {
		if err := runQuiet(name, args...); err != nil {
			return fmt.Errorf("building llama.cpp's %s: %w", o.Name, err)
		}
		return nil
	}
	src := filepath.Join(work, "src")
	if err := CheckoutLlamaSources(o.Bundle, src, "include", "ggml/include", "common", "vendor", "tools"); err != nil {
		return "", fmt.Errorf("building llama.cpp's %s: %w", o.Name, err)
	}
	wrapper := filepath.Join(work, "wrapper-main.cpp")
	if err := os.WriteFile(wrapper, []byte(fmt.Sprintf(sharedToolMain, o.LibDir)), 0o644); err != nil {
		return "", fmt.Errorf("llama.cpp shared tool %s: %w", o.Name, err)
	}
	link := []string{"-O1", "-std=c++17", "-I", filepath.Join(src, "ggml", "include"), wrapper}
	for i, s := range sources {
		obj := filepath.Join(work, fmt.Sprintf("%d.o", i))
		args := append(append([]string{}, llamaSharedFlags...), "-I", filepath.Join(src, "common"), "-I", filepath.Join(src, "include"),
			"-I", filepath.Join(src, "ggml", "include"), "-I", filepath.Join(src, "vendor"), "-I", filepath.Join(src, filepath.Dir(filepath.FromSlash(s))),
			"-c", filepath.Join(src, filepath.FromSlash(s)), "-o", obj)
		if err := run("g++", args...); err != nil {
			return "", err
		}
		link = append(link, obj)
	}
	out := filepath.Join(work, o.Name)
	link = append(append(link, "-o", out, "-L"+o.LibDir), libs...)
	if err := run("g++", append(link, "-Wl,-rpath,"+o.LibDir, "-lpthread")...); err != nil {
		return "", err
	}
	if err := atomicfile.Copy(out, bin, 0o755); err != nil {
		return "", fmt.Errorf("llama.cpp shared tool %s: install: %w", o.Name, err)
	}
	want.BuiltAt = time.Now().UTC().Format(time.RFC3339)
	data, _ := json.MarshalIndent(want, "", "  ")
	if err := atomicfile.WriteFile(infoPath, append(data, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("llama.cpp shared tool %s: %w", o.Name, err)
	}
	fmt.Fprintf(progress, "llama.cpp shared tool: %s built in %.0f s\n", bin, time.Since(start).Seconds())
	return bin, nil
}

// llamaLibVersion is the version of the npm package whose bins/linux-x64
// directory libDir is (@node-llama-cpp/linux-x64's package.json).
func llamaLibVersion(libDir string) (string, error) {
	pkg := filepath.Join(libDir, "..", "..", "package.json")
	data, err := os.ReadFile(pkg)
	if err != nil {
		return "", fmt.Errorf("shared libraries' package: %w", err)
	}
	var p struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(data, &p); err != nil || p.Version == "" {
		return "", errors.Join(fmt.Errorf("%s: no version", pkg), err)
	}
	return p.Version, nil
}

// sharedToolMain is the wrapper main of LlamaSharedTool (its %q: the library directory).
const sharedToolMain = `#include "ggml-backend.h"
int llama_tool_main(int argc, char ** argv);
int main(int argc, char ** argv) {
	ggml_backend_load_all_from_path(%q);
	return llama_tool_main(argc, argv);
}
`
