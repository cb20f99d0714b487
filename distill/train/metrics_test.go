package train

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// metricsSteps parses metrics.jsonl and returns the steps of its train rows.
func metricsSteps(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end with a whole line: %q", path, b[max(0, len(b)-40):])
	}
	var steps []int
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		var r struct {
			Kind string `json:"kind"`
			Step int    `json:"step"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s line %d %q: %v", path, i+1, line, err)
		}
		if r.Kind == "train" {
			steps = append(steps, r.Step)
		}
	}
	return steps
}

// TestMetricsRowsReachTheFileWhole: a row is in the file as soon as it is
// logged, without a flush (before, rows sat in a 4 KB buffer that a SIGKILL
// loses, or wrote half a line).
func TestMetricsRowsReachTheFileWhole(t *testing.T) {
	dir := t.TempDir()
	m, err := openMetrics(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	for step := 1; step <= 3; step++ {
		m.train(trainRecord{Kind: "train", Step: step, Loss: 1})
	}
	m.skip(4, "loss (NaN)")
	if got := metricsSteps(t, m.path); fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("train rows on disk before any flush: %v", got)
	}
	if m.err != nil {
		t.Fatal(m.err)
	}
}

// TestResumeAfterTornMetricsLine: a run killed mid-line leaves half a row
// at the end of metrics.jsonl, and rows beyond the checkpoint it resumes
// from. `train --resume` used to stop with "unexpected end of JSON input";
// now the torn tail is cut, rows after the checkpoint are dropped (they are
// recomputed), and the file ends with one row per update 1..2N.
func TestResumeAfterTornMetricsLine(t *testing.T) {
	const n = 10
	cfg := testConfig(t.TempDir(), 2*n)
	first, _ := testSetup(cfg, 1)
	first.StopAfter = n
	res, err := Run(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	// What a SIGKILL during update n+3 leaves: rows n+1, n+2 and half of n+3.
	f, err := os.OpenFile(res.MetricsPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for step := n + 1; step <= n+2; step++ {
		fmt.Fprintf(f, `{"kind":"train","step":%d,"loss":9}`+"\n", step)
	}
	f.WriteString(`{"kind":"train","step":13,"lo`)
	f.Close()

	second, _ := testSetup(cfg, 1)
	second.Resume = filepath.Join(cfg.OutDir, "checkpoints")
	res2, err := Run(context.Background(), second)
	if err != nil {
		t.Fatalf("resume after a torn metrics line: %v", err)
	}
	steps := metricsSteps(t, res2.MetricsPath)
	want := make([]int, 2*n)
	for i := range want {
		want[i] = i + 1
	}
	if fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Fatalf("train rows after resume: %v, want %v", steps, want)
	}
}

// TestTornLineInTheMiddleIsAnError: only the last line can be torn by a
// kill; a broken line before it is reported with its line number.
func TestTornLineInTheMiddleIsAnError(t *testing.T) {
	dir := t.TempDir()
	body := `{"kind":"train","step":1,"loss":1}` + "\n" + `{"kind":"tra` + "\n" + `{"kind":"train","step":2,"loss":1}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := openMetrics(dir, 2)
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("broken middle line: %v", err)
	}
}

// TestTrainRowsRecordCPUSeconds: every train row carries the process CPU
// time its update took (cpu_s), read from Setup.CPUTime, so compute budgets
// can be compared on a machine whose load changes the wall clock.
func TestTrainRowsRecordCPUSeconds(t *testing.T) {
	s, _ := testSetup(testConfig(t.TempDir(), 4), 1)
	var cpu time.Duration
	s.CPUTime = func() time.Duration { cpu += 250 * time.Millisecond; return cpu } // each read 0.25 s later
	res, err := Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	rows := trainRows(t, res.MetricsPath)
	if len(rows) != 4 {
		t.Fatalf("%d train rows, want 4", len(rows))
	}
	for i, r := range rows {
		if r["cpu_s"] != 0.25 {
			t.Fatalf("row %d: cpu_s %v, want 0.25 (one read before and one after the update)", i+1, r["cpu_s"])
		}
	}
}
