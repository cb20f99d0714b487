package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSkipsCurrentStagesAndRerunsChanged(t *testing.T) {
	dir, r := newRunner(t)
	in := filepath.Join(dir, "in.txt")
	mid := filepath.Join(dir, "mid.txt")
	out := filepath.Join(dir, "out.txt")
	os.WriteFile(in, []byte("a"), 0o644)
	runs := map[string]int{}
	stages := func(param int) []Stage {
		return []Stage{
			{Name: "first", Inputs: []string{in}, Params: param, Outputs: []string{mid}, Run: func(context.Context) error {
				runs["first"]++
				b, _ := os.ReadFile(in)
				return os.WriteFile(mid, append(b, 'm'), 0o644)
			}},
			{Name: "second", Inputs: []string{mid}, Outputs: []string{out}, Run: func(context.Context) error {
				runs["second"]++
				b, _ := os.ReadFile(mid)
				return os.WriteFile(out, append(b, 'o'), 0o644)
			}},
		}
	}
	ctx := context.Background()
	if _, err := r.Run(ctx, stages(1)); err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(ctx, stages(1))
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Skipped || !res[1].Skipped || runs["first"] != 1 || runs["second"] != 1 {
		t.Fatalf("second run did not skip: %+v %v", res, runs)
	}
	// Changing a parameter reruns the stage; its output is unchanged, so the next stage stays current.
	if _, err := r.Run(ctx, stages(2)); err != nil {
		t.Fatal(err)
	}
	if runs["first"] != 2 || runs["second"] != 1 {
		t.Fatalf("param change: runs %v", runs)
	}
	// Changing the input reruns both.
	os.WriteFile(in, []byte("b"), 0o644)
	if _, err := r.Run(ctx, stages(2)); err != nil {
		t.Fatal(err)
	}
	if runs["first"] != 3 || runs["second"] != 2 {
		t.Fatalf("input change: runs %v", runs)
	}
	// Tampering with an output reruns the stage that made it.
	os.WriteFile(out, []byte("x"), 0o644)
	if _, err := r.Run(ctx, stages(2)); err != nil {
		t.Fatal(err)
	}
	if runs["first"] != 3 || runs["second"] != 3 {
		t.Fatalf("output tamper: runs %v", runs)
	}
}

func TestFailedStageIsNotRecorded(t *testing.T) {
	dir, r := newRunner(t)
	out := filepath.Join(dir, "o")
	fail := true
	st := []Stage{{Name: "s", Outputs: []string{out}, Run: func(context.Context) error {
		if fail {
			os.WriteFile(out, []byte("partial"), 0o644)
			return errors.New("boom")
		}
		return os.WriteFile(out, []byte("ok"), 0o644)
	}}}
	if _, err := r.Run(context.Background(), st); err == nil || !strings.Contains(err.Error(), "stage s: boom") {
		t.Fatalf("want stage error, got %v", err)
	}
	fail = false
	res, err := r.Run(context.Background(), st)
	if err != nil || res[0].Skipped {
		t.Fatalf("failed stage was treated as current: %+v %v", res, err)
	}
}

func TestMissingOutputIsAnError(t *testing.T) {
	dir, r := newRunner(t)
	_, err := r.Run(context.Background(), []Stage{{Name: "s", Outputs: []string{filepath.Join(dir, "never")}, Run: func(context.Context) error { return nil }}})
	if err == nil || !strings.Contains(err.Error(), "declared output missing") {
		t.Fatalf("got %v", err)
	}
}

func TestHashPathDirectoryIsContentAndNameSensitive(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(a, "x"), []byte("1"), 0o644)
	os.WriteFile(filepath.Join(b, "y"), []byte("1"), 0o644)
	ha, _ := HashPath(a)
	hb, _ := HashPath(b)
	if ha == hb {
		t.Fatal("renamed file hashed equal")
	}
	os.WriteFile(filepath.Join(b, "y"), []byte("2"), 0o644)
	os.Rename(filepath.Join(b, "y"), filepath.Join(b, "x"))
	hb, _ = HashPath(b)
	if ha == hb {
		t.Fatal("changed content hashed equal")
	}
}

// refusingStage writes dir/out.txt inside a fresh directory dir and, like
// `distill data import`, refuses a directory that already holds it.
func refusingStage(dir string, param string, runs *int, fail bool) Stage {
	return Stage{Name: "import", Params: param, Outputs: []string{dir}, Run: func(context.Context) error {
		*runs++
		if _, err := os.Stat(filepath.Join(dir, "out.txt")); err == nil {
			return errors.New("create dataset: already holds out.txt")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "out.txt"), []byte(param), 0o644); err != nil {
			return err
		}
		if fail {
			return errors.New("boom after writing")
		}
		return nil
	}}
}

// A changed stage replaces its outputs: a command that refuses existing
// output (as `data import` does) reruns cleanly with new parameters, and
// going back to the old parameters works too (issue 17, item 2).
func TestChangedStageReplacesItsOutputs(t *testing.T) {
	dir, r := newRunner(t)
	out := filepath.Join(dir, "text-train")
	ctx := context.Background()
	runs := 0
	for i, param := range []string{"scale=0.3", "scale=0.02", "scale=0.02", "scale=0.3"} {
		res, err := r.Run(ctx, []Stage{refusingStage(out, param, &runs, false)})
		if err != nil {
			t.Fatalf("run %d (%s): %v", i, param, err)
		}
		if b, _ := os.ReadFile(filepath.Join(out, "out.txt")); string(b) != param {
			t.Fatalf("run %d: output %q, want %q", i, b, param)
		}
		if want := i == 2; res[0].Skipped != want {
			t.Fatalf("run %d: skipped %v, want %v", i, res[0].Skipped, want)
		}
	}
	if _, err := os.Stat(out + backupSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the replaced outputs were left beside the new ones: %v", err)
	}
	// --force replaces current outputs as well.
	r.Force = true
	if res, err := r.Run(ctx, []Stage{refusingStage(out, "scale=0.3", &runs, false)}); err != nil || res[0].Skipped {
		t.Fatalf("forced run: %+v %v", res, err)
	}
}

// A changed stage that fails leaves the previous outputs and their record as
// they were: rerunning the old parameters skips the stage as current.
func TestFailedReplacementRestoresPreviousOutputs(t *testing.T) {
	dir, r := newRunner(t)
	out := filepath.Join(dir, "text-train")
	ctx := context.Background()
	runs := 0
	if _, err := r.Run(ctx, []Stage{refusingStage(out, "old", &runs, false)}); err != nil {
		t.Fatal(err)
	}
	_, err := r.Run(ctx, []Stage{refusingStage(out, "new", &runs, true)})
	if err == nil || !strings.Contains(err.Error(), "boom after writing") || !strings.Contains(err.Error(), "previous outputs restored") {
		t.Fatalf("failed replacement: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "out.txt")); string(b) != "old" {
		t.Fatalf("after a failed replacement the output holds %q, want the previous %q", b, "old")
	}
	res, err := r.Run(ctx, []Stage{refusingStage(out, "old", &runs, false)})
	if err != nil || !res[0].Skipped || runs != 2 {
		t.Fatalf("old parameters after a failed replacement: %+v %v (runs %d)", res, err, runs)
	}
}

// A stage with nothing to replace keeps the partial work of a failed attempt,
// and a rerun of the same attempt runs in place, so commands that resume
// their own work (collect's journal) do so.
func TestInterruptedAttemptResumesInPlace(t *testing.T) {
	dir, r := newRunner(t)
	out := filepath.Join(dir, "kd")
	journal := filepath.Join(out, "journal")
	ctx := context.Background()
	attempt := 0
	stage := Stage{Name: "collect", Params: "p", Outputs: []string{out}, Run: func(context.Context) error {
		attempt++
		os.MkdirAll(out, 0o755)
		f, err := os.OpenFile(journal, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		f.WriteString("x")
		if attempt == 1 {
			return errors.New("interrupted")
		}
		return nil
	}}
	if _, err := r.Run(ctx, []Stage{stage}); err == nil {
		t.Fatal("first attempt should fail")
	}
	if _, err := r.Run(ctx, []Stage{stage}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(journal); string(b) != "xx" {
		t.Fatalf("journal %q: the second attempt did not resume the first one's work", b)
	}
}

// An output that holds the state file would be moved aside with it.
func TestOutputHoldingTheStateFileIsRefused(t *testing.T) {
	dir, r := newRunner(t)
	_, err := r.Run(context.Background(), []Stage{{Name: "s", Outputs: []string{dir}, Run: func(context.Context) error { return nil }}})
	if err == nil || !strings.Contains(err.Error(), "holds the pipeline state") {
		t.Fatalf("got %v", err)
	}
}

// newRunner is a runner whose state file lies in dir, a new temporary
// directory.
func newRunner(t *testing.T) (dir string, r *Runner) {
	dir = t.TempDir()
	return dir, &Runner{StateFile: filepath.Join(dir, "state.json")}
}
