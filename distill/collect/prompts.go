// Package collect turns prompts into a Parquet teacher-signal dataset:
// it reads prompts, applies the permission policy (refusing before any
// network I/O, redacting before anything leaves the process), asks a teacher
// for completions with top-k log-probabilities through a rate-limited,
// retrying worker pool, maps the teacher's tokens to student token ids, and
// writes rows through data/dataset in prompt-file order (whatever order the
// teacher answers in), with a crash-safe journal so that a rerun after
// kill -9 stores every prompt exactly once and the same bytes as an
// uninterrupted run. --shard i/N splits the prompts deterministically across
// batch jobs.
package collect

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/distill-ml/distill/data/dataset"
)

// Prompt is one input row.
type Prompt struct {
	ID     string `json:"id"`     // stable: dataset.RowID(source, prompt) when absent
	Source string `json:"source"` // where the prompt came from (file, template, seed document)
	Class  string `json:"class"`  // policy data class; "" means the config's default class
	Prompt string `json:"prompt"`
	// Completion, when present, is a reference answer kept for text-only rows
	// and evaluation; the teacher's completion is what gets stored.
	Completion string `json:"completion,omitempty"`
	Split      string `json:"split,omitempty"`
}

// MaxPromptBytes bounds one prompt line, so a corrupt file cannot exhaust memory.
const MaxPromptBytes = 1 << 20

// ReadPrompts reads a JSONL prompt file. Every line must be a JSON object with
// a non-empty "prompt"; errors name the file and line. Duplicate ids are an error.
func ReadPrompts(path, defaultSource string) ([]Prompt, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("prompts: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), MaxPromptBytes)
	var out []Prompt
	seen := map[string]int{}
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var p Prompt
		dec := json.NewDecoder(strings.NewReader(string(b)))
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("prompts %s line %d: %w", path, line, err)
		}
		if strings.TrimSpace(p.Prompt) == "" {
			return nil, fmt.Errorf("prompts %s line %d: field \"prompt\" is empty", path, line)
		}
		if p.Source == "" {
			p.Source = defaultSource
		}
		if p.ID == "" {
			p.ID = dataset.RowID(p.Source, p.Prompt)
		}
		if prev, ok := seen[p.ID]; ok {
			return nil, fmt.Errorf("prompts %s line %d: id %s repeats line %d", path, line, p.ID, prev)
		}
		seen[p.ID] = line
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("prompts %s: %w", path, err)
	}
	return out, nil
}

// Shard is this job's slice of the prompts: Index in [0, Count).
type Shard struct{ Index, Count int }

// ParseShard reads "i/N". An empty spec means the whole set (0/1), unless the
// environment names a Kubernetes Indexed Job's completion index: then
// JOB_COMPLETION_INDEX is i and count must be given as "/N" or ":N".
func ParseShard(spec string, getenv func(string) string) (Shard, error) {
	if spec == "" {
		return Shard{0, 1}, nil
	}
	i, n, ok := strings.Cut(spec, "/")
	if !ok {
		return Shard{}, fmt.Errorf("--shard %q: want i/N", spec)
	}
	if i == "" || i == "$JOB_COMPLETION_INDEX" {
		i = getenv("JOB_COMPLETION_INDEX")
		if i == "" {
			return Shard{}, fmt.Errorf("--shard %q: JOB_COMPLETION_INDEX is not set", spec)
		}
	}
	idx, err1 := strconv.Atoi(i)
	cnt, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil || cnt < 1 || idx < 0 || idx >= cnt {
		return Shard{}, fmt.Errorf("--shard %q: want 0 <= i < N", spec)
	}
	return Shard{idx, cnt}, nil
}

// Owns reports whether this shard collects the row with key (the collector
// passes the stored row id, dataset.RowID of source and redacted prompt): a
// hash of the key modulo Count, so the split does not depend on file order.
func (s Shard) Owns(id string) bool {
	if s.Count <= 1 {
		return true
	}
	sum := sha256.Sum256([]byte(id))
	return binary.BigEndian.Uint64(sum[:8])%uint64(s.Count) == uint64(s.Index)
}

// String is "i/N".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }
