package testpeers

import (
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
)

// LlamaNativeCacheDir is where LlamaTool and BuildLlamaCpp cache native
// llama.cpp builds under the peers directory deps (one directory per commit).
func LlamaNativeCacheDir(deps string) string { return filepath.Join(deps, "llama-native") }

// LlamaSharedCacheDir is where LlamaSharedTool caches the tools it compiles
// against node-llama-cpp's libraries under deps (one directory per commit).
func LlamaSharedCacheDir(deps string) string { return filepath.Join(deps, "llama-shared") }

// PrebuildLlama builds every llama.cpp tool the test suite and the
// benchmarks use (LlamaNativeTools natively, LlamaSharedTools against
// node-llama-cpp's libraries) into the caches LlamaTool and LlamaSharedTool
// look them up in, for the bundle and libraries installed under deps.
// scripts/install-test-deps.sh runs it (through internal/testpeers/llamapeers),
// so the tests find the tools built; a current cache builds nothing, and a
// new bundle commit (or library version, or CPU for the native build) builds
// again. jobs is the native build's parallelism (0: all CPUs).
func PrebuildLlama(deps string, jobs int, progress io.Writer) error {
	bundle, libDir := LlamaBundlePath(deps), LlamaSharedLibPath(deps)
	for _, tool := range []string{"cmake", "c++", "g++", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("prebuild llama.cpp tools: %s not on PATH (scripts/install-test-deps.sh installs Debian's cmake, g++ and make first)", tool)
		}
	}
	b, err := BuildLlamaCpp(LlamaBuildOptions{Bundle: bundle, CacheDir: LlamaNativeCacheDir(deps),
		Targets: LlamaNativeTools(), Jobs: jobs, Progress: progress})
	if err != nil {
		return err
	}
	fmt.Fprintf(progress, "llama.cpp tools: %s in %s\n", strings.Join(LlamaNativeTools(), ", "), b.Dir)
	for _, name := range LlamaSharedTools() {
		bin, err := BuildLlamaSharedTool(LlamaSharedBuildOptions{Bundle: bundle, LibDir: libDir,
			CacheDir: LlamaSharedCacheDir(deps), Name: name, Progress: progress})
		if err != nil {
			return err
		}
		fmt.Fprintf(progress, "llama.cpp tools: %s\n", bin)
	}
	return nil
}
