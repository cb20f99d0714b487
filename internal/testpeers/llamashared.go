package testpeers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// LlamaSharedLibDir is the directory of node-llama-cpp's prebuilt linux-x64
// shared libraries (libllama, libllama-common, libggml and its CPU
// backends), built from the llama.cpp source LlamaCppBundle holds.
func LlamaSharedLibDir(t testing.TB) string {
	t.Helper()
	nm := NodeModules(t, "@node-llama-cpp/linux-x64")
	return filepath.Join(nm, "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
}

// LlamaSharedTool compiles one llama.cpp tool that is a single C++ source
// file of the bundled llama.cpp (e.g. "tools/imatrix/imatrix.cpp" for
// llama-imatrix) against LlamaSharedLibDir's libraries, into dir/name: the
// tool's own code, linked to the libllama and libllama-common node-llama-cpp
// runs, in seconds (LlamaTool's native build of the whole tree takes about
// an hour on two cores). Needs g++ and git.
func LlamaSharedTool(t testing.TB, source, dir, name string) string {
	t.Helper()
	bundle := LlamaCppBundle(t)
	libDir := LlamaSharedLibDir(t)
	for _, tool := range []string{"g++", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, tool+" (to build llama.cpp's "+name+")")
		}
	}
	var libs []string
	for _, pattern := range []string{"libllama-common.so", "libllama.v*.so", "libggml.v*.so", "libggml-base.so"} {
		m, _ := filepath.Glob(filepath.Join(libDir, pattern))
		if len(m) != 1 {
			t.Fatalf("want one %s in %s, found %v", pattern, libDir, m)
		}
		libs = append(libs, "-l:"+filepath.Base(m[0]))
	}
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %s %s: %v\n%s", source, name, strings.Join(args, " "), err, tail(string(out), 4000))
		}
	}
	src := filepath.Join(dir, "llama.cpp-src")
	if _, err := os.Stat(src); err != nil {
		run("git", "clone", "-q", "--no-checkout", bundle, src)
		run("git", "-C", src, "checkout", "-q", "HEAD", "--", "include", "ggml/include", "common", "vendor", "tools")
	}
	// node-llama-cpp's libggml loads its CPU backends at run time: a wrapper
	// main loads them from libDir (as node-llama-cpp does) before the tool's.
	wrapper := filepath.Join(dir, name+"-main.cpp")
	if err := os.WriteFile(wrapper, []byte(fmt.Sprintf(sharedToolMain, libDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	obj := bin + ".o"
	run("g++", "-O1", "-std=c++17", "-I", filepath.Join(src, "common"), "-I", filepath.Join(src, "include"),
		"-I", filepath.Join(src, "ggml", "include"), "-I", filepath.Join(src, "vendor"),
		"-Dmain=llama_tool_main", "-c", filepath.Join(src, filepath.FromSlash(source)), "-o", obj)
	args := []string{"-O1", "-std=c++17", "-I", filepath.Join(src, "ggml", "include"), wrapper, obj, "-o", bin, "-L" + libDir}
	args = append(append(args, libs...), "-Wl,-rpath,"+libDir, "-lpthread")
	run("g++", args...)
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(fmt.Errorf("building %s: %w", source, err))
	}
	return bin
}

// sharedToolMain is the wrapper main of LlamaSharedTool (its %q: the library directory).
const sharedToolMain = `#include "ggml-backend.h"
int llama_tool_main(int argc, char ** argv);
int main(int argc, char ** argv) {
	ggml_backend_load_all_from_path(%q);
	return llama_tool_main(argc, argv);
}
`
