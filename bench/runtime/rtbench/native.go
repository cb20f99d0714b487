package rtbench

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
	"time"

	"github.com/distill-ml/distill/internal/atomicfile"
)

// CMakeFlags configure the native llama.cpp build: optimized for this CPU,
// static (one self-contained binary to cache), nothing but the tools.
var CMakeFlags = []string{
	"-DCMAKE_BUILD_TYPE=Release",
	"-DGGML_NATIVE=ON",
	"-DBUILD_SHARED_LIBS=OFF",
	"-DLLAMA_BUILD_TESTS=OFF",
	"-DLLAMA_BUILD_EXAMPLES=OFF",
	"-DLLAMA_BUILD_SERVER=OFF",
	"-DLLAMA_BUILD_APP=OFF",
	"-DLLAMA_OPENSSL=OFF",
}

// BuildOptions say where the llama.cpp source is and where to cache the build.
type BuildOptions struct {
	// Bundle is node-llama-cpp's llama/gitRelease.bundle (a git bundle of
	// the llama.cpp source it ships).
	Bundle string
	// CacheDir holds one directory per commit (normally .testdeps/llama-native).
	CacheDir string
	// Jobs is the build parallelism (0: all CPUs).
	Jobs int
	// Progress receives one line per build step (nil: discarded).
	Progress io.Writer
}

// BuildInfo describes a cached native build (build-info.json next to the binary).
type BuildInfo struct {
	Commit     string   `json:"commit"`
	CMakeFlags []string `json:"cmake_flags"`
	CPU        string   `json:"cpu"`       // model name from /proc/cpuinfo
	CPUFlags   string   `json:"cpu_flags"` // sha256 of the CPU's feature flags: a native build is only valid on the same features
	Compiler   string   `json:"compiler"`
	BuiltAt    string   `json:"built_at"`
	Seconds    float64  `json:"build_seconds"`
}

// NativeBuild is a usable llama-bench binary.
type NativeBuild struct {
	Bin  string
	Info BuildInfo
}

// BundleCommit is the commit the bundle's HEAD points at.
func BundleCommit(bundle string) (string, error) {
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

// EnsureLlamaBench returns a natively built llama-bench for the bundle's
// commit, building it first (clone the bundle into a temporary directory,
// cmake with CMakeFlags, build only the llama-bench target) unless a build
// for the same commit, flags and CPU is cached in CacheDir/<commit>/. Only the
// binary, build-info.json and build.log are kept; the source is removed.
func EnsureLlamaBench(o BuildOptions) (*NativeBuild, error) {
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	commit, err := BundleCommit(o.Bundle)
	if err != nil {
		return nil, err
	}
	cpu, cpuFlags := cpuIdentity()
	dir := filepath.Join(o.CacheDir, commit[:7])
	bin := filepath.Join(dir, "llama-bench")
	infoPath := filepath.Join(dir, "build-info.json")
	cached := func() *NativeBuild {
		data, err := os.ReadFile(infoPath)
		if err != nil {
			return nil
		}
		var info BuildInfo
		if json.Unmarshal(data, &info) != nil || info.Commit != commit || info.CPUFlags != cpuFlags ||
			strings.Join(info.CMakeFlags, " ") != strings.Join(CMakeFlags, " ") {
			return nil
		}
		if _, err := os.Stat(bin); err != nil {
			return nil
		}
		return &NativeBuild{Bin: bin, Info: info}
	}
	if nb := cached(); nb != nil {
		return nb, nil
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
	// One build at a time per commit: a second process waits, then finds the cache.
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
	if nb := cached(); nb != nil {
		return nb, nil
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
	logf, err := os.Create(logPath)
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
		{"configure (cmake " + strings.Join(CMakeFlags, " ") + ")", append([]string{cmake, "-S", src, "-B", build}, CMakeFlags...)},
		{fmt.Sprintf("build target llama-bench with %d jobs", jobs), []string{cmake, "--build", build, "--target", "llama-bench", "-j", fmt.Sprint(jobs)}},
	}
	fmt.Fprintf(progress, "llama.cpp native build: %s (log %s)\n", dir, logPath)
	for _, st := range steps {
		fmt.Fprintf(progress, "llama.cpp native build: %s\n", st.what)
		if err := runLogged(st.args, logf, progress); err != nil {
			return nil, fmt.Errorf("native llama.cpp build: %s: %w\n%s\n(full log: %s)", st.what, err, logTail(logPath, 30), logPath)
		}
	}
	built := filepath.Join(build, "bin", "llama-bench")
	if err := atomicfile.Copy(built, bin, 0o755); err != nil {
		return nil, fmt.Errorf("native llama.cpp build: install %s: %w", bin, err)
	}
	ccVersion, _ := exec.Command(cxx, "--version").Output()
	info := BuildInfo{
		Commit: commit, CMakeFlags: CMakeFlags, CPU: cpu, CPUFlags: cpuFlags,
		Compiler: strings.TrimSpace(strings.SplitN(string(ccVersion), "\n", 2)[0]),
		BuiltAt:  time.Now().UTC().Format(time.RFC3339), Seconds: time.Since(start).Seconds(),
	}
	data, _ := json.MarshalIndent(info, "", "  ")
	if err := atomicfile.WriteFile(infoPath, append(data, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("native llama.cpp build: %w", err)
	}
	fmt.Fprintf(progress, "llama.cpp native build: done in %.0f s: %s\n", info.Seconds, bin)
	return &NativeBuild{Bin: bin, Info: info}, nil
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
