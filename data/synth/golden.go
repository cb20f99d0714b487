package synth

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// GoldenItem is one held-out question of the golden set (one line of
// golden.jsonl). The gate feeds Prompt to each artifact with the same
// template and stop sequence and grades the output with Score.
type GoldenItem struct {
	ID      string `json:"id"`      // "policyqa-golden-v1-0001"
	Version string `json:"version"` // GoldenVersion
	// ManualID is the held-out manual the excerpt comes from.
	ManualID string `json:"manual_id"`
	Topic    string `json:"topic"` // "<topic>/<ask>", e.g. "battery_cycles/cycles"
	Kind     string `json:"kind"`  // KindAnswer, KindAbstain or KindAbstainNearMiss
	Question string `json:"question"`
	Prompt   string `json:"prompt"`
	// Expected is the reference answer without CompletionPrefix and
	// StopSequence, e.g. "Replace the battery pack after 500 charge cycles [§3.2]."
	Expected string `json:"expected"`
	// KeyFacts must all be stated by a correct answer (empty for abstentions).
	KeyFacts []string `json:"key_facts"`
	// Citation is the paragraph a correct answer cites ("§3.2"); "" for abstentions.
	Citation string `json:"citation"`
	Abstain  bool   `json:"abstain"`
}

// Completion is the reference completion as the model should generate it:
// CompletionPrefix + Expected + StopSequence (for perplexity and teacher
// agreement over golden completions).
func (g GoldenItem) Completion() string { return FormatCompletion(g.Expected) }

func goldenFromExample(ex Example, n int) GoldenItem {
	return GoldenItem{
		ID: fmt.Sprintf("%s-%04d", GoldenVersion, n), Version: GoldenVersion, ManualID: ex.ManualID,
		Topic: ex.Topic, Kind: ex.Kind, Question: ex.Question, Prompt: ex.Prompt,
		Expected: ex.Answer, KeyFacts: ex.KeyFacts, Citation: ex.Citation, Abstain: ex.Abstain,
	}
}

// Validate checks that the item is self-consistent.
func (g GoldenItem) Validate() error {
	switch {
	case g.ID == "":
		return errors.New("field id: empty")
	case g.Version != GoldenVersion:
		return fmt.Errorf("field version: %q, this build reads %q", g.Version, GoldenVersion)
	case g.Prompt == "":
		return errors.New("field prompt: empty")
	case g.Expected == "":
		return errors.New("field expected: empty")
	case g.Kind != KindAnswer && g.Kind != KindAbstain && g.Kind != KindAbstainNearMiss:
		return fmt.Errorf("field kind: unknown %q", g.Kind)
	case g.Abstain != (g.Kind != KindAnswer):
		return fmt.Errorf("field abstain: %v contradicts kind %q", g.Abstain, g.Kind)
	case g.Abstain && (g.Citation != "" || len(g.KeyFacts) != 0):
		return errors.New("field citation/key_facts: an abstention item has none")
	case !g.Abstain && !validParagraphID(g.Citation):
		return fmt.Errorf("field citation: %q is not a paragraph like §3.2", g.Citation)
	case !g.Abstain && len(g.KeyFacts) == 0:
		return errors.New("field key_facts: an answer item needs at least one")
	}
	for i, k := range g.KeyFacts {
		if strings.TrimSpace(k) == "" {
			return fmt.Errorf("field key_facts[%d]: empty", i)
		}
	}
	return nil
}

func validParagraphID(s string) bool {
	ids := parseCitations(s)
	return len(ids) == 1 && ids[0] == s
}

// maxGoldenLine bounds one golden.jsonl line; maxGoldenItems the item count.
const (
	maxGoldenLine  = 1 << 20
	maxGoldenItems = 1 << 20
)

// ReadGolden reads and validates a golden.jsonl file. Errors name the file,
// line and field; unknown fields are errors.
func ReadGolden(path string) ([]GoldenItem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read golden set: %w", err)
	}
	defer f.Close()
	items, err := DecodeGolden(f)
	if err != nil {
		return nil, fmt.Errorf("golden set %s: %w", path, err)
	}
	return items, nil
}

// DecodeGolden reads golden items, one JSON object per line, from r.
func DecodeGolden(r io.Reader) ([]GoldenItem, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxGoldenLine)
	var items []GoldenItem
	ids := map[string]int{}
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if len(items) >= maxGoldenItems {
			return nil, fmt.Errorf("line %d: more than %d items", line, maxGoldenItems)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var g GoldenItem
		if err := dec.Decode(&g); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("line %d: trailing data after the JSON object", line)
		}
		if err := g.Validate(); err != nil {
			return nil, fmt.Errorf("line %d (id %q): %w", line, g.ID, err)
		}
		if prev, dup := ids[g.ID]; dup {
			return nil, fmt.Errorf("line %d: id %q already on line %d", line, g.ID, prev)
		}
		ids[g.ID] = line
		items = append(items, g)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than %d bytes", line+1, maxGoldenLine)
		}
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if len(items) == 0 {
		return nil, errors.New("no items")
	}
	return items, nil
}
