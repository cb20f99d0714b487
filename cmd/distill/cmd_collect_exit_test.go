package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/distill/collect"
)

// A collection whose teacher refuses every request stores nothing: that run
// exits 1 and names the failure reasons, instead of exit 0 with "0 rows stored".
func TestCollectNothingStoredExitsNonZero(t *testing.T) {
	dir := t.TempDir()
	teacher := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
	}))
	defer teacher.Close()
	_, tokPath := writeTrainedTokenizer(t, filepath.Join(dir, "tokenizer.json"), 300, "Replace the scanner battery after 500 charge cycles.")
	var pb strings.Builder
	for i := 0; i < 4; i++ {
		fmt.Fprintf(&pb, `{"prompt":"Replace the scanner battery %d","class":"public"}`+"\n", i)
	}
	writeFile(t, filepath.Join(dir, "prompts.jsonl"), pb.String())
	writeFile(t, filepath.Join(dir, "policy.yaml"), e2ePolicy)
	cfg := fmt.Sprintf(`prompts: %s
out: %s
policy: %s
tokenizer: %s
teacher:
  kind: openai
  openai: {name: served-teacher, base_url: %s/v1, model: m, mode: chat, timeout: 5s}
sampling: {max_tokens: 8, temperature: 0}
top_k: 4
concurrency: 1
segment_rows: 4
retry: {max_attempts: 1, base_delay: 1ms, max_delay: 1ms}
`, filepath.Join(dir, "prompts.jsonl"), filepath.Join(dir, "out"), filepath.Join(dir, "policy.yaml"), tokPath, teacher.URL)
	cfgPath := filepath.Join(dir, "collect.yaml")
	writeFile(t, cfgPath, cfg)

	code, stdout, stderr := runCLI(t, "collect", "--config", cfgPath)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stdout %q stderr %q", code, stdout, stderr)
	}
	for _, want := range []string{"no rows stored", "4 of 4 prompts failed", "http_400 4"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not mention %q", stderr, want)
		}
	}
	if !strings.Contains(stdout, "0 rows stored") {
		t.Errorf("the summary is still printed: stdout %q", stdout)
	}
}

// writeTrainedTokenizer trains a byte-level BPE tokenizer of vocab ids on
// texts and saves it at path.
func writeTrainedTokenizer(t *testing.T, path string, vocab int, texts ...string) (*tokenizer.Tokenizer, string) {
	t.Helper()
	tok, err := tokenizer.TrainStrings(texts, tokenizer.TrainConfig{VocabSize: vocab}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Save(path); err != nil {
		t.Fatal(err)
	}
	return tok, path
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The summary names the shard as a shard ("collect shard 0/1:", not a bare
// "collect 0/1:" that reads like a progress count) (issue 17, item 11).
func TestCollectSummaryLabelsTheShard(t *testing.T) {
	var out bytes.Buffer
	printCollectSummary(&app{stdout: &out, stderr: &out}, "kd", &collect.Summary{Shard: "0/1", Prompts: 10, Rows: 10, TeacherRows: 10, Tokens: 99, Complete: true})
	if first, _, _ := strings.Cut(out.String(), "\n"); !strings.HasPrefix(first, "collect shard 0/1: 10 prompts") {
		t.Fatalf("summary line %q", first)
	}
	err := collectOutcome("kd", &collect.Summary{Shard: "1/2", Prompts: 3, Failed: 3})
	if err == nil || !strings.HasPrefix(err.Error(), "collect shard 1/2: no rows stored") {
		t.Fatalf("outcome %v", err)
	}
}
