package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/distill/engine"
	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/internal/testmodel"
	"github.com/distill-ml/distill/model/infer"
)

// TestCollectFromDistillServeStoresRuntimeTopK: `distill collect` with an
// OpenAI teacher pointed at `distill serve` over loopback HTTP, serving a
// small random GGUF with the student's own tokenizer (tokenizer_hash set),
// stores every row with teacher top-k, and the stored top-k ids equal the
// runtime's own top-k at each completion position, with logprobs within the
// dataset's 1/128-nat storage error — in chat and in completion mode.
func TestCollectFromDistillServeStoresRuntimeTopK(t *testing.T) {
	tok := testmodel.Tokenizer(t)
	path := testmodel.GGUF(t, tok, "teacher.gguf", 5)
	m, err := engine.Load(path, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	srv, err := serve.New(m, serve.Options{NewSampler: engine.Sampler, MaxTopLogprobs: 8})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	const k, n = 8, 8
	for _, mode := range []string{"chat", "completion"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			var b strings.Builder
			for i := 0; i < n; i++ {
				// Completion mode gets the chat template's text, so that both
				// modes decode from the same tokens.
				prompt := fmt.Sprintf("Replace the scanner battery %d times?", i)
				if mode == "completion" {
					if prompt, err = m.FormatChat([]serve.Message{{Role: "user", Content: prompt}}); err != nil {
						t.Fatal(err)
					}
				}
				line, _ := json.Marshal(Prompt{ID: fmt.Sprintf("p%d", i), Prompt: prompt, Class: "public"})
				b.Write(append(line, '\n'))
			}
			if err := os.WriteFile(filepath.Join(dir, "prompts.jsonl"), []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := Config{
				Prompts: filepath.Join(dir, "prompts.jsonl"), Out: filepath.Join(dir, "out"), Policy: "policy.yaml", Tokenizer: "tokenizer.json",
				Teacher: TeacherConfig{Kind: "openai", TokenizerHash: tok.Hash(), OpenAI: &teacher.OpenAIConfig{
					Name: "remote-teacher", BaseURL: hs.URL + "/v1", Model: m.ModelID(), Mode: mode, Timeout: time.Minute}},
				Sampling:    Sampling{MaxTokens: 24},
				TopK:        k,
				Concurrency: 2,
				SegmentRows: 10,
				Retry:       RetryConfig{MaxAttempts: 1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond},
			}
			cfg.Defaults()
			tt, err := teacher.NewOpenAI(*cfg.Teacher.OpenAI)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := Run(context.Background(), Options{Config: cfg, Teacher: tt, Tokenizer: tok, EOS: tok.Special().EOS, Policy: localPolicy(t), Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			recs := readDataset(t, filepath.Join(cfg.Out, DatasetDir))
			if len(recs) != n {
				t.Fatalf("%d rows stored, want %d (summary %+v)", len(recs), n, sum)
			}
			v := m.Runtime().Hyper.VocabSize
			checked, control, partial := 0, 0, 0
			for id, rec := range recs {
				if rec.TopKIDs == nil {
					t.Errorf("%s: stored CE-only (%s)", id, rec.Provenance)
					continue
				}
				// The tokens the server evaluated: the chat template or the raw prompt.
				text := rec.Prompt
				if mode == "chat" {
					if text, err = m.FormatChat([]serve.Message{{Role: "user", Content: rec.Prompt}}); err != nil {
						t.Fatal(err)
					}
				}
				served := m.Encode(text)
				comp := rec.Tokens[rec.PromptLen:]
				full := append(append([]int32{}, served...), comp...)
				logits, err := m.Runtime().NewSession(128).EvalAll(full[:len(full)-1])
				if err != nil {
					t.Fatal(err)
				}
				if len(rec.TopKIDs) != len(comp)*k {
					t.Fatalf("%s: %d top-k ids for %d completion tokens", id, len(rec.TopKIDs), len(comp))
				}
				for j := range comp {
					row := logits[(len(served)-1+j)*v : (len(served)+j)*v]
					var z float64
					for _, x := range row {
						z += math.Exp(float64(x))
					}
					order := make([]int, v)
					for i := range order {
						order[i] = i
					}
					sort.SliceStable(order, func(a, b int) bool { return row[order[a]] > row[order[b]] })
					for r := 0; r < k; r++ {
						want := float64(row[order[r]]) - math.Log(z)
						got := rec.TopKIDs[j*k+r]
						lp := float64(rec.TopKLogprobs[j*k+r])
						if got != int32(order[r]) || math.Abs(lp-want) > 1.0/128+1e-4 {
							t.Fatalf("%s position %d rank %d: stored id %d logprob %.5f, runtime id %d logprob %.5f", id, j, r, got, lp, order[r], want)
						}
						if len(m.TokenBytes(got)) == 0 {
							control++
						}
						if !utf8.Valid(m.TokenBytes(got)) {
							partial++
						}
					}
					checked++
				}
			}
			// The cases this test is for: control tokens (no text of their
			// own) and byte tokens that are not UTF-8 alone among the
			// alternatives.
			if !t.Failed() && (checked == 0 || control == 0 || partial == 0) {
				t.Fatalf("%d completion positions compared, with %d control-token and %d non-UTF-8 alternatives: the fixture no longer covers both", checked, control, partial)
			}
		})
	}
}
