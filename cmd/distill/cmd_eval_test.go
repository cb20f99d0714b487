package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/model/infer"
)

func TestEvalPerplexityJSONLAndText(t *testing.T) {
	model := tinyGGUF(t)
	dir := t.TempDir()
	jsonl := filepath.Join(dir, "d.jsonl")
	os.WriteFile(jsonl, []byte(`{"prompt": "the cat", "completion": " sat on the mat"}
{"text": "hello world, this is a test"}
`), 0o644)
	code, out, stderr := runCLI(t, "eval", "--model", model, "--data", jsonl, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep evalReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// Recompute independently of the command: NLL of the same token streams.
	m, err := infer.Load(model, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, _ := m.Tokenizer()
	p, c := tok.Encode("the cat"), tok.Encode(" sat on the mat")
	s1, n1, _ := m.NLL(append(append([]int32{}, p...), c...), len(p), 0)
	s2, n2, _ := m.NLL(tok.Encode("hello world, this is a test"), 1, 0)
	if rep.Sequences != 2 || rep.Tokens != n1+n2 {
		t.Fatalf("report %+v, want 2 sequences and %d tokens", rep, n1+n2)
	}
	if want := math.Exp((s1 + s2) / float64(n1+n2)); math.Abs(rep.Perplexity-want) > 1e-9*want {
		t.Fatalf("perplexity %g, want %g", rep.Perplexity, want)
	}
	// A random model over 300 tokens has perplexity of the order of the vocabulary.
	if rep.Perplexity < 10 || rep.Perplexity > 1e5 {
		t.Fatalf("implausible perplexity %g", rep.Perplexity)
	}
	text := filepath.Join(dir, "d.txt")
	os.WriteFile(text, []byte("hello world, this is a test\n\n"), 0o644)
	code, out, stderr = runCLI(t, "eval", "--model", model, "--data", text)
	if code != 0 || !strings.Contains(out, "perplexity") {
		t.Fatalf("text eval: exit %d out %q err %q", code, out, stderr)
	}
}

func TestEvalBadData(t *testing.T) {
	model := tinyGGUF(t)
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": 3}\n"), 0o644)
	code, _, stderr := runCLI(t, "eval", "--model", model, "--data", bad)
	if code != 1 || !strings.Contains(stderr, "bad.jsonl:2") {
		t.Fatalf("exit %d, stderr %q: want the file:line of the bad record", code, stderr)
	}
	if code, _, _ := runCLI(t, "eval", "--model", model); code != 2 {
		t.Fatalf("missing --data: exit %d, want 2", code)
	}
}

// TestEvalExact: --exact scores with llama.cpp's arithmetic for a record long
// enough (≥ 32 tokens) to take the fast prompt path by default: its
// perplexity is the one an ExactPrompt runtime computes, and the default run
// is the fast path's.
func TestEvalExact(t *testing.T) {
	model := tinyGGUF(t)
	text := strings.TrimSpace(strings.Repeat("the quick brown fox jumps over the lazy dog, ", 4))
	data := filepath.Join(t.TempDir(), "long.txt")
	os.WriteFile(data, []byte(text+"\n"), 0o644)
	want := func(exact bool) float64 {
		m, err := infer.Load(model, infer.Options{ExactPrompt: exact})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		tok, _ := m.Tokenizer()
		ids := tok.Encode(text)
		if m.AddBOS() && m.BOS() >= 0 {
			ids = append([]int32{m.BOS()}, ids...)
		}
		if len(ids) < 40 {
			t.Fatalf("record has %d tokens, want ≥ 40 for the fast path", len(ids))
		}
		s, n, err := m.NLL(ids, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		return math.Exp(s / float64(n))
	}
	for _, exact := range []bool{false, true} {
		args := []string{"eval", "--model", model, "--data", data, "--json"}
		if exact {
			args = append(args, "--exact")
		}
		code, out, stderr := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("exact=%v: exit %d: %s", exact, code, stderr)
		}
		var rep evalReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if w := want(exact); math.Abs(rep.Perplexity-w) > 1e-9*w {
			t.Errorf("exact=%v: perplexity %.12g, want %.12g", exact, rep.Perplexity, w)
		}
	}
}

// eval says what its perplexity measures and on what: completions given
// their prompts, or every token of plain text — and that plain text such as
// the manuals is not what a Q&A student trained on (issue 17, item 8).
func TestEvalLabelsWhatIsMeasured(t *testing.T) {
	model := tinyGGUF(t)
	dir := t.TempDir()
	pairs, text, mixed := filepath.Join(dir, "qa.jsonl"), filepath.Join(dir, "manuals.txt"), filepath.Join(dir, "mixed.jsonl")
	os.WriteFile(pairs, []byte(`{"prompt": "the cat", "completion": " sat on the mat"}`+"\n"), 0o644)
	os.WriteFile(text, []byte("=== MP-1 ===\nReplace the battery pack after 500 charge cycles.\n"), 0o644)
	os.WriteFile(mixed, []byte(`{"prompt": "the cat", "completion": " sat"}`+"\n"+`{"text": "hello world"}`+"\n"), 0o644)
	for _, c := range []struct {
		data      string
		want      []string
		textNote  bool
		jsonField string
	}{
		{pairs, []string{"measured    the completion of each of 1 prompt/completion record given its prompt", "perplexity  ", "= exp(mean NLL)"}, false, "completion"},
		{text, []string{"measured    every token after the first of 2 plain-text sequences", "= exp(mean NLL)"}, true, "plain-text"},
		{mixed, []string{"measured    the completion of each of 1 prompt/completion record given its prompt, and every token after the first of 1 plain-text sequence"}, true, "plain-text"},
	} {
		code, out, stderr := runCLI(t, "eval", "--model", model, "--data", c.data)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.data, code, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", filepath.Base(c.data), w, out)
			}
		}
		if got := strings.Contains(out, "not what a model fine-tuned on prompt/completion pairs trained on"); got != c.textNote {
			t.Errorf("%s: note on plain text shown %v, want %v:\n%s", filepath.Base(c.data), got, c.textNote, out)
		}
		code, out, _ = runCLI(t, "eval", "--model", model, "--data", c.data, "--json")
		var rep map[string]any
		if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil {
			t.Fatalf("%s --json: exit %d, %v", c.data, code, err)
		}
		if m, _ := rep["measured"].(string); !strings.Contains(m, c.jsonField) {
			t.Errorf("%s --json: measured %q, want it to mention %q", filepath.Base(c.data), m, c.jsonField)
		}
	}
}
