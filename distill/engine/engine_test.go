package engine

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/distill/serve/servetest"
	"github.com/distill-ml/distill/internal/testmodel"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/model/infer/infertest"
)

// writeTestModel exports a random-weight student with a trained tokenizer.
func writeTestModel(t *testing.T) (string, *tokenizer.Tokenizer) {
	t.Helper()
	tok := testmodel.Tokenizer(t)
	return testmodel.GGUF(t, tok, "student-f32.gguf", 7), tok
}

func TestEngineMatchesRuntimeAndTokenizer(t *testing.T) {
	path, tok := writeTestModel(t)
	m, err := Load(path, infer.Options{})
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
	ref, err := m.Runtime().NewSession(128).Generate(prompt, infer.GenerateOptions{MaxTokens: 12, IgnoreEOS: false})
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
	// The gate's estimate is what a session holds once its 128-token
	// context is full.
	sess := m.Runtime().NewSession(128)
	if _, err := sess.Eval(full[:1]); err != nil {
		t.Fatal(err)
	}
	for sess.Pos() < 128 {
		if _, err := sess.Eval([]int32{full[sess.Pos()%len(full)]}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := m.KVCacheBytes(128), sess.KVCacheBytes(); got != want {
		t.Fatalf("KVCacheBytes %d, runtime session at 128 tokens %d", got, want)
	}
}

// ctx16mModel writes a small GGUF declaring llama.context_length =
// 16777216, as in issue 16.
func ctx16mModel(t *testing.T) string {
	t.Helper()
	return infertest.WriteTemp(t, "ctx16m.gguf", infertest.SmallSpec("Q8_0", 1<<24))
}

// checkCappedSessions checks m's context cap and that a session the server
// opens at that cap allocates only for the tokens it evaluates.
func checkCappedSessions(t *testing.T, m *Model, want int) {
	t.Helper()
	if got := m.ContextLength(); got != want {
		t.Fatalf("ContextLength %d, want %d", got, want)
	}
	sess := m.NewSession(m.ContextLength())
	if _, err := sess.Eval([]int32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	// 256 positions (the first chunk) × 2 layers × K,V × 32 channels × 2 B
	if got, want := sess.(*infer.Session).KVCacheBytes(), int64(256*2*2*32*2); got != want {
		t.Errorf("KV cache %d bytes after 3 tokens, want %d", got, want)
	}
}

// A GGUF declaring 16M positions is served with a 4096-token cap by
// default (before: sessions of 16M positions, fatal error: out of memory).
func TestHugeDeclaredContextIsCapped(t *testing.T) {
	m, err := Load(ctx16mModel(t), infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	checkCappedSessions(t, m, 4096)
}

// infer.Options.Context (serve --ctx) sets the cap; one whose KV cache
// cannot fit is refused at Load with the knob named.
func TestContextOptionCapsSessions(t *testing.T) {
	path := ctx16mModel(t)
	m, err := Load(path, infer.Options{Context: 512})
	if err != nil {
		t.Fatal(err)
	}
	checkCappedSessions(t, m, 512)
	m.Close()
	if _, err := Load(path, infer.Options{Context: 1 << 24, MemoryLimit: 1 << 30}); err == nil || !strings.Contains(err.Error(), "--ctx") {
		t.Fatalf("a 16M-token cap in 1 GiB: err %v, want a refusal naming --ctx", err)
	}
}

func TestServeRealModelThroughGoOpenAI(t *testing.T) {
	path, _ := writeTestModel(t)
	m, err := Load(path, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := serve.New(m, serve.Options{NewSampler: Sampler})
	if err != nil {
		t.Fatal(err)
	}
	_, c := servetest.Client(t, s, "")
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

// TestTokenizeFollowsAddBOS: Tokenize and Encode put the tokenizer's BOS
// first exactly when the file sets tokenizer.ggml.add_bos_token, and
// WithoutBOS overrides the file.
func TestTokenizeFollowsAddBOS(t *testing.T) {
	tok := testmodel.Tokenizer(t)
	bos := tok.Special().BOS
	if bos < 0 {
		t.Fatal("test tokenizer has no BOS")
	}
	text := "Replace the scanner battery"
	plain := tok.Encode(text)
	for _, c := range []struct {
		name   string
		addBOS bool
		opts   []Option
		want   []int32
	}{
		{"add_bos_token", true, nil, append([]int32{bos}, plain...)},
		{"add_bos_token, WithoutBOS", true, []Option{WithoutBOS()}, plain},
		{"no add_bos_token", false, nil, plain},
	} {
		path := testmodel.GGUF(t, tok, "plain.gguf", 7)
		if c.addBOS {
			path = testmodel.GGUFAddBOS(t, tok, "bos.gguf", 7)
		}
		m, err := Load(path, infer.Options{}, c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		got, enc := m.Tokenize(text), m.Encode(text)
		m.Close()
		if !slices.Equal(got, c.want) || !slices.Equal(enc, c.want) {
			t.Errorf("%s: Tokenize %v, Encode %v, want %v", c.name, got, enc, c.want)
		}
	}
}

// TestFormatChatUsesTheModelTemplate: chat prompts are the GGUF's own
// tokenizer.chat_template rendered with the generation prompt (not
// hand-built ChatML), a leading BOS text is left to add_bos_token, and the
// turn ends at the tokenizer's end-of-turn token.
func TestFormatChatUsesTheModelTemplate(t *testing.T) {
	const tmpl = "{{ bos_token }}{% for m in messages %}### {{ m.role|capitalize }}: {{ m.content }}<|im_end|>{% endfor %}{% if add_generation_prompt %}### Assistant:{% endif %}"
	texts := make([]string, 50)
	for i := range texts {
		texts[i] = "Replace the scanner battery after 500 charge cycles [§3.2]."
	}
	tok, err := tokenizer.TrainStrings(texts, tokenizer.TrainConfig{VocabSize: 300, ChatTemplate: tmpl}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(testmodel.GGUF(t, tok, "tmpl.gguf", 7), infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := m.FormatChat([]serve.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Battery?"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "### System: Be brief.<|im_end|>### User: Battery?<|im_end|>### Assistant:"; got != want {
		t.Fatalf("FormatChat = %q, want %q", got, want)
	}
	if eot := m.EndOfTurn(); len(eot) != 1 || eot[0] != tok.Special().ImEnd {
		t.Fatalf("EndOfTurn = %v, want [<|im_end|> %d]", eot, tok.Special().ImEnd)
	}
}
