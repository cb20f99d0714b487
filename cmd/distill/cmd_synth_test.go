package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/synth"
)

// runSynth executes `data synth` with args. It runs the command directly so
// the test does not depend on where `data` is registered; exit-code mapping
// is checked through the returned error's type.
func runSynth(t *testing.T, args ...string) (error, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	c := newDataSynthCmd(&app{stdout: &out, stderr: &errb})
	c.SetArgs(args)
	c.SetOut(&out)
	c.SetErr(&errb)
	c.SilenceUsage, c.SilenceErrors = true, true
	return c.Execute(), out.String(), errb.String()
}

func TestDataSynthWritesVerifiableCorpus(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "corpus")
	err, stdout, stderr := runSynth(t, "--out", dir, "--seed", "7", "--scale", "0.02", "--golden", "50")
	if err != nil {
		t.Fatalf("synth: %v (stderr %q)", err, stderr)
	}
	if !strings.Contains(stdout, synth.GoldenVersion) || !strings.Contains(stdout, "train.jsonl") {
		t.Errorf("summary: %q", stdout)
	}
	if !strings.Contains(stderr, "manuals") {
		t.Errorf("no progress lines on stderr: %q", stderr)
	}
	m, err := synth.Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Seed != 7 || m.Config.Scale != 0.02 || m.Counts.GoldenItems != 50 {
		t.Errorf("manifest config %+v counts %+v", m.Config, m.Counts)
	}
	items, err := synth.ReadGolden(filepath.Join(dir, synth.GoldenFile))
	if err != nil || len(items) != 50 {
		t.Fatalf("golden: %d items, %v", len(items), err)
	}
	// Same flags again, into another directory: byte-identical files.
	dir2 := filepath.Join(t.TempDir(), "corpus")
	if err, _, _ := runSynth(t, "--out", dir2, "--seed", "7", "--scale", "0.02", "--golden", "50", "--quiet"); err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		a, _ := os.ReadFile(filepath.Join(dir, f.Name))
		b, _ := os.ReadFile(filepath.Join(dir2, f.Name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs", f.Name)
		}
	}
}

func TestDataSynthConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "synth.yaml")
	os.WriteFile(cfgPath, []byte("seed: 11\nscale: 0.01\ngolden_items: 20\nexcerpt_max: 3\n"), 0o644)
	out := filepath.Join(dir, "out")
	// --golden and --abstain-rate on the command line override the file; the rest comes from it.
	if err, _, stderr := runSynth(t, "--config", cfgPath, "--golden", "30", "--abstain-rate", "0.3", "--out", out, "--quiet"); err != nil {
		t.Fatalf("%v %s", err, stderr)
	}
	m, err := synth.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if c := m.Config; c.Seed != 11 || c.Scale != 0.01 || c.GoldenItems != 30 || c.AbstainRate != 0.3 || c.ExcerptMax != 3 || c.ExcerptMin != 2 {
		t.Errorf("config %+v", c)
	}
	// Unknown keys are usage errors that name the file and line.
	os.WriteFile(cfgPath, []byte("seed: 1\nsacle: 2\n"), 0o644)
	err, _, _ = runSynth(t, "--config", cfgPath, "--out", out)
	var ue usageError
	if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), "sacle") || !strings.Contains(err.Error(), "2") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestDataSynthUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},                                     // --out missing
		{"--out", t.TempDir(), "--scale", "0"}, // invalid scale
		{"--out", t.TempDir(), "--excerpt-min", "5", "--excerpt-max", "2"},
		{"--out", t.TempDir(), "extra-arg"},
	} {
		err, _, _ := runSynth(t, args...)
		var ue usageError
		if err == nil || (!errors.As(err, &ue) && !strings.Contains(err.Error(), "unknown command") && !strings.Contains(err.Error(), "accepts")) {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
	// An output path under a regular file is a failure (exit 1), not a usage error.
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, []byte("x"), 0o644)
	err, _, _ := runSynth(t, "--out", filepath.Join(file, "sub"), "--scale", "0.01", "--quiet")
	var ue usageError
	if err == nil || errors.As(err, &ue) {
		t.Errorf("unwritable output: err = %v, want a plain failure", err)
	}
}

func TestDataSynthExitCodes(t *testing.T) {
	if code, _, stderr := runCLI(t, "data", "synth"); code != 2 || !strings.Contains(stderr, "--out") {
		t.Errorf("no --out: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "data", "synth", "--out", t.TempDir(), "--scale", "-1"); code != 2 || !strings.Contains(stderr, "scale") {
		t.Errorf("bad scale: exit %d, stderr %q", code, stderr)
	}
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, []byte("x"), 0o644)
	if code, _, stderr := runCLI(t, "data", "synth", "--out", filepath.Join(file, "sub"), "--scale", "0.01", "--quiet"); code != 1 || !strings.Contains(stderr, file) {
		t.Errorf("unwritable output: exit %d, stderr %q", code, stderr)
	}
	dir := t.TempDir()
	if code, stdout, stderr := runCLI(t, "data", "synth", "--out", dir, "--scale", "0.01", "--golden", "10", "--quiet"); code != 0 || stderr != "" || !strings.Contains(stdout, "golden") {
		t.Errorf("ok run: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
