package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/distill/gate"
	"github.com/distill-ml/distill/distill/pipeline"
	"github.com/distill-ml/distill/internal/testpeers"
)

// docCommands returns the distill command lines of the ```sh blocks of a
// Markdown file, in order. Lines that are not distill commands (go run,
// scripts/...) are returned in other: CI runs those itself.
func docCommands(t *testing.T, path string) (cmds [][]string, other []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "```sh"):
			in = true
			continue
		case strings.HasPrefix(line, "```"):
			in = false
			continue
		}
		if !in || line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.HasPrefix(line, "distill ") {
			other = append(other, line)
			continue
		}
		args, err := pipeline.SplitArgs(line)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		cmds = append(cmds, args[1:])
	}
	return cmds, other
}

// TestReadmeTourAndShortQuickstart runs a shortened quickstart (the README's
// `distill run quickstart` line), then every other command of the README in
// order, in a scratch directory; then checks the gate's figures for
// consistency and that an impossible bar fails the gate with exit 1.
func TestReadmeTourAndShortQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a shortened quickstart (minutes)")
	}
	readme := filepath.Join(testpeers.RepoRoot(t), "README.md")
	cmds, other := docCommands(t, readme)
	for _, o := range other {
		if o != "go run ./cmd/distill quickstart" && !strings.HasPrefix(o, "scripts/install-test-deps.sh && go test") {
			t.Errorf("README shows a command no test runs: %q", o)
		}
	}
	// The shortened quickstart first: the tour uses its outputs.
	var quick []string
	var rest [][]string
	for _, c := range cmds {
		if len(c) > 1 && c[0] == "run" && c[1] == "quickstart" {
			quick = c
		} else {
			rest = append(rest, c)
		}
	}
	if quick == nil {
		t.Fatal("README has no `distill run quickstart` line")
	}
	t.Chdir(t.TempDir())
	var quickOut string
	for i, c := range append([][]string{quick}, rest...) {
		code, out, errs := runCLI(t, c...)
		if code != 0 {
			t.Fatalf("distill %s: exit %d\nstdout:\n%s\nstderr (tail):\n%s", strings.Join(c, " "), code, tail(out, 3000), tail(errs, 4000))
		}
		if i == 0 {
			quickOut = out
		}
	}

	// The gate's figures are consistent.
	b, err := os.ReadFile("runs/quickstart/gate/gate.json")
	if err != nil {
		t.Fatal(err)
	}
	var rep gate.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	byName := map[string]*gate.Artifact{}
	for _, a := range rep.Artifacts {
		byName[a.Name] = a
	}
	base, q8, ce := byName["student-f32"], byName["student-q8_0"], byName["student-ce-f32"]
	if base == nil || q8 == nil || ce == nil || !base.Baseline || !ce.Reference {
		t.Fatalf("gate.json artifacts: %v", rep.Artifacts)
	}
	bq, qq, cq := base.Quality["policy"], q8.Quality["policy"], ce.Quality["policy"]
	if bq.Items == 0 || bq.Items != cq.Items || bq.Items != qq.Items {
		t.Fatalf("KD (%d), CE-only (%d) and q8_0 (%d) were not evaluated on the same golden items", bq.Items, cq.Items, qq.Items)
	}
	if d := bq.TaskScore - qq.TaskScore; d != q8.Drop["policy"] || d > 0.02 {
		t.Fatalf("q8_0 drop %v (recorded %v) > 0.02", d, q8.Drop["policy"])
	}
	if !rep.Pass || len(rep.Approved) == 0 || rep.Approved[0] != "student-q8_0" {
		t.Fatalf("gate: %s approved %v", rep.Summary, rep.Approved)
	}
	// The teacher is scored on the same items, and KD − CE-only is paired:
	// the McNemar counts agree with the per-item answers.
	teacher := byName["teacher-f32"]
	if teacher == nil || !teacher.Teacher || teacher.Approved || teacher.Quality["policy"].Items != bq.Items {
		t.Fatalf("teacher artifact %+v", teacher)
	}
	if len(rep.Comparisons) != 1 || rep.Comparisons[0].A != "student-f32" || rep.Comparisons[0].B != "student-ce-f32" || rep.Comparisons[0].Items != bq.Items {
		t.Fatalf("comparisons %+v", rep.Comparisons)
	}
	aOnly, bOnly := 0, 0
	for i, x := range bq.Answers {
		y := cq.Answers[i]
		if x.Correct && !y.Correct {
			aOnly++
		}
		if y.Correct && !x.Correct {
			bOnly++
		}
	}
	if m := rep.Comparisons[0].McNemar; m.AOnly != aOnly || m.BOnly != bOnly {
		t.Fatalf("McNemar %+v, per-item answers give %d vs %d", m, aOnly, bOnly)
	}
	ti, si := strings.Index(quickOut, "teacher (teacher-f32): answers"), strings.Index(quickOut, "distilled student (student-f32): answers")
	if ti < 0 || si < ti || !strings.Contains(quickOut, "KD − CE-only, paired over") {
		t.Fatalf("quickstart summary lacks the teacher's line first or the paired comparison:\n%s", tail(quickOut, 2000))
	}

	// An impossible bar fails the gate: exit 1, one error line.
	code, _, errs := runCLI(t, "gate", "--config", "gate", "--baseline", "runs/quickstart/artifacts/student-f32.gguf",
		"--candidates", "runs/quickstart/artifacts/student-q8_0.gguf", "--out", "runs/impossible",
		"--set", "routes.policy.golden=runs/quickstart/corpus/golden.jsonl", "--set", "max_items=2", "--set", "sustained.seconds=1", "--set", "sustained.interval_seconds=1",
		"--set", "routes.policy.thresholds.max_p95_ttft_ms=0", "--set", "routes.policy.thresholds.max_p95_token_ms=0",
		"--set", "routes.policy.thresholds.min_sustained_tps=0", "--set", "routes.policy.thresholds.max_file_mb=0.0001")
	if code != 1 || !strings.Contains(errs, "gate failed") {
		t.Fatalf("impossible gate: exit %d, stderr %q", code, tail(errs, 500))
	}
	if _, err := os.Stat("runs/impossible/gate.json"); err != nil {
		t.Fatalf("a failed gate still writes its report: %v", err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// TestDocsCommandsParse checks that every distill command shown in docs/
// names a real command with valid flags, even those only CI runs in full.
func TestDocsCommandsParse(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testpeers.RepoRoot(t), "docs", "*.md"))
	files = append(files, filepath.Join(testpeers.RepoRoot(t), "README.md"))
	for _, f := range files {
		cmds, _ := docCommands(t, f)
		for _, c := range cmds {
			root := newRootCmd(&app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}})
			cmd, rest, err := root.Find(c)
			if err != nil || cmd == root {
				t.Errorf("%s: %q is not a distill command: %v", filepath.Base(f), strings.Join(c, " "), err)
				continue
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("%s: distill %s: %v", filepath.Base(f), strings.Join(c, " "), err)
			}
		}
	}
}
