package synth

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Verdict classifies a graded output.
type Verdict string

const (
	VerdictCorrect         Verdict = "correct"
	VerdictEmpty           Verdict = "empty"                 // nothing before the stop sequence
	VerdictWrongFact       Verdict = "wrong_fact"            // answered without stating every key fact
	VerdictUnsupported     Verdict = "unsupported_number"    // states a number the cited paragraph does not contain
	VerdictMissingCitation Verdict = "missing_citation"      // facts right, no paragraph cited
	VerdictWrongCitation   Verdict = "wrong_citation"        // facts right, another or an extra paragraph cited
	VerdictFalseAbstain    Verdict = "false_abstain"         // abstained although the excerpt answers it
	VerdictHallucinated    Verdict = "hallucinated"          // answered although the policy is silent
	VerdictAbstainCited    Verdict = "abstain_with_citation" // abstained but cited a paragraph anyway
)

// Result is the grade of one output for one golden item.
type Result struct {
	Correct bool    `json:"correct"`
	Verdict Verdict `json:"verdict"`
	// Answer is the graded text: the output up to the first StopSequence, trimmed.
	Answer    string   `json:"answer"`
	Abstained bool     `json:"abstained"`
	Citations []string `json:"citations"` // paragraphs cited, in order, deduplicated ("§3.2")
	// CitationCorrect: an answer item cites exactly its paragraph; an
	// abstention item cites nothing.
	CitationCorrect bool `json:"citation_correct"`
	// WrongCitation: some cited paragraph is not the expected one (any
	// citation on an abstention item).
	WrongCitation bool `json:"wrong_citation"`
	// Hallucinated: a substantive answer that is not supported — an answer
	// where the policy is silent, or an answer missing the key facts.
	Hallucinated bool `json:"hallucinated"`
	// UnsupportedNumbers are numbers in the answer that appear neither in the
	// expected paragraph nor in the question or header (checked when the
	// prompt contains the expected paragraph).
	UnsupportedNumbers []string `json:"unsupported_numbers,omitempty"`
	FactsFound         int      `json:"facts_found"`
	FactsTotal         int      `json:"facts_total"`
	MissingFacts       []string `json:"missing_facts,omitempty"`
	// AbstentionCorrect: the output abstains exactly when the item is an
	// abstention item (an empty output does not abstain).
	AbstentionCorrect bool `json:"abstention_correct"`
	// Partial is the partial credit in [0,1], defined from the item's own
	// fields (key_facts, citation, abstain):
	//
	//	partial = abstention_right × (½·FactFraction + ½·citation_right)
	//
	// An answer that abstains, or an answer where the policy is silent, earns
	// 0; on an answer item each key fact stated and the exact paragraph cited
	// earn their share; an abstention that cites a paragraph earns ½. A correct
	// result has Partial 1; Partial 1 without Correct means every fact and the
	// citation are right but the answer states an unsupported number.
	Partial float64 `json:"partial"`
}

// FactFraction is FactsFound / FactsTotal, 1 for an item without key facts
// (an abstention item has nothing to state).
func (r Result) FactFraction() float64 {
	if r.FactsTotal == 0 {
		return 1
	}
	return float64(r.FactsFound) / float64(r.FactsTotal)
}

// abstainPhrases are the (normalized) phrasings accepted as an abstention;
// the corpus itself always uses AbstainAnswer.
var abstainPhrases = []string{
	"not covered by the policy", "not covered by this policy", "not covered by the excerpt",
	"the policy does not cover", "the policy doesn't cover", "the policy is silent",
}

// Score grades a model output against a golden item. output is the raw
// generated text after the prompt; it is cut at the first StopSequence
// (leading spaces are skipped first).
//
// An answer item is correct when the output states every key fact (case- and
// whitespace-insensitive, numbers matched whole: "24 hours" does not state
// "4 hours") and cites exactly the expected paragraph. An abstention item is
// correct when the output abstains and cites no paragraph. Beside this exact
// grade (the launch bar) the result carries partial credit (Result.Partial).
func Score(item GoldenItem, output string) Result {
	ans := strings.TrimLeft(output, " \t")
	if i := strings.Index(ans, StopSequence); i >= 0 {
		ans = ans[:i]
	}
	ans = strings.TrimSpace(ans)
	norm := normalizeText(ans)
	res := Result{Answer: ans, Citations: parseCitations(ans), FactsTotal: len(item.KeyFacts)}
	for _, p := range abstainPhrases {
		if strings.Contains(norm, p) {
			res.Abstained = true
			break
		}
	}
	for _, k := range item.KeyFacts {
		if containsFact(norm, normalizeText(k)) {
			res.FactsFound++
		} else {
			res.MissingFacts = append(res.MissingFacts, k)
		}
	}
	for _, c := range res.Citations {
		if item.Abstain || c != item.Citation {
			res.WrongCitation = true
		}
	}
	if !item.Abstain {
		if support, ok := supportText(item); ok {
			have := map[string]bool{}
			for _, n := range numbersIn(normalizeText(support)) {
				have[n] = true
			}
			for _, n := range numbersIn(normalizeText(stripCitations(ans))) {
				if !have[n] {
					res.UnsupportedNumbers = append(res.UnsupportedNumbers, n)
				}
			}
		}
	}
	if item.Abstain {
		res.CitationCorrect = len(res.Citations) == 0
	} else {
		res.CitationCorrect = len(res.Citations) == 1 && res.Citations[0] == item.Citation
	}

	switch {
	case ans == "":
		res.Verdict = VerdictEmpty
	case item.Abstain && res.Abstained && len(res.Citations) > 0:
		res.Verdict = VerdictAbstainCited
	case item.Abstain && res.Abstained:
		res.Verdict = VerdictCorrect
	case item.Abstain:
		res.Verdict, res.Hallucinated = VerdictHallucinated, true
	case res.Abstained:
		res.Verdict = VerdictFalseAbstain
	case res.FactsFound < res.FactsTotal:
		res.Verdict, res.Hallucinated = VerdictWrongFact, true
	case len(res.UnsupportedNumbers) > 0:
		res.Verdict, res.Hallucinated = VerdictUnsupported, true
	case len(res.Citations) == 0:
		res.Verdict = VerdictMissingCitation
	case !res.CitationCorrect:
		res.Verdict = VerdictWrongCitation
	default:
		res.Verdict = VerdictCorrect
	}
	res.Correct = res.Verdict == VerdictCorrect
	res.AbstentionCorrect = res.Abstained == item.Abstain
	if res.AbstentionCorrect {
		cite := 0.0
		if res.CitationCorrect {
			cite = 1
		}
		res.Partial = 0.5*res.FactFraction() + 0.5*cite
	}
	return res
}

// supportText returns the text an answer to item may take numbers from: the
// expected paragraph's line of the prompt, the question and the header.
// ok is false when the prompt does not contain the expected paragraph.
func supportText(item GoldenItem) (string, bool) {
	lines := strings.Split(item.Prompt, "\n")
	var para, question string
	for _, l := range lines {
		if strings.HasPrefix(l, item.Citation+" ") {
			para = l[len(item.Citation):]
		}
		if q, ok := strings.CutPrefix(l, "Question: "); ok {
			question = q
		}
	}
	if para == "" {
		return "", false
	}
	return lines[0] + "\n" + para + "\n" + question, true
}

// stripCitations removes every "§n.m" from s.
func stripCitations(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "§")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = strings.TrimLeft(s[i+len("§"):], " \t")
		j := 0
		for j < len(s) && (isDigit(s[j]) || s[j] == '.' && j+1 < len(s) && isDigit(s[j+1])) {
			j++
		}
		s = s[j:]
	}
}

// numbersIn lists the numbers in normalized text s ("1.5", "500", "3.2.14").
func numbersIn(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && (isDigit(s[j]) || s[j] == '.' && j+1 < len(s) && isDigit(s[j+1])) {
			j++
		}
		out = append(out, s[i:j])
		i = j
	}
	return out
}

// parseCitations finds every "§<n>(.<n>)*" in s, returns them normalized
// ("§ 3.2" → "§3.2") in order of first appearance.
func parseCitations(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "§")
		if i < 0 {
			return out
		}
		s = s[i+len("§"):]
		j := 0
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		start := j
		for j < len(s) {
			if isDigit(s[j]) {
				j++
			} else if s[j] == '.' && j+1 < len(s) && isDigit(s[j+1]) && j > start {
				j++
			} else {
				break
			}
		}
		if j > start {
			c := "§" + s[start:j]
			dup := false
			for _, o := range out {
				dup = dup || o == c
			}
			if !dup {
				out = append(out, c)
			}
		}
		s = s[j:]
	}
}

// normalizeText lower-cases s, maps typographic variants to ASCII, collapses
// whitespace, removes thousands separators (1,500 → 1500) and puts exactly
// one space between a number and a unit glued to it (500cycles → 500 cycles,
// 4°C → 4 °c, 80% → 80 %), so facts match however the spacing was produced.
func normalizeText(s string) string {
	s = strings.ToLower(s)
	s = strings.NewReplacer("\u00a0", " ", "\u2019", "'", "\u2018", "'", "\u2013", "-", "\u2014", "-", "\u2212", "-").Replace(s)
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			if len(b) > 0 && b[len(b)-1] != ' ' {
				b = append(b, ' ')
			}
			continue
		}
		if c == ',' && len(b) > 0 && isDigit(b[len(b)-1]) && i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) && (i+4 >= len(s) || !isDigit(s[i+4])) {
			continue
		}
		if len(b) > 0 && isDigit(b[len(b)-1]) {
			r, _ := utf8.DecodeRuneInString(s[i:])
			if r >= 'a' && r <= 'z' || r == '%' || r == '°' {
				b = append(b, ' ')
			}
		}
		b = append(b, c)
	}
	return strings.TrimSpace(string(b))
}

// containsFact reports whether normalized fact occurs in normalized text as a
// whole: not glued to a neighbouring letter or digit, and a number not part
// of a longer number ("4 hours" is not in "24 hours", "5 m" not in "0.5 m").
func containsFact(text, fact string) bool {
	if fact == "" {
		return false
	}
	for from := 0; from <= len(text)-len(fact); {
		i := strings.Index(text[from:], fact)
		if i < 0 {
			return false
		}
		i += from
		if boundaryBefore(text, i, fact[0]) && boundaryAfter(text, i+len(fact), fact[len(fact)-1]) {
			return true
		}
		from = i + 1
	}
	return false
}

func boundaryBefore(text string, i int, first byte) bool {
	if i == 0 || !isAlnum(first) {
		return true
	}
	prev := text[i-1]
	if isAlnum(prev) {
		return false
	}
	if isDigit(first) && (prev == '.' || prev == ',' || prev == '-') {
		return false
	}
	return true
}

func boundaryAfter(text string, j int, last byte) bool {
	if j >= len(text) || !isAlnum(last) {
		return true
	}
	next := text[j]
	if isAlnum(next) {
		return false
	}
	if isDigit(last) && (next == '.' || next == ',') && j+1 < len(text) && isDigit(text[j+1]) {
		return false
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// Reason is a short human-readable explanation of a result ("" when correct).
func (r Result) Reason() string {
	switch r.Verdict {
	case VerdictCorrect:
		return ""
	case VerdictWrongFact:
		return fmt.Sprintf("%s: missing %s", r.Verdict, strings.Join(r.MissingFacts, ", "))
	case VerdictUnsupported:
		return fmt.Sprintf("%s: %s", r.Verdict, strings.Join(r.UnsupportedNumbers, ", "))
	case VerdictWrongCitation, VerdictAbstainCited:
		return fmt.Sprintf("%s: cited %s", r.Verdict, strings.Join(r.Citations, ", "))
	default:
		return string(r.Verdict)
	}
}
