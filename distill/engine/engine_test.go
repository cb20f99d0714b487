package engine

import (
	"context"
	"math"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"net/http/httptest"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/internal/testmodel"
	"github.com/distill-ml/distill/model/runtime"
)

// writeTestModel exports a random-weight student with a trained tokenizer.
func writeTestModel(t *testing.T) (string, *tokenizer.Tokenizer) {
	t.Helper()
	tok := testmodel.Tokenizer(t)
	return testmodel.GGUF(t, tok, "student-f32.gguf", 7), tok
}

func TestEngineMatchesRuntimeAndTokenizer(t *testing.T) {
	path, tok := writeTestModel(t)
	m, err := Load(path, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.TokenizerHash() != tok.Hash() {
		t.Fatalf("tokenizer rebuilt from GGUF hashes %s, original %s", m.TokenizerHash(), tok.Hash())
	}
	prompt := m.Tokenize("Replace the scanner battery after")
	var ids []int32
	out, err := m.Generate(prompt, 12, nil, false, func(id int32) bool { ids = append(ids, id); return true })
	if err != nil {
		t.Fatal(err)
	}
	ref, err := m.Runtime().NewSession(128).Generate(prompt, runtime.GenerateOptions{MaxTokens: 12, IgnoreEOS: false})
	if err != nil {
		t.Fatal(err)
	}
	if out != string(ref.Text) {
		t.Fatalf("engine greedy %q, runtime greedy %q", out, ref.Text)
	}
	full := append(append([]int32{}, prompt...), ids...)
	lps, err := m.LogProbs(full, len(prompt)-1)
	if err != nil {
		t.Fatal(err)
	}
	for k, row := range lps {
		var s float64
		best := 0
		for i, v := range row {
			s += math.Exp(float64(v))
			if v > row[best] {
				best = i
			}
		}
		if math.Abs(s-1) > 1e-4 {
			t.Fatalf("row %d sums to %v", k, s)
		}
		if k < len(ids) && int32(best) != ids[k] {
			t.Fatalf("position %d: argmax %d, greedy chose %d", k, best, ids[k])
		}
	}
	if got, want := m.KVCacheBytes(128), m.Runtime().NewSession(128).KVCacheBytes(); got != want {
		t.Fatalf("KVCacheBytes %d, runtime session %d", got, want)
	}
}

func TestServeRealModelThroughGoOpenAI(t *testing.T) {
	path, _ := writeTestModel(t)
	m, err := Load(path, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := serve.New(m, serve.Options{NewSampler: Sampler})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	defer hs.Close()
	cfg := openai.DefaultConfig("")
	cfg.BaseURL = hs.URL + "/v1"
	c := openai.NewClientWithConfig(cfg)
	resp, err := c.CreateCompletion(context.Background(), openai.CompletionRequest{Model: "student-f32", Prompt: "Replace the scanner", MaxTokens: 8, LogProbs: 3, Temperature: math.SmallestNonzeroFloat32})
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Generate(m.Tokenize("Replace the scanner"), 8, nil, false, func(int32) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Text != want {
		t.Fatalf("served %q, engine %q", resp.Choices[0].Text, want)
	}
	if n := len(resp.Choices[0].LogProbs.Tokens); n == 0 || strings.Join(resp.Choices[0].LogProbs.Tokens, "") != want {
		t.Fatalf("logprob tokens %q do not spell %q", resp.Choices[0].LogProbs.Tokens, want)
	}
}
