package pipeline_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/distill/pipeline"
)

// quickstartBuild builds the embedded quickstart's stages with work=/w.
func quickstartBuild(t *testing.T) []pipeline.Stage {
	t.Helper()
	var cfg pipeline.Config
	if err := configs.Load("quickstart", &cfg, "work=/w"); err != nil {
		t.Fatal(err)
	}
	stages, err := cfg.Build(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return stages
}

// quickstartStages builds the embedded quickstart and returns each stage's
// command line (args) by name, with flags and --set keys as a map.
func quickstartStages(t *testing.T) map[string]map[string]string {
	t.Helper()
	stages := quickstartBuild(t)
	out := map[string]map[string]string{}
	for _, s := range stages {
		args := s.Params.([]string)
		m := map[string]string{"cmd": args[0]}
		for i := 1; i+1 < len(args); i++ {
			switch {
			case args[i] == "--set":
				k, v, _ := strings.Cut(args[i+1], "=")
				m[k] = v
				i++
			case strings.HasPrefix(args[i], "--") && strings.HasPrefix(args[i+1], "--"):
				m[args[i]] = "true" // a boolean flag
			case strings.HasPrefix(args[i], "--"):
				m[args[i]] = args[i+1]
				i++
			}
		}
		out[s.Name] = m
	}
	return out
}

// The quickstart's comparison is data-limited and fair: both students train
// on the identical rows — the teacher's signals collected on the seeded
// labelled subset — and the teacher learns from every labelled row after a
// language-model stage on the manuals.
func TestQuickstartStudentsShareTheLabelledSubset(t *testing.T) {
	st := quickstartStages(t)
	kd, ce := st["train-student-kd"], st["train-student-ce"]
	if kd == nil || ce == nil {
		t.Fatal("quickstart lacks train-student-kd or train-student-ce")
	}
	for _, k := range []string{"data.train", "data.validation", "train.steps", "train.seed", "model"} {
		if kd[k] == "" || kd[k] != ce[k] {
			t.Errorf("%s: KD student %q, CE-only student %q; want the same", k, kd[k], ce[k])
		}
	}
	if kd["loss.alpha"] == "0" || ce["--config"] != "train-ce" || kd["--config"] != "train-kd" {
		t.Errorf("KD student %v / CE-only %v: want train-kd and train-ce", kd, ce)
	}
	collect, sub := st["collect-train"], st["labeled-subset"]
	if collect == nil || sub == nil {
		t.Fatal("quickstart lacks collect-train or labeled-subset")
	}
	if kd["data.train"] != collect["out"]+"/dataset" {
		t.Errorf("students train on %s, not the collected %s/dataset", kd["data.train"], collect["out"])
	}
	if collect["prompts"] != sub["--out"] || sub["--in"] != "/w/corpus/train.jsonl" || sub["--fraction"] != "0.1" {
		t.Errorf("collection reads %s; subset %v: want the 0.1 subset of corpus/train.jsonl", collect["prompts"], sub)
	}
	teacher, lm := st["train-teacher"], st["pretrain-teacher"]
	if teacher == nil || lm == nil {
		t.Fatal("quickstart lacks train-teacher or pretrain-teacher")
	}
	if teacher["data.train"] != "/w/text-train" || teacher["init"] != lm["out_dir"]+"/checkpoints" {
		t.Errorf("teacher fine-tune %v: want all labelled rows, initialized from the pretraining run %s", teacher, lm["out_dir"])
	}
	if imp := st["import-manuals"]; lm["data.train"] != imp["--out"] || imp["--in"] != "/w/corpus/manuals_train.txt" {
		t.Errorf("pretraining reads %s; manuals import %v", lm["data.train"], imp)
	}
}

// Every quickstart stage declares, as an output, the whole file or directory
// its command writes (--out, out_dir=, out=), so a changed stage replaces all
// of it: a training run's checkpoints go with its metrics, a collection's
// journal with its dataset (issue 17, item 2).
func TestQuickstartOutputsCoverWhatEachCommandWrites(t *testing.T) {
	stages := quickstartBuild(t)
	flags := quickstartStages(t)
	for _, s := range stages {
		f := flags[s.Name]
		var writes []string
		for _, k := range []string{"--out", "out_dir", "out"} {
			if f[k] != "" {
				writes = append(writes, f[k])
			}
		}
		if f["cmd"] == "quantize" {
			args := s.Params.([]string)
			writes = append(writes, args[len(args)-1])
		}
		if len(writes) == 0 {
			t.Errorf("stage %s: no output location found in %v", s.Name, s.Params)
		}
		for _, w := range writes {
			if !slices.Contains(s.Outputs, w) {
				t.Errorf("stage %s writes %s but declares outputs %v", s.Name, w, s.Outputs)
			}
		}
	}
}

// The teacher's fine-tune trains every labelled row whole: the answer is an
// extraction from the row's excerpt, and concatenated packing (the default
// for text-only data) cuts about half of the rows from their excerpt.
func TestQuickstartTeacherTrainsRowsWhole(t *testing.T) {
	st := quickstartStages(t)
	if got := st["train-teacher"]["data.packing"]; got != "whole" {
		t.Errorf("train-teacher data.packing %q, want whole", got)
	}
}

// The full profile spends its longer budget on the teacher alone: both
// teacher stages get more updates, the students and the gate stay as in the
// default so the two profiles' comparisons mean the same thing.
func TestQuickstartFullProfileLengthensOnlyTheTeacher(t *testing.T) {
	var cfg pipeline.Config
	if err := configs.Load("quickstart", &cfg); err != nil {
		t.Fatal(err)
	}
	sets, err := cfg.ProfileSets("full")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sets {
		if !strings.HasPrefix(s, "params.teacher_") {
			t.Errorf("profile full sets %s; want teacher parameters only", s)
		}
	}
	def := quickstartStages(t)
	var full pipeline.Config
	if err := configs.Load("quickstart", &full, append([]string{"work=/w"}, sets...)...); err != nil {
		t.Fatal(err)
	}
	stages, err := full.Build(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stages {
		args := strings.Join(s.Params.([]string), " ")
		if s.Name == "pretrain-teacher" || s.Name == "train-teacher" {
			if !strings.Contains(args, "train.steps=") || strings.Contains(args, "train.steps="+def[s.Name]["train.steps"]+" ") {
				t.Errorf("%s under profile full keeps the default's %s updates: %s", s.Name, def[s.Name]["train.steps"], args)
			}
		}
	}
}
