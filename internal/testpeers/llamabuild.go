package testpeers

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distill-ml/distill/internal/atomicfile"
)

// LlamaCMakeFlags configure the native llama.cpp build: optimized for this
// CPU, static (self-contained binaries to cache), nothing but the tools.
var LlamaCMakeFlags = []string{
	"-DCMAKE_BUILD_TYPE=Release",
	"-DGGML_NATIVE=ON",
	"-DBUILD_SHARED_LIBS=OFF",
	"-DLLAMA_BUILD_TESTS=OFF",
	"-DLLAMA_BUILD_EXAMPLES=OFF",
	"-DLLAMA_BUILD_SERVER=OFF",
	"-DLLAMA_BUILD_APP=OFF",
	"-DLLAMA_OPENSSL=OFF",
}

// LlamaBuildOptions say where the llama.cpp source is, where to cache the
// build and which tools to build.
type LlamaBuildOptions struct {
	// Bundle is node-llama-cpp's llama/gitRelease.bundle (a git bundle of
	// the llama.cpp source it ships).
	Bundle string
	// CacheDir holds one directory per commit (normally .testdeps/llama-native).
	CacheDir string
	// Targets are the cmake targets (tool binaries) wanted, e.g. "llama-bench",
	// "llama-perplexity". Cached ones are not rebuilt.
	Targets []string
	// Jobs is the build parallelism (0: all CPUs).
	Jobs int
	// Progress receives one line per build step (nil: discarded).
	Progress io.Writer
}

// LlamaBuildInfo describes a cached native build (build-info.json next to the binaries).
type LlamaBuildInfo struct {
	Commit     string   `json:"commit"`
	CMakeFlags []string `json:"cmake_flags"`
	CPU        string   `json:"cpu"`       // model name from /proc/cpuinfo
	CPUFlags   string   `json:"cpu_flags"` // sha256 of the CPU's feature flags: a native build is only valid on the same features
	Compiler   string   `json:"compiler"`
	BuiltAt    string   `json:"built_at"`
	Seconds    float64  `json:"build_seconds"` // of the last build step that added targets
}

// LlamaBuild is a directory of natively built llama.cpp tools.
type LlamaBuild struct {
	Dir  string
	Info LlamaBuildInfo
}

// Bin is the path of one built tool (a target of the build).
func (b *LlamaBuild) Bin(target string) string { return filepath.Join(b.Dir, target) }

// LlamaBundleCommit is the commit the bundle's HEAD points at.
func LlamaBundleCommit(bundle string) (string, error) {
	if _, err := os.Stat(bundle); err != nil {
		return "", fmt.Errorf("llama.cpp source bundle: %w (run scripts/install-test-deps.sh)", err)
	}
	out, err := exec.Command("git", "bundle", "list-heads", bundle).Output()
	if err != nil {
		return "", fmt.Errorf("git bundle list-heads %s: %w", bundle, exitDetail(err))
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[1] == "HEAD" && len(f[0]) == 40 {
			return f[0], nil
		}
	}
	return "", fmt.Errorf("git bundle %s: no HEAD among its heads:\n%s", bundle, out)
}

// LlamaTool returns a natively built llama.cpp tool of LlamaNativeTools
// (e.g. "llama-perplexity") from the source node-llama-cpp ships, cached in
// LlamaNativeCacheDir(DepsDir), where scripts/install-test-deps.sh builds
// them all (PrebuildLlama); a missing or stale cache is built here first
// (about 25 minutes on two cores). A missing peer (bundle, cmake, a C++
// compiler) fails the test like any missing peer; a failed build fails it.
func LlamaTool(t testing.TB, target string) string {
	t.Helper()
	bundle := LlamaCppBundle(t)
	for _, tool := range []string{"cmake", "c++", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, tool+" (to build llama.cpp's "+target+")")
		}
	}
	b, err := BuildLlamaCpp(LlamaBuildOptions{
		Bundle: bundle, CacheDir: LlamaNativeCacheDir(DepsDir(t)),
		Targets: []string{target}, Progress: os.Stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.Bin(target)
}

// cpuIdentity is the CPU model name and a digest of its feature flags.
func cpuIdentity() (model, flags string) {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH, ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			if model == "" {
				model = strings.TrimSpace(v)
			}
		case "flags":
			if flags == "" {
				fs := strings.Fields(v)
				h := sha256.Sum256([]byte(strings.Join(fs, " ")))
				flags = fmt.Sprintf("%x", h[:8])
			}
		}
	}
	return model, flags
}

// BuildLlamaCpp returns native builds of o.Targets for the bundle's commit,
// building the missing ones first (clone the bundle into a temporary
// directory, cmake with LlamaCMakeFlags, build only those targets) unless a
// build for the same commit, flags and CPU is cached in CacheDir/<commit>/.
// Only the binaries, build-info.json and build.log are kept; the source is
// removed. One process builds a commit at a time (a file lock); others wait.
func BuildLlamaCpp(o LlamaBuildOptions) (*LlamaBuild, error) {
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	if len(o.Targets) == 0 {
		return nil, errors.New("native llama.cpp build: no targets")
	}
	commit, err := LlamaBundleCommit(o.Bundle)
	if err != nil {
		return nil, err
	}
	cpu, cpuFlags := cpuIdentity()
	dir := filepath.Join(o.CacheDir, commit[:7])
	infoPath := filepath.Join(dir, "build-info.json")
	// cached reports the build's info and the targets it still lacks; info
	// is nil when the directory holds no build of this commit, flags and CPU.
	cached := func() (*LlamaBuildInfo, []string) {
		data, err := os.ReadFile(infoPath)
		if err != nil {
			return nil, o.Targets
		}
		var info LlamaBuildInfo
		if json.Unmarshal(data, &info) != nil || info.Commit != commit || info.CPUFlags != cpuFlags ||
			strings.Join(info.CMakeFlags, " ") != strings.Join(LlamaCMakeFlags, " ") {
			return nil, o.Targets
		}
		var lack []string
		for _, t := range o.Targets {
			if _, err := os.Stat(filepath.Join(dir, t)); err != nil {
				lack = append(lack, t)
			}
		}
		return &info, lack
	}
	if info, lack := cached(); info != nil && len(lack) == 0 {
		return &LlamaBuild{Dir: dir, Info: *info}, nil
	}

	cmake, err := exec.LookPath("cmake")
	if err != nil {
		return nil, errors.New("native llama.cpp build: cmake not found on PATH (run scripts/install-test-deps.sh, which installs Debian's cmake, g++ and make)")
	}
	cxx := "c++"
	if _, err := exec.LookPath(cxx); err != nil {
		return nil, errors.New("native llama.cpp build: no C++ compiler (c++) on PATH (run scripts/install-test-deps.sh)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("native llama.cpp build: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("native llama.cpp build: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(progress, "llama.cpp native build: waiting for another process building in %s\n", dir)
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			return nil, fmt.Errorf("native llama.cpp build: lock %s: %w", dir, err)
		}
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	info, lack := cached()
	if info != nil && len(lack) == 0 {
		return &LlamaBuild{Dir: dir, Info: *info}, nil
	}
	if info == nil {
		// A build for another commit, flags or CPU: none of its binaries count.
		lack = o.Targets
	}
	// Work directories left by an interrupted build.
	if old, _ := filepath.Glob(filepath.Join(dir, "build-*")); len(old) > 0 {
		for _, d := range old {
			os.RemoveAll(d)
		}
	}
	work, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return nil, fmt.Errorf("native llama.cpp build: %w", err)
	}
	defer os.RemoveAll(work)
	logPath := filepath.Join(dir, "build.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("native llama.cpp build: %w", err)
	}
	defer logf.Close()
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	start := time.Now()
	src, build := filepath.Join(work, "src"), filepath.Join(work, "build")
	steps := []struct {
		what string
		args []string
	}{
		{"clone " + commit[:7] + " from " + o.Bundle, []string{"git", "clone", "--quiet", o.Bundle, src}},
		{"configure (cmake " + strings.Join(LlamaCMakeFlags, " ") + ")", append([]string{cmake, "-S", src, "-B", build}, LlamaCMakeFlags...)},
	}
	for _, t := range lack {
		steps = append(steps, struct {
			what string
			args []string
		}{fmt.Sprintf("build target %s with %d jobs", t, jobs), []string{cmake, "--build", build, "--target", t, "-j", fmt.Sprint(jobs)}})
	}
	fmt.Fprintf(progress, "llama.cpp native build: %s (log %s)\n", dir, logPath)
	for _, st := range steps {
		fmt.Fprintf(progress, "llama.cpp native build: %s\n", st.what)
		if err := runLogged(st.args, logf, progress); err != nil {
			return nil, fmt.Errorf("native llama.cpp build: %s: %w\n%s\n(full log: %s)", st.what, err, logTail(logPath, 30), logPath)
		}
	}
	for _, t := range lack {
		if err := atomicfile.Copy(filepath.Join(build, "bin", t), filepath.Join(dir, t), 0o755); err != nil {
			return nil, fmt.Errorf("native llama.cpp build: install %s: %w", t, err)
		}
	}
	ccVersion, _ := exec.Command(cxx, "--version").Output()
	newInfo := LlamaBuildInfo{
		Commit: commit, CMakeFlags: LlamaCMakeFlags, CPU: cpu, CPUFlags: cpuFlags,
		Compiler: strings.TrimSpace(strings.SplitN(string(ccVersion), "\n", 2)[0]),
		BuiltAt:  time.Now().UTC().Format(time.RFC3339), Seconds: time.Since(start).Seconds(),
	}
	data, _ := json.MarshalIndent(newInfo, "", "  ")
	if err := atomicfile.WriteFile(infoPath, append(data, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("native llama.cpp build: %w", err)
	}
	fmt.Fprintf(progress, "llama.cpp native build: done in %.0f s: %s %s\n", newInfo.Seconds, dir, strings.Join(lack, " "))
	return &LlamaBuild{Dir: dir, Info: newInfo}, nil
}

// buildStep matches the progress lines of cmake's generated Makefiles ("[ 42%] Building CXX object ...").
var buildStep = regexp.MustCompile(`^\[\s*\d+%\]`)

// runLogged runs args, copying all output to log and the progress lines
// (cmake's "[ NN%] ..." and any line mentioning an error) to progress.
func runLogged(args []string, log, progress io.Writer) error {
	cmd := exec.Command(args[0], args[1:]...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			fmt.Fprintln(log, line)
			if buildStep.MatchString(line) || strings.Contains(strings.ToLower(line), "error") {
				fmt.Fprintf(progress, "  %s\n", line)
			}
			mu.Unlock()
		}
		io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	if err != nil {
		return fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// logTail is the last n lines of the file at path.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// exitDetail adds a command's stderr to its error.
func exitDetail(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(bytes.TrimSpace(ee.Stderr)) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	return err
}
