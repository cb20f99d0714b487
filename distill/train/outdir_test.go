package train

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// A rerun without Resume used to restart from step 0 in the same out_dir,
// truncating metrics.jsonl and leaving the old run's checkpoints beside the
// new run's. Now a non-empty out_dir is refused unless Resume or Overwrite
// is set; Overwrite removes the old run's outputs first.
func TestRunRefusesNonEmptyOutDir(t *testing.T) {
	out := t.TempDir()
	first, _ := testSetup(testConfig(out, 20), 1)
	first.StopAfter = 10
	if _, err := Run(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	metrics, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	ckpts := listDir(t, filepath.Join(out, "checkpoints"))
	if len(ckpts) == 0 {
		t.Fatal("the first run wrote no checkpoint")
	}

	// Rerun (a 3-update run: its checkpoints would be step-00000003 only).
	again, _ := testSetup(testConfig(out, 3), 2)
	again.Config.Train.CheckpointEvery = 3
	_, err = Run(context.Background(), again)
	if err == nil || !strings.Contains(err.Error(), out) || !strings.Contains(err.Error(), "--resume") || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("rerun into %s: error %v, want a refusal naming the directory, --resume and --overwrite", out, err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "metrics.jsonl")); string(b) != string(metrics) {
		t.Fatal("the refused rerun changed metrics.jsonl")
	}
	if got := listDir(t, filepath.Join(out, "checkpoints")); strings.Join(got, ",") != strings.Join(ckpts, ",") {
		t.Fatalf("the refused rerun changed the checkpoints: %v, was %v", got, ckpts)
	}

	// Overwrite never deletes the checkpoint the run starts from.
	fromInside, _ := testSetup(testConfig(out, 3), 2)
	fromInside.Config.Init = filepath.Join(out, "checkpoints", ckpts[0])
	fromInside.Overwrite = true
	if _, err := Run(context.Background(), fromInside); err == nil || !strings.Contains(err.Error(), "init") {
		t.Fatalf("--overwrite with init inside out_dir: error %v", err)
	}
	if got := listDir(t, filepath.Join(out, "checkpoints")); strings.Join(got, ",") != strings.Join(ckpts, ",") {
		t.Fatalf("the refused overwrite changed the checkpoints: %v, was %v", got, ckpts)
	}

	// Overwrite: the old run's outputs are gone, only the new run's remain.
	again.Overwrite = true
	if _, err := Run(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, filepath.Join(out, "checkpoints")); strings.Join(got, ",") != "step-00000003" {
		t.Fatalf("after --overwrite the checkpoints are %v, want only step-00000003", got)
	}
	b, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"step":10,`) {
		t.Fatal("metrics.jsonl still holds the old run's step 10")
	}

	// Resume continues the (new) run in place.
	resumed, _ := testSetup(testConfig(out, 6), 3)
	resumed.Config.Train.CheckpointEvery = 3
	resumed.Resume = filepath.Join(out, "checkpoints")
	if _, err := Run(context.Background(), resumed); err != nil {
		t.Fatalf("resume into the same out_dir: %v", err)
	}

	// Both at once is a contradiction.
	both, _ := testSetup(testConfig(out, 6), 3)
	both.Resume, both.Overwrite = filepath.Join(out, "checkpoints"), true
	if _, err := Run(context.Background(), both); err == nil {
		t.Fatal("Resume and Overwrite together were accepted")
	}
}
