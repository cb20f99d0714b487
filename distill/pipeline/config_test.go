package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	for in, want := range map[string][]string{
		`train --config a.yaml`:                 {"train", "--config", "a.yaml"},
		`  x  "a b"  'c "d"' e\ f `:             {"x", "a b", `c "d"`, "e f"},
		`gate --set 'routes.policy.golden=x y'`: {"gate", "--set", "routes.policy.golden=x y"},
		`""`:                                    {""},
	} {
		got, err := SplitArgs(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`a "b`, `a 'b`, `a\`} {
		if _, err := SplitArgs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestBuildExpandsAndKeysByCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Work: dir, Params: map[string]string{"steps": "10"}, Stages: []StageConfig{
		{Name: "make", Run: "touch {work}/a --steps {steps}", Outputs: []string{"{work}/a"}},
		{Name: "use", Run: "check {work}/a", Inputs: []string{"{work}/a"}, AllowFail: true},
	}}
	var calls [][]string
	exec := func(_ context.Context, args []string) error {
		calls = append(calls, args)
		if args[0] == "touch" {
			return os.WriteFile(args[1], []byte(args[3]), 0o644)
		}
		return errors.New("check failed")
	}
	var failed []string
	stages, err := cfg.Build(exec, func(s string, err error) { failed = append(failed, s+": "+err.Error()) })
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{StateFile: filepath.Join(dir, "state.json")}
	if _, err := r.Run(context.Background(), stages); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(calls[0], []string{"touch", filepath.Join(dir, "a"), "--steps", "10"}) || len(failed) != 1 {
		t.Fatalf("calls %q failed %q", calls, failed)
	}
	// A changed parameter reruns the stage that uses it.
	cfg.Params["steps"] = "20"
	stages, _ = cfg.Build(exec, nil)
	res, _ := r.Run(context.Background(), stages)
	if res[0].Skipped {
		t.Fatal("stage kept although its command line changed")
	}
}

func TestValidateNamesUnknownPlaceholders(t *testing.T) {
	cfg := Config{Work: "w", Stages: []StageConfig{{Name: "a", Run: "x {nope} {work}"}, {Name: "a", Run: ""}}}
	err := cfg.Validate()
	for _, want := range []string{"{nope}", "duplicate", "empty command"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// A profile is a named set of parameter values: applied under the explicit
// --set overrides, refused when it names a parameter the file lacks or when
// the profile does not exist.
func TestProfileSetsComeBeforeOverrides(t *testing.T) {
	cfg := Config{Work: "w", Params: map[string]string{"steps": "10", "lr": "1"},
		Profiles: map[string]map[string]string{"full": {"steps": "900", "lr": "2"}},
		Stages:   []StageConfig{{Name: "a", Run: "x {steps} {lr}"}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	sets, err := cfg.ProfileSets("full")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"params.lr=2", "params.steps=900"}; !reflect.DeepEqual(sets, want) {
		t.Fatalf("profile sets %q, want %q", sets, want)
	}
	if _, err := cfg.ProfileSets("fast"); err == nil || !strings.Contains(err.Error(), `"fast"`) || !strings.Contains(err.Error(), "full") {
		t.Errorf("unknown profile: %v, want an error naming it and the known ones", err)
	}
	cfg.Profiles["full"]["stepz"] = "1"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "profiles.full.stepz") {
		t.Errorf("profile naming an unknown parameter: %v", err)
	}
}
