package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/distill-ml/distill/internal/testmodel"
)

func TestServeExposureWarning(t *testing.T) {
	for _, c := range []struct {
		ip    string
		keyed bool
		warn  bool
	}{
		{"127.0.0.1", false, false},
		{"::1", false, false},
		{"0.0.0.0", false, true},
		{"::", false, true},
		{"192.168.1.5", false, true},
		{"0.0.0.0", true, false},
	} {
		w := exposureWarning(&net.TCPAddr{IP: net.ParseIP(c.ip), Port: 8080}, c.keyed)
		if (w != "") != c.warn || c.warn && !strings.Contains(w, apiKeyEnv) {
			t.Errorf("%s keyed=%v: warning %q", c.ip, c.keyed, w)
		}
	}
}

func TestServeFlagErrors(t *testing.T) {
	gguf := testmodel.GGUF(t, testmodel.Tokenizer(t), "serve.gguf", 1)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-queue", "0"}, "--max-queue"},
		{[]string{"--request-timeout", "0s"}, "--request-timeout"},
		{[]string{"--read-timeout", "-1s"}, "--read-timeout"},
		{[]string{"--max-body-bytes", "0"}, "--max-body-bytes"},
		{[]string{"--api-key", "has space"}, "API key"},
	} {
		code, _, stderr := runCLI(t, append([]string{"serve", "--model", gguf, "--addr", "127.0.0.1:0"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "has space") {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, stderr)
		}
	}
}

// TestServeAPIKeyFromEnv runs the real binary with $DISTILL_API_KEY: the API
// needs the key, /health does not, limits answer 400, and the key appears in
// neither stdout nor stderr.
func TestServeAPIKeyFromEnv(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary: not in -short")
	}
	const key = "sk-serve-test-7f3a9c"
	dir := t.TempDir()
	bin := e2eBinary(t, dir)
	gguf := testmodel.GGUF(t, testmodel.Tokenizer(t), "serve.gguf", 1)
	cmd := exec.Command(bin, "serve", "--model", gguf, "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), apiKeyEnv+"="+key)
	var stdout, stderr bytes.Buffer
	pr, pw := io.Pipe()
	cmd.Stdout = io.MultiWriter(&stdout, pw)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			pw.Close()
		}
	}
	defer stop()
	sc := bufio.NewScanner(pr)
	re := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)/v1`)
	base := ""
	for base == "" && sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("no address printed; stderr %s", stderr.String())
	}
	go io.Copy(io.Discard, pr)
	do := func(method, path, auth, body string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		method, path, auth, body string
		want                     int
	}{
		{"GET", "/health", "", "", 200},
		{"GET", "/v1/models", "", "", 401},
		{"GET", "/v1/models", "Bearer wrong", "", 401},
		{"GET", "/v1/models", "Bearer " + key, "", 200},
		{"POST", "/v1/completions", "Bearer " + key, `{"prompt":"Replace","max_tokens":2}`, 200},
		{"POST", "/v1/completions", "Bearer " + key, `{"prompt":"Replace","stop":["a","b","c","d","e"]}`, 400},
	} {
		if got := do(c.method, c.path, c.auth, c.body); got != c.want {
			t.Errorf("%s %s (auth %v): status %d, want %d", c.method, c.path, c.auth != "", got, c.want)
		}
	}
	stop()
	out := stdout.String() + stderr.String()
	if strings.Contains(out, key) {
		t.Fatalf("the key was printed: %s", out)
	}
	if !strings.Contains(stdout.String(), "bearer API key required") || strings.Contains(stderr.String(), "warning") {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}
