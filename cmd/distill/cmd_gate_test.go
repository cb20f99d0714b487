package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/synth"
	"github.com/distill-ml/distill/distill/gate"
)

// TestGoldenItemsGradeWithPartialCredit: the gate's items grade through
// synth.Score and carry its partial credit; expected grades are by hand.
func TestGoldenItemsGradeWithPartialCredit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "golden.jsonl")
	lines := `{"id":"a","version":"` + synth.GoldenVersion + `","kind":"answer","prompt":"p","expected":"Open a Tier 2 ticket within 4 hours [§7.1].","key_facts":["Tier 2","4 hours"],"citation":"§7.1","abstain":false}
{"id":"b","version":"` + synth.GoldenVersion + `","kind":"abstain","prompt":"p","expected":"Not covered by the policy.","key_facts":[],"citation":"","abstain":true}
`
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	items, err := goldenItems(path)
	if err != nil || len(items) != 2 {
		t.Fatalf("%v %v", items, err)
	}
	for _, c := range []struct {
		item   int
		output string
		want   gate.Grade
	}{
		{0, " Tier 2 within 24 hours [§7.1].", gate.Grade{Reason: "wrong_fact", Partial: 0.75, Answerable: true, FactFraction: 0.5, CitationCorrect: true, AbstentionCorrect: true}},
		{0, " Open a Tier 2 ticket within 4 hours [§7.1].", gate.Grade{Correct: true, Partial: 1, Answerable: true, FactFraction: 1, CitationCorrect: true, AbstentionCorrect: true}},
		{1, " Not covered by the policy [§2.1].", gate.Grade{Reason: "abstain_with_citation", Partial: 0.5, FactFraction: 1, AbstentionCorrect: true}},
		{1, " Not covered by the policy.", gate.Grade{Correct: true, Partial: 1, FactFraction: 1, CitationCorrect: true, AbstentionCorrect: true}},
	} {
		if got := items[c.item].Score(c.output); got != c.want {
			t.Errorf("item %d output %q: grade %+v, want %+v", c.item, c.output, got, c.want)
		}
	}
}

// A release written by `distill gate` records no llama.cpp build: the gate
// never runs llama.cpp, so the manifest must not claim one was checked
// (issue 17, item 9); and its id names the artifact once (item 11).
func TestGateReleaseClaimsNoUncheckedLlamaCpp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a gate with 1 s of sustained decode per artifact")
	}
	dir := t.TempDir()
	model := tinyGGUF(t)
	cand := filepath.Join(dir, "student-q8_0.gguf")
	b, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cand, b, 0o644)
	golden := filepath.Join(dir, "golden.jsonl")
	os.WriteFile(golden, []byte(`{"id":"a","version":"`+synth.GoldenVersion+`","kind":"abstain","prompt":"the cat","expected":"Not covered by the policy.","key_facts":[],"citation":"","abstain":true}`+"\n"), 0o644)
	out := filepath.Join(dir, "gate")
	code, stdout, errs := runCLI(t, "gate", "--config", "gate", "--baseline", model, "--candidates", cand, "--out", out,
		"--set", "routes.policy.golden="+golden, "--set", "sustained.seconds=1", "--set", "sustained.interval_seconds=1",
		"--set", "routes.policy.thresholds.max_p95_ttft_ms=0", "--set", "routes.policy.thresholds.max_p95_token_ms=0",
		"--set", "routes.policy.thresholds.min_sustained_tps=0", "--set", "routes.policy.thresholds.min_task_score=0")
	if code != 0 {
		t.Fatalf("gate: exit %d\n%s\n%s", code, stdout, errs)
	}
	raw, err := os.ReadFile(filepath.Join(out, "release", "student-q8_0", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "llama_cpp_build") || strings.Contains(string(raw), "llama.cpp") {
		t.Errorf("manifest claims a llama.cpp build the gate never ran:\n%s", raw)
	}
	if !strings.Contains(string(raw), `"name": "distill"`) || strings.Contains(string(raw), "student-student") {
		t.Errorf("manifest name/version:\n%s", raw)
	}
}
