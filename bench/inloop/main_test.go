package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/distill-ml/distill/bench/internal/benchrun"
	"github.com/distill-ml/distill/distill/gate"
	"github.com/distill-ml/distill/distill/train"
	numstats "github.com/distill-ml/distill/num/stats"
)

// The config a quickstart student resolved (config.json, as distill train
// writes it) comes back through the trainer's strict loader unchanged, with
// every mode's overrides.
func TestModeConfigsLoadInTheTrainer(t *testing.T) {
	dir := t.TempDir()
	want, err := train.Load("train-kd", "model=tiny", "data.train=/d/kd-train", "data.validation=/d/kd-val", "train.steps=200", "out_dir=/d/student-kd")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(struct {
		Config train.Config `json:"config"`
	}{want}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	resolved := filepath.Join(dir, "config.json")
	if err := os.WriteFile(resolved, b, 0o644); err != nil {
		t.Fatal(err)
	}
	path, steps, err := writeConfig(resolved, filepath.Join(dir, "kd.config.json"))
	if err != nil || steps != 200 {
		t.Fatalf("writeConfig = %d, %v; want 200 steps", steps, err)
	}
	for _, m := range modes {
		var sets []string
		for _, s := range m.Sets {
			sets = append(sets, strings.ReplaceAll(s, "{teacher}", "/d/teacher-f32.gguf"))
		}
		got, err := train.Load(path, append(sets, "out_dir=/d/x")...)
		if err == nil {
			err = got.Validate()
		}
		if err != nil {
			t.Fatalf("mode %s: %v", m.Name, err)
		}
		if m.Name == "kd" {
			w := want
			w.OutDir = "/d/x"
			if !reflect.DeepEqual(got, w) {
				t.Fatalf("kd config changed on the way:\n got %+v\nwant %+v", got, w)
			}
		}
		if strings.HasPrefix(m.Name, "onpolicy") && (got.Teacher.Local.Model == "" || got.Train.OnPolicy.Lambda == 0) {
			t.Fatalf("mode %s: teacher %q, lambda %v", m.Name, got.Teacher.Local.Model, got.Train.OnPolicy.Lambda)
		}
	}
	if err := os.WriteFile(resolved, []byte(`{"config": {"train": {"steps": 0}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := writeConfig(resolved, filepath.Join(dir, "bad.json")); err == nil || !strings.Contains(err.Error(), "train.steps") {
		t.Fatalf("a config without steps: err %v, want one naming train.steps", err)
	}
}

func TestParseSteps(t *testing.T) {
	got, err := parseSteps("online=150,onpolicy-1=40")
	if err != nil || got["online"] != 150 || got["onpolicy-1"] != 40 || len(got) != 2 {
		t.Fatalf("parseSteps = %v, %v", got, err)
	}
	for _, bad := range []string{"online", "online=0", "online=x", "dense=3"} {
		if _, err := parseSteps(bad); err == nil {
			t.Errorf("parseSteps(%q) accepted", bad)
		}
	}
}

func TestReadUpdateSecondsNamesTheLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "metrics.jsonl")
	os.WriteFile(p, []byte(`{"kind":"eval","step":0}
{"kind":"train","step":1,"step_s":0.5,"cpu_s":0.9}
{"kind":"train","step":2,"step_s":0.25,"cpu_s":0.4}
`), 0o644)
	wall, cpu, err := readUpdateSeconds(p)
	if err != nil || !reflect.DeepEqual(wall, []float64{0.5, 0.25}) || !reflect.DeepEqual(cpu, []float64{0.9, 0.4}) {
		t.Fatalf("readUpdateSeconds = %v, %v, %v", wall, cpu, err)
	}
	os.WriteFile(p, []byte(`{"kind":"train","step_s":1,"cpu_s":1}
{"kind":"train","step_s":1}
`), 0o644)
	if _, _, err := readUpdateSeconds(p); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("a train record without cpu_s: %v, want an error naming line 2", err)
	}
}

func TestReportSummarisesAcrossSeeds(t *testing.T) {
	iv := func(x float64) gate.Comparison {
		return gate.Comparison{Partial: numstats.Interval{Estimate: x, Lo: x - 0.01, Hi: x + 0.01}}
	}
	var runs []seedRun
	for s, d := range []float64{0.01, 0.02, 0.03} {
		sr := seedRun{Seed: int64(s + 1), Teacher: result{Mode: "teacher", Exact: 0.2}}
		for _, m := range modes {
			r := result{Mode: m.Name, Steps: 200, Partial: 0.3 + d}
			if m.Name != "kd" {
				c := iv(d)
				r.VsKD = &c
			}
			sr.Modes = append(sr.Modes, r)
		}
		runs = append(runs, sr)
	}
	var b strings.Builder
	report(&b, runs)
	out := b.String()
	// Differences 0.01, 0.02, 0.03: mean 0.02, sd 0.01, t(0.975, 2)·0.01/√3 = 0.0248.
	half := 4.302653 * 0.01 / math.Sqrt(3)
	want := "0.020 ± 0.010 [" + benchrun.Num(0.02-half, 3) + ", " + benchrun.Num(0.02+half, 3) + "]"
	if !strings.Contains(out, "| online |") || !strings.Contains(out, want) {
		t.Fatalf("summary lacks %q:\n%s", want, out)
	}
	if !strings.Contains(out, "| kd | 0.000 ± 0.000") {
		t.Fatalf("kd row:\n%s", out)
	}
}
