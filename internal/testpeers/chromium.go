package testpeers

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Chromium returns the path of Debian's chromium, the headless browser that
// renders HTML reports in tests the way a person would see them.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missing(t, "chromium (Debian package chromium)")
	return ""
}

// RunChromium runs headless chromium on url with a window of width×height
// pixels and the extra args (e.g. "--dump-dom", "--screenshot=FILE"), with
// a fresh profile and two seconds of virtual time for the page's load
// handlers, and returns its stdout. A failure fails the test with stderr.
func RunChromium(t testing.TB, url string, width, height int, args ...string) []byte {
	t.Helper()
	bin := Chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=2000",
		"--window-size=" + strconv.Itoa(width) + "," + strconv.Itoa(height)}, args...)
	cmd := exec.CommandContext(ctx, bin, append(all, url)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\nstderr:\n%s", args, err, tail(errb.String(), 4000))
	}
	return out.Bytes()
}
