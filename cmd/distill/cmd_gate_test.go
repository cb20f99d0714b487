package main

import (
	"os"
	"path/filepath"
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
