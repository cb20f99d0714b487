package synth

import (
	"strings"
	"testing"
)

// Hand-written golden items and outputs: the expectations below are written
// by hand, not produced by the generator.
var (
	cyclesItem = GoldenItem{
		ID: "t-1", Version: GoldenVersion, Kind: KindAnswer, Prompt: "p",
		Expected: "Replace the battery pack after 500 charge cycles [§3.2].",
		KeyFacts: []string{"500 charge cycles"}, Citation: "§3.2",
	}
	escalationItem = GoldenItem{
		ID: "t-2", Version: GoldenVersion, Kind: KindAnswer, Prompt: "p",
		Expected: "Open a Tier 2 ticket within 4 hours [§7.1].",
		KeyFacts: []string{"Tier 2", "4 hours"}, Citation: "§7.1",
	}
	dropItem = GoldenItem{
		ID: "t-3", Version: GoldenVersion, Kind: KindAnswer, Prompt: "p",
		Expected: "A scanner dropped from more than 1.5 m needs inspection [§2.4].",
		KeyFacts: []string{"1.5 m"}, Citation: "§2.4",
	}
	promptItem = GoldenItem{
		ID: "t-5", Version: GoldenVersion, Kind: KindAnswer,
		Prompt: "Policy MP-SCN-0417 rev C (Korvex XR-417 handheld scanner)\n" +
			"§3.1 Retire a battery pack whose measured capacity falls below 70% of its rated capacity.\n" +
			"§3.2 Replace the battery pack after 500 charge cycles or when it holds under 80%.\n" +
			"Question: After how many charge cycles is the battery pack replaced?\nAnswer:",
		Expected: "Replace the battery pack after 500 charge cycles [§3.2].",
		KeyFacts: []string{"500 charge cycles"}, Citation: "§3.2",
	}
	abstainItem = GoldenItem{
		ID: "t-4", Version: GoldenVersion, Kind: KindAbstainNearMiss, Prompt: "p",
		Expected: AbstainAnswer, KeyFacts: []string{}, Abstain: true,
	}
)

func TestScoreHandWritten(t *testing.T) {
	cases := []struct {
		name    string
		item    GoldenItem
		output  string
		correct bool
		verdict Verdict
		wrongC  bool
		halluc  bool
	}{
		{"exact reference", cyclesItem, " Replace the battery pack after 500 charge cycles [§3.2].\n", true, VerdictCorrect, false, false},
		{"paraphrase, other case and spacing", cyclesItem, "the BATTERY PACK is swapped at  500 charge\u00a0cycles (§ 3.2)", true, VerdictCorrect, false, false},
		{"text after the stop sequence is ignored", cyclesItem, " After 500 charge cycles [§3.2].\nQuestion: [§9.9] 12 cycles", true, VerdictCorrect, false, false},
		{"citation repeated is still one paragraph", cyclesItem, " 500 charge cycles [§3.2] (see §3.2).", true, VerdictCorrect, false, false},
		{"thousands separator", GoldenItem{ID: "x", Version: GoldenVersion, Kind: KindAnswer, Prompt: "p", Expected: "e", KeyFacts: []string{"1500 charge cycles"}, Citation: "§3.2"}, " After 1,500 charge cycles [§3.2].", true, VerdictCorrect, false, false},
		{"wrong number that contains the right one", cyclesItem, " Replace the battery pack after 1500 charge cycles [§3.2].", false, VerdictWrongFact, false, true},
		{"wrong number that is a prefix", cyclesItem, " Replace it after 5000 charge cycles [§3.2].", false, VerdictWrongFact, false, true},
		{"wrong paragraph", cyclesItem, " Replace the battery pack after 500 charge cycles [§3.1].", false, VerdictWrongCitation, true, false},
		{"sub-paragraph is another paragraph", cyclesItem, " Replace the battery pack after 500 charge cycles [§3.2.1].", false, VerdictWrongCitation, true, false},
		{"extra paragraph", cyclesItem, " Replace the battery pack after 500 charge cycles [§3.2, §4.1].", false, VerdictWrongCitation, true, false},
		{"no citation", cyclesItem, " Replace the battery pack after 500 charge cycles.", false, VerdictMissingCitation, false, false},
		{"false abstention", cyclesItem, " Not covered by the policy.", false, VerdictFalseAbstain, false, false},
		{"empty", cyclesItem, "\n Replace after 500 charge cycles [§3.2].", false, VerdictEmpty, false, false},
		{"both facts", escalationItem, " Open a tier 2 ticket within 4 hours [§7.1].", true, VerdictCorrect, false, false},
		{"one of two facts", escalationItem, " Open a Tier 2 ticket within 24 hours [§7.1].", false, VerdictWrongFact, false, true},
		{"other tier", escalationItem, " Open a Tier 3 ticket within 4 hours [§7.1].", false, VerdictWrongFact, false, true},
		{"tier 2 is not tier 20", escalationItem, " Open a Tier 20 ticket within 4 hours [§7.1].", false, VerdictWrongFact, false, true},
		{"decimal with glued unit", dropItem, " Inspect it after a drop of more than 1.5m [§2.4].", true, VerdictCorrect, false, false},
		{"0.5 m is not 1.5 m", GoldenItem{ID: "x", Version: GoldenVersion, Kind: KindAnswer, Prompt: "p", Expected: "e", KeyFacts: []string{"5 m"}, Citation: "§2.4"}, " More than 0.5 m [§2.4].", false, VerdictWrongFact, false, true},
		{"11.5 m is not 1.5 m", dropItem, " More than 11.5 m [§2.4].", false, VerdictWrongFact, false, true},
		{"1.55 m is not 1.5 m", dropItem, " More than 1.55 m [§2.4].", false, VerdictWrongFact, false, true},
		{"extra number not in the paragraph", promptItem, " Replace the battery pack after 500 charge cycles, or 1000 in summer [§3.2].", false, VerdictUnsupported, false, true},
		{"number from another paragraph", promptItem, " Replace it after 500 charge cycles, retire below 70% [§3.2].", false, VerdictUnsupported, false, true},
		{"numbers from paragraph and header are supported", promptItem, " The XR-417 battery pack: 500 charge cycles, then retire at 80% [§3.2].", true, VerdictCorrect, false, false},
		{"abstention", abstainItem, " Not covered by the policy.\n", true, VerdictCorrect, false, false},
		{"abstention, other wording", abstainItem, "I'm sorry, the policy does not cover that.", true, VerdictCorrect, false, false},
		{"abstention with citation", abstainItem, " Not covered by the policy [§2.1].", false, VerdictAbstainCited, true, false},
		{"hallucinated answer", abstainItem, " Open a Tier 1 ticket within 8 hours [§5.1].", false, VerdictHallucinated, true, true},
		{"hallucinated answer without citation", abstainItem, " Clean it every 7 days.", false, VerdictHallucinated, false, true},
		{"empty abstention", abstainItem, "", false, VerdictEmpty, false, false},
	}
	for _, c := range cases {
		r := Score(c.item, c.output)
		if r.Correct != c.correct || r.Verdict != c.verdict || r.WrongCitation != c.wrongC || r.Hallucinated != c.halluc {
			t.Errorf("%s: Score(%q) = correct %v verdict %s wrong_citation %v hallucinated %v; want %v %s %v %v",
				c.name, c.output, r.Correct, r.Verdict, r.WrongCitation, r.Hallucinated, c.correct, c.verdict, c.wrongC, c.halluc)
		}
	}
}

func TestScoreDetails(t *testing.T) {
	r := Score(escalationItem, " Open a Tier 2 ticket within 24 hours [§7.1] and [§ 8.2].\nmore")
	if r.Answer != "Open a Tier 2 ticket within 24 hours [§7.1] and [§ 8.2]." {
		t.Errorf("answer %q", r.Answer)
	}
	if strings.Join(r.Citations, ",") != "§7.1,§8.2" {
		t.Errorf("citations %v", r.Citations)
	}
	if r.FactsFound != 1 || r.FactsTotal != 2 || len(r.MissingFacts) != 1 || r.MissingFacts[0] != "4 hours" {
		t.Errorf("facts %d/%d missing %v", r.FactsFound, r.FactsTotal, r.MissingFacts)
	}
	if r.CitationCorrect {
		t.Error("two citations graded as the correct citation")
	}
	if got := r.Reason(); !strings.Contains(got, "wrong_fact") || !strings.Contains(got, "4 hours") {
		t.Errorf("reason %q", got)
	}
}

func TestParseCitations(t *testing.T) {
	for in, want := range map[string]string{
		"[§3.2].":            "§3.2",
		"§3.2.":              "§3.2",
		"§ 12.10 and §1":     "§12.10,§1",
		"§":                  "",
		"§x §.5 §3.":         "§3",
		"(§4.1, §4.1, §2.3)": "§4.1,§2.3",
	} {
		if got := strings.Join(parseCitations(in), ","); got != want {
			t.Errorf("parseCitations(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzScore(f *testing.F) {
	f.Add(" Replace the battery pack after 500 charge cycles [§3.2].\n", "500 charge cycles", "§3.2", false)
	f.Add(" Not covered by the policy.", "", "", true)
	f.Add("§§§ 1,0000 §9.", "1,000", "§9", false)
	f.Fuzz(func(t *testing.T, output, fact, citation string, abstain bool) {
		item := GoldenItem{ID: "f", Version: GoldenVersion, Kind: KindAnswer, Prompt: "p", Expected: "e", KeyFacts: []string{fact}, Citation: citation}
		if abstain {
			item = GoldenItem{ID: "f", Version: GoldenVersion, Kind: KindAbstain, Prompt: "p", Expected: AbstainAnswer, Abstain: true}
		}
		r := Score(item, output)
		if r.Correct && (!r.CitationCorrect || r.WrongCitation || r.Hallucinated) {
			t.Fatalf("correct but flagged: %+v", r)
		}
		if r.Correct && !abstain && r.FactsFound != r.FactsTotal {
			t.Fatalf("correct without every fact: %+v", r)
		}
		if r.Correct && abstain && !r.Abstained {
			t.Fatalf("abstention item correct without abstaining: %+v", r)
		}
		if r.Partial < 0 || r.Partial > 1 || r.Correct && r.Partial != 1 {
			t.Fatalf("partial credit %v (correct %v) outside [0,1] or below 1 for a correct answer", r.Partial, r.Correct)
		}
		if strings.Contains(r.Answer, StopSequence) {
			t.Fatalf("answer not cut at the stop sequence: %q", r.Answer)
		}
	})
}

// TestPartialCreditHandWritten: the partial score is
// abstention_right × (½·facts found/facts total + ½·citation right), with the
// fact fraction 1 on an abstention item (it has no key facts). Each expected
// value below is worked out by hand from that definition.
func TestPartialCreditHandWritten(t *testing.T) {
	cases := []struct {
		name                  string
		item                  GoldenItem
		output                string
		facts, citation, abst float64 // fraction of facts, citation right, abstention right
		partial               float64
	}{
		{"exact answer", escalationItem, " Open a Tier 2 ticket within 4 hours [§7.1].", 1, 1, 1, 1},
		{"one of two facts, right paragraph", escalationItem, " Open a Tier 2 ticket within 24 hours [§7.1].", 0.5, 1, 1, 0.75},
		{"one of two facts, no citation", escalationItem, " A Tier 2 ticket.", 0.5, 0, 1, 0.25},
		{"both facts, wrong paragraph", escalationItem, " Tier 2 within 4 hours [§7.2].", 1, 0, 1, 0.5},
		{"no fact, right paragraph", escalationItem, " See [§7.1].", 0, 1, 1, 0.5},
		{"both facts, right and an extra paragraph", escalationItem, " Tier 2 within 4 hours [§7.1, §8.1].", 1, 0, 1, 0.5},
		{"false abstention", escalationItem, " Not covered by the policy.", 0, 0, 0, 0},
		{"empty answer", escalationItem, "\n", 0, 0, 1, 0},
		{"abstention", abstainItem, " Not covered by the policy.", 1, 1, 1, 1},
		{"abstention citing a paragraph", abstainItem, " Not covered by the policy [§2.1].", 1, 0, 1, 0.5},
		{"answer where the policy is silent", abstainItem, " Clean it every 7 days.", 1, 1, 0, 0},
		{"empty on an abstention item", abstainItem, "", 1, 1, 0, 0},
	}
	for _, c := range cases {
		r := Score(c.item, c.output)
		abst := 0.0
		if r.AbstentionCorrect {
			abst = 1
		}
		cit := 0.0
		if r.CitationCorrect {
			cit = 1
		}
		if r.FactFraction() != c.facts || cit != c.citation || abst != c.abst || r.Partial != c.partial {
			t.Errorf("%s: Score(%q) = facts %v citation %v abstention %v partial %v; want %v %v %v %v",
				c.name, c.output, r.FactFraction(), cit, abst, r.Partial, c.facts, c.citation, c.abst, c.partial)
		}
	}
}
