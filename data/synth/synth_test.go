package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// smallConfig is the configuration most tests use: about 2% of the default corpus.
func smallConfig(seed uint64) Config {
	c := DefaultConfig()
	c.Seed, c.Scale = seed, 0.02
	return c
}

var (
	defaultOnce   sync.Once
	defaultCorpus *Corpus
	defaultErr    error
)

// fullCorpus generates the default corpus once per test binary.
func fullCorpus(t *testing.T) *Corpus {
	t.Helper()
	defaultOnce.Do(func() { defaultCorpus, defaultErr = Generate(DefaultConfig(), nil) })
	if defaultErr != nil {
		t.Fatal(defaultErr)
	}
	return defaultCorpus
}

func writeCorpus(t *testing.T, cfg Config) (string, *Manifest) {
	t.Helper()
	c, err := Generate(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m, err := c.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// hashDir hashes every file of dir independently of the manifest.
func hashDir(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][32]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

func TestSameSeedByteIdentical(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Scale = 0.2
	dirA, _ := writeCorpus(t, cfg)
	dirB, _ := writeCorpus(t, cfg)
	a, b := hashDir(t, dirA), hashDir(t, dirB)
	want := []string{TrainFile, ValidationFile, GoldenFile, TrainManualsFile, ValidationManualsFile, GoldenManualsFile, TokenizerCorpusFile, ManifestFile}
	if len(a) != len(want) {
		t.Fatalf("wrote %d files, want %d: %v", len(a), len(want), a)
	}
	for _, name := range want {
		ha, ok := a[name]
		if !ok {
			t.Fatalf("missing %s", name)
		}
		if ha != b[name] {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
	}
}

func TestDifferentSeedsDiffer(t *testing.T) {
	dirA, _ := writeCorpus(t, smallConfig(1))
	dirB, _ := writeCorpus(t, smallConfig(2))
	a, b := hashDir(t, dirA), hashDir(t, dirB)
	// The golden set does not depend on the seed (TestGoldenSetIndependentOfSeedAndScale).
	for _, name := range []string{TrainFile, ValidationFile, TrainManualsFile, TokenizerCorpusFile} {
		if a[name] == b[name] {
			t.Errorf("%s is identical for seeds 1 and 2", name)
		}
	}
}

func TestManifestHashesAndVerify(t *testing.T) {
	dir, m := writeCorpus(t, smallConfig(3))
	got := hashDir(t, dir)
	if len(m.Files) != len(got)-1 {
		t.Fatalf("manifest lists %d files, directory has %d besides the manifest", len(m.Files), len(got)-1)
	}
	for _, f := range m.Files {
		sum := got[f.Name]
		if f.SHA256 != hexString(sum[:]) {
			t.Errorf("%s: manifest sha256 %s, file %x", f.Name, f.SHA256, sum)
		}
	}
	if m.Version != CorpusVersion || m.GoldenVersion != GoldenVersion || m.StopSequence != StopSequence {
		t.Errorf("manifest header %+v", m)
	}
	if _, err := Verify(dir); err != nil {
		t.Fatalf("verify untouched corpus: %v", err)
	}
	// Tamper with one byte of the golden set: Verify must name the file.
	path := filepath.Join(dir, GoldenFile)
	b, _ := os.ReadFile(path)
	b[100] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir); err == nil || !strings.Contains(err.Error(), GoldenFile) {
		t.Fatalf("verify tampered corpus: %v", err)
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestDefaultSizeAndScale(t *testing.T) {
	c := fullCorpus(t)
	dir := t.TempDir()
	m, err := c.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, f := range m.Files {
		total += f.Bytes
	}
	if total < 5e6 || total > 20e6 {
		t.Errorf("default corpus is %d bytes, want 5-20 MB", total)
	}
	small, err := Generate(smallConfig(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	ratio := float64(len(c.Train)) / float64(len(small.Train))
	if ratio < 40 || ratio > 60 {
		t.Errorf("scale 1 has %d training examples, scale 0.02 has %d: ratio %.1f, want about 50", len(c.Train), len(small.Train), ratio)
	}
	// The golden set does not depend on scale.
	ga, _ := encodeJSONL(c.Golden)
	gb, _ := encodeJSONL(small.Golden)
	if !bytes.Equal(ga, gb) {
		t.Error("golden set differs between scale 1 and scale 0.02")
	}
	if len(c.Golden) != DefaultConfig().GoldenItems {
		t.Errorf("golden items %d", len(c.Golden))
	}
	// About 30% abstentions in both training data and golden set.
	for _, f := range []struct {
		name        string
		abst, total int
	}{{"train", m.Counts.TrainAbstain, m.Counts.TrainExamples}, {"golden", m.Counts.GoldenAbstain, m.Counts.GoldenItems}} {
		frac := float64(f.abst) / float64(f.total)
		if frac < 0.25 || frac > 0.35 {
			t.Errorf("%s: abstention fraction %.3f", f.name, frac)
		}
	}
}

func TestGoldenManualsHeldOut(t *testing.T) {
	if testing.Short() {
		t.Skip("generates the full corpus: not in -short")
	}
	c := fullCorpus(t)
	goldenIDs := map[string]bool{}
	for _, g := range c.Golden {
		goldenIDs[g.ManualID] = true
	}
	trainIDs := map[string]bool{}
	for _, set := range [][]Example{c.Train, c.Validation} {
		for _, ex := range set {
			if goldenIDs[ex.ManualID] {
				t.Fatalf("golden manual %s appears in %s example %s", ex.ManualID, ex.Split, ex.ID)
			}
			if ex.Split == "train" {
				trainIDs[ex.ManualID] = true
			} else if trainIDs[ex.ManualID] {
				t.Fatalf("manual %s is in both train and validation", ex.ManualID)
			}
		}
	}
	if len(c.HeldOutEntities) < 3*len(goldenIDs) {
		t.Fatalf("only %d held-out entities for %d golden manuals", len(c.HeldOutEntities), len(goldenIDs))
	}
	// No name specific to a golden manual (ID, model, manufacturer, vendors,
	// site) occurs as a whole word anywhere in the training or validation text.
	var text strings.Builder
	for _, set := range [][]Example{c.Train, c.Validation} {
		for _, ex := range set {
			text.WriteString(ex.Prompt)
			text.WriteString(ex.Completion)
		}
	}
	text.WriteString(c.TrainManuals)
	text.WriteString(c.ValidationManuals)
	text.WriteString(c.TokenizerCorpus())
	norm := normalizeText(text.String())
	for _, e := range c.HeldOutEntities {
		if containsFact(norm, normalizeText(e)) {
			t.Errorf("held-out entity %q occurs in training/validation text", e)
		}
	}
	// And each golden prompt names its held-out manual.
	for _, g := range c.Golden {
		if !strings.Contains(g.Prompt, g.ManualID) {
			t.Errorf("%s: prompt does not name manual %s", g.ID, g.ManualID)
		}
	}
}

// badGrammar catches number and pronoun agreement slips in templates.
var badGrammar = regexp.MustCompile(`\b1 (hours|days|weeks|months|years|restarts|minutes|spare)\b|\bthey (is|has|shows)\b|\bthem are\b|\bit (are|have|show)\b|\b(contacts|seals|covers|bumpers|vents|bays|latches|fins|bearings|bolts|hoses|wheels|forks) (is|has) (cleaned|due|reached|checked|replaced)\b`)

// paragraphsOf parses the excerpt of a prompt into paragraph id → text.
func paragraphsOf(t *testing.T, prompt string) (header string, paras map[string]string, order []string) {
	t.Helper()
	lines := strings.Split(prompt, "\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[0], "Policy MP-") ||
		!strings.HasPrefix(lines[len(lines)-2], "Question: ") || lines[len(lines)-1] != "Answer:" {
		t.Fatalf("prompt does not follow the template:\n%s", prompt)
	}
	paras = map[string]string{}
	for _, l := range lines[1 : len(lines)-2] {
		id, text, ok := strings.Cut(l, " ")
		if !ok || !validParagraphID(id) {
			t.Fatalf("excerpt line %q is not '§n.m text'", l)
		}
		if _, dup := paras[id]; dup {
			t.Fatalf("paragraph %s twice in prompt:\n%s", id, prompt)
		}
		paras[id] = text
		order = append(order, id)
	}
	return lines[0], paras, order
}

func allExamples(c *Corpus) []Example {
	var all []Example
	all = append(all, c.Train...)
	all = append(all, c.Validation...)
	for _, g := range c.Golden {
		all = append(all, Example{ID: g.ID, Kind: g.Kind, Prompt: g.Prompt, Completion: FormatCompletion(g.Expected),
			Answer: g.Expected, KeyFacts: g.KeyFacts, Citation: g.Citation, Abstain: g.Abstain, Question: g.Question})
	}
	return all
}

func TestExamplesWellFormed(t *testing.T) {
	c := fullCorpus(t)
	cfg := c.Config
	ids, prompts := map[string]bool{}, map[string]string{}
	kinds := map[string]int{}
	topicsSeen := map[string]bool{}
	for _, ex := range allExamples(c) {
		if ids[ex.ID] {
			t.Fatalf("duplicate id %s", ex.ID)
		}
		ids[ex.ID] = true
		if prev, dup := prompts[ex.Prompt]; dup {
			t.Fatalf("%s repeats the prompt of %s", ex.ID, prev)
		}
		prompts[ex.Prompt] = ex.ID
		kinds[ex.Kind]++
		topicsSeen[ex.Topic] = true
		if n := len(ex.Prompt) + len(ex.Completion); n > cfg.MaxChars {
			t.Fatalf("%s: prompt+completion %d bytes > %d", ex.ID, n, cfg.MaxChars)
		}
		if strings.Contains(ex.Prompt+ex.Completion, "{") || strings.Contains(ex.Prompt+ex.Completion, "}") {
			t.Fatalf("%s: unrendered placeholder:\n%s%s", ex.ID, ex.Prompt, ex.Completion)
		}
		if !strings.HasPrefix(ex.Completion, CompletionPrefix) || !strings.HasSuffix(ex.Completion, StopSequence) ||
			strings.Count(ex.Completion, StopSequence) != 1 {
			t.Fatalf("%s: completion %q does not start with %q and end with one %q", ex.ID, ex.Completion, CompletionPrefix, StopSequence)
		}
		if m := badGrammar.FindString(ex.Prompt + ex.Completion); m != "" {
			t.Fatalf("%s: %q in\n%s%s", ex.ID, m, ex.Prompt, ex.Completion)
		}
		_, paras, _ := paragraphsOf(t, ex.Prompt)
		if len(paras) < 1 || len(paras) > cfg.ExcerptMax {
			t.Fatalf("%s: %d paragraphs in excerpt", ex.ID, len(paras))
		}
		if ex.Abstain {
			if ex.Answer != AbstainAnswer || ex.Citation != "" || len(ex.KeyFacts) != 0 {
				t.Fatalf("%s: abstention with answer %q citation %q keys %v", ex.ID, ex.Answer, ex.Citation, ex.KeyFacts)
			}
			continue
		}
		// The answer ends with the citation of a paragraph that is in the
		// excerpt and that states every key fact verbatim.
		if !strings.HasSuffix(ex.Answer, " "+Citation(ex.Citation)+".") {
			t.Fatalf("%s: answer %q does not end with [%s].", ex.ID, ex.Answer, ex.Citation)
		}
		text, ok := paras[ex.Citation]
		if !ok {
			t.Fatalf("%s: cited %s is not in the excerpt:\n%s", ex.ID, ex.Citation, ex.Prompt)
		}
		if len(ex.KeyFacts) == 0 {
			t.Fatalf("%s: answer without key facts", ex.ID)
		}
		for _, k := range ex.KeyFacts {
			if !containsFact(normalizeText(text), normalizeText(k)) {
				t.Fatalf("%s: cited paragraph %s %q does not state key fact %q", ex.ID, ex.Citation, text, k)
			}
			if !containsFact(normalizeText(ex.Answer), normalizeText(k)) {
				t.Fatalf("%s: answer %q does not state key fact %q", ex.ID, ex.Answer, k)
			}
		}
	}
	for _, k := range []string{KindAnswer, KindAbstain, KindAbstainNearMiss} {
		if kinds[k] < 100 {
			t.Errorf("only %d examples of kind %s", kinds[k], k)
		}
	}
	if len(topicsSeen) < 40 {
		t.Errorf("only %d distinct topic/ask pairs", len(topicsSeen))
	}
}

// TestGoldenScoresItsOwnAnswer: the reference answer of every golden item is
// graded correct, and the abstention answer is graded wrong on answer items
// (and a made-up answer wrong on abstention items).
func TestGoldenScoresItsOwnAnswer(t *testing.T) {
	c := fullCorpus(t)
	for _, g := range c.Golden {
		if err := g.Validate(); err != nil {
			t.Fatalf("%s: %v", g.ID, err)
		}
		if r := Score(g, g.Completion()); !r.Correct {
			t.Fatalf("%s: reference answer %q graded %+v", g.ID, g.Expected, r)
		}
		if g.Abstain {
			if r := Score(g, " Replace it after 3 days [§2.1]."); r.Correct || !r.Hallucinated {
				t.Fatalf("%s: made-up answer graded %+v", g.ID, r)
			}
		} else if r := Score(g, " "+AbstainAnswer); r.Correct || r.Verdict != VerdictFalseAbstain {
			t.Fatalf("%s: abstention graded %+v", g.ID, r)
		}
	}
}

// TestEveryReferenceAnswerScoresCorrect: the training and validation
// completions are graded correct by the scorer the gate uses.
func TestEveryReferenceAnswerScoresCorrect(t *testing.T) {
	c := fullCorpus(t)
	for _, ex := range append(append([]Example(nil), c.Train...), c.Validation...) {
		item := GoldenItem{ID: ex.ID, Version: GoldenVersion, Kind: ex.Kind, Prompt: ex.Prompt, Expected: ex.Answer,
			KeyFacts: ex.KeyFacts, Citation: ex.Citation, Abstain: ex.Abstain}
		if err := item.Validate(); err != nil {
			t.Fatalf("%s: %v", ex.ID, err)
		}
		if r := Score(item, ex.Completion); !r.Correct {
			t.Fatalf("%s: completion %q graded %s", ex.ID, ex.Completion, r.Reason())
		}
	}
}

// TestNoMemorizableShortcut: the citation and numbers are not predictable
// from the question alone — the same topic/ask is cited at many different
// paragraph numbers and carries many different values.
func TestNoMemorizableShortcut(t *testing.T) {
	c := fullCorpus(t)
	cites := map[string]map[string]bool{}
	answers := map[string]map[string]bool{}
	questions := map[string]bool{}
	for _, ex := range c.Train {
		questions[ex.Question] = true
		if ex.Abstain {
			continue
		}
		if cites[ex.Topic] == nil {
			cites[ex.Topic], answers[ex.Topic] = map[string]bool{}, map[string]bool{}
		}
		cites[ex.Topic][ex.Citation] = true
		answers[ex.Topic][ex.Answer] = true
	}
	for topic, cs := range cites {
		if len(cs) < 5 || len(answers[topic]) < 10 {
			t.Errorf("%s: only %d citations and %d distinct answers", topic, len(cs), len(answers[topic]))
		}
	}
	if len(questions) < len(c.Train)/3 {
		t.Errorf("only %d distinct questions in %d examples", len(questions), len(c.Train))
	}
}

func TestJSONLReadableByImporterShape(t *testing.T) {
	dir, _ := writeCorpus(t, smallConfig(4))
	for _, name := range []string{TrainFile, ValidationFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		for i, l := range lines {
			var row map[string]any
			if err := json.Unmarshal([]byte(l), &row); err != nil {
				t.Fatalf("%s line %d: %v", name, i+1, err)
			}
			for _, f := range []string{"id", "source", "prompt", "completion"} {
				if s, ok := row[f].(string); !ok || s == "" {
					t.Fatalf("%s line %d: field %s missing or empty", name, i+1, f)
				}
			}
		}
	}
	items, err := ReadGolden(filepath.Join(dir, GoldenFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != DefaultConfig().GoldenItems {
		t.Fatalf("read %d golden items", len(items))
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"scale":               func(c *Config) { c.Scale = 0 },
		"golden_items":        func(c *Config) { c.GoldenItems = 0 },
		"excerpt_min":         func(c *Config) { c.ExcerptMin, c.ExcerptMax = 4, 2 },
		"max_chars":           func(c *Config) { c.MaxChars = 10 },
		"abstain_rate":        func(c *Config) { c.AbstainRate = 1.5 },
		"validation_fraction": func(c *Config) { c.ValidationFraction = 1 },
	} {
		c := DefaultConfig()
		mut(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: Validate() = %v", name, err)
		}
		if _, err := Generate(c, nil); err == nil {
			t.Errorf("%s: Generate accepted an invalid config", name)
		}
	}
}
