package testpeers

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestInstallScriptPrebuildsEveryLlamaTool: scripts/install-test-deps.sh
// runs PrebuildLlama (through llamapeers) after installing cmake and g++,
// and every llama.cpp tool a test or benchmark of the repository asks
// LlamaTool, LlamaSharedTool or EnsureLlamaBench for is one PrebuildLlama
// builds, so the suite finds them cached instead of compiling llama.cpp.
func TestInstallScriptPrebuildsEveryLlamaTool(t *testing.T) {
	root := RepoRoot(t)
	script, err := os.ReadFile(filepath.Join(root, "scripts", "install-test-deps.sh"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(script)
	prebuild := regexp.MustCompile(`(?m)^[^#\n]*go run \./internal/testpeers/llamapeers -deps "\$deps"`).FindStringIndex(s)
	apt := strings.Index(s, "apt-get install")
	switch {
	case prebuild == nil:
		t.Fatal(`scripts/install-test-deps.sh does not run "go run ./internal/testpeers/llamapeers -deps "$deps"": the tests would build llama.cpp themselves`)
	case apt < 0 || prebuild[0] < apt:
		t.Error("scripts/install-test-deps.sh runs llamapeers before installing cmake and g++")
	}

	native := regexp.MustCompile(`\bLlamaTool\(\s*\w+,\s*"([^"]+)"\)`)
	shared := regexp.MustCompile(`\bLlamaSharedTool\(\s*\w+,\s*"([^"]+)"\)`)
	found := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || filepath.Dir(path) == filepath.Join(root, "internal", "testpeers") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, m := range native.FindAllStringSubmatch(string(src), -1) {
			found++
			if !slices.Contains(LlamaNativeTools(), m[1]) {
				t.Errorf("%s asks LlamaTool for %s, which PrebuildLlama does not build (LlamaNativeTools: %v)", rel, m[1], LlamaNativeTools())
			}
		}
		for _, m := range shared.FindAllStringSubmatch(string(src), -1) {
			found++
			if !slices.Contains(LlamaSharedTools(), m[1]) {
				t.Errorf("%s asks LlamaSharedTool for %s, which PrebuildLlama does not build (LlamaSharedTools: %v)", rel, m[1], LlamaSharedTools())
			}
		}
		if strings.Contains(string(src), "EnsureLlamaBench(") && !slices.Contains(LlamaNativeTools(), "llama-bench") {
			t.Errorf("%s uses EnsureLlamaBench, and PrebuildLlama does not build llama-bench", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 3 { // llama-perplexity (gate), llama-imatrix (importance), llama-quantize (export)
		t.Errorf("found %d llama.cpp tool requests in the repository's tests; the scan is broken", found)
	}
}

// TestSharedToolCacheKeyed: a cached tool whose key (here the library
// version) does not match is rebuilt in place, at the path the install
// step and LlamaSharedTool share; a current one is reused as it is.
func TestSharedToolCacheKeyed(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles llama-quantize against node-llama-cpp's libraries (a minute): not in -short")
	}
	bundle, libDir := LlamaCppBundle(t), LlamaSharedLibDir(t)
	commit, err := LlamaBundleCommit(bundle)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	bin := LlamaSharedToolPath(cache, commit, "llama-quantize")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	stale := `{"commit":"` + commit + `","sources":["tools/quantize/main.cpp","tools/quantize/quantize.cpp"],` +
		`"flags":["-O1","-std=c++17","-Dmain=llama_tool_main"],"lib_dir":"` + libDir + `","lib_version":"0.0.0-stale"}`
	if err := os.WriteFile(bin+".build-info.json", []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho stale build\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	opt := LlamaSharedBuildOptions{Bundle: bundle, LibDir: libDir, CacheDir: cache, Name: "llama-quantize"}
	got, err := BuildLlamaSharedTool(opt)
	if err != nil {
		t.Fatal(err)
	}
	if got != bin {
		t.Fatalf("built %s, want the cache path %s", got, bin)
	}
	out, _ := exec.Command(got).CombinedOutput() // no arguments: usage, exit 1
	if !strings.Contains(string(out), "usage: ") || !strings.Contains(string(out), "--imatrix") {
		t.Fatalf("the stale build was not replaced: %s printed\n%s", got, out)
	}
	before, err := os.Stat(got)
	if err != nil {
		t.Fatal(err)
	}
	again, err := BuildLlamaSharedTool(opt)
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(again)
	if err != nil {
		t.Fatal(err)
	}
	if again != bin || !os.SameFile(before, after) {
		t.Error("a current cached build was rebuilt")
	}
	// The tests look the tool up where the install step builds it.
	if p := LlamaSharedTool(t, "llama-quantize"); p != LlamaSharedToolPath(LlamaSharedCacheDir(DepsDir(t)), commit, "llama-quantize") {
		t.Errorf("LlamaSharedTool returned %s, not the install step's cache path", p)
	}
}
