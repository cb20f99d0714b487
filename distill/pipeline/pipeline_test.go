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
	dir := t.TempDir()
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
	r := &Runner{StateFile: filepath.Join(dir, "state.json")}
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
	dir := t.TempDir()
	out := filepath.Join(dir, "o")
	fail := true
	st := []Stage{{Name: "s", Outputs: []string{out}, Run: func(context.Context) error {
		if fail {
			os.WriteFile(out, []byte("partial"), 0o644)
			return errors.New("boom")
		}
		return os.WriteFile(out, []byte("ok"), 0o644)
	}}}
	r := &Runner{StateFile: filepath.Join(dir, "state.json")}
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
	dir := t.TempDir()
	r := &Runner{StateFile: filepath.Join(dir, "state.json")}
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
