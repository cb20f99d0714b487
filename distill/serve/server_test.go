package serve_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/distill/serve/servetest"
)

func newTestServer(t *testing.T, script string) (*httptest.Server, *openai.Client) {
	t.Helper()
	s, err := serve.New(servetest.Model{Default: script}, serve.Options{NewSampler: servetest.GreedyFactory})
	if err != nil {
		t.Fatal(err)
	}
	return servetest.Client(t, s, "unused")
}

// The logprob of the scripted byte: logits 5 and 2 and 255 zeros.
var wantLP = float32(servetest.ScriptedLogprob)

func TestChatThroughGoOpenAI(t *testing.T) {
	_, c := newTestServer(t, "Hi é!")
	resp, err := c.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{
		Model: "byte-model", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "hello"}},
		MaxTokens: 32, LogProbs: true, TopLogProbs: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	ch := resp.Choices[0]
	if ch.Message.Content != "Hi é!" || ch.FinishReason != "stop" {
		t.Fatalf("content %q finish %q", ch.Message.Content, ch.FinishReason)
	}
	if resp.Usage.CompletionTokens != 6 || resp.Usage.PromptTokens != len("user: hello\nassistant:") {
		t.Fatalf("usage %+v", resp.Usage)
	}
	lps := ch.LogProbs.Content
	if len(lps) != 6 {
		t.Fatalf("%d logprob positions", len(lps))
	}
	var joined []byte
	for _, p := range lps {
		joined = append(joined, p.Bytes...)
		if math.Abs(p.LogProb-float64(wantLP)) > 1e-5 || len(p.TopLogProbs) != 2 || p.TopLogProbs[0].LogProb < p.TopLogProbs[1].LogProb {
			t.Fatalf("position %+v", p)
		}
	}
	if string(joined) != "Hi é!" {
		t.Fatalf("bytes %q", joined)
	}
	if !strings.HasPrefix(lps[3].Token, "bytes:\\x") {
		t.Fatalf("half of é should be reported as bytes: %q", lps[3].Token)
	}
}

func TestCompletionLogprobsAndStop(t *testing.T) {
	_, c := newTestServer(t, "Answer [§4.2].\nMore text")
	resp, err := c.CreateCompletion(context.Background(), openai.CompletionRequest{
		Model: "byte-model", Prompt: "Q?", MaxTokens: 64, LogProbs: 3, Stop: []string{"\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ch := resp.Choices[0]
	if ch.Text != "Answer [§4.2]." || ch.FinishReason != "stop" {
		t.Fatalf("text %q finish %q", ch.Text, ch.FinishReason)
	}
	if len(ch.LogProbs.Tokens) != len(ch.LogProbs.TopLogprobs) || len(ch.LogProbs.TopLogprobs[0]) != 3 {
		t.Fatalf("logprobs %+v", ch.LogProbs)
	}
	resp, err = c.CreateCompletion(context.Background(), openai.CompletionRequest{Model: "byte-model", Prompt: "Q?", MaxTokens: 3})
	if err != nil || resp.Choices[0].Text != "Ans" || resp.Choices[0].FinishReason != "length" {
		t.Fatalf("%+v %v", resp, err)
	}
}

func TestStreamingDeltasAreValidUTF8AndComplete(t *testing.T) {
	_, c := newTestServer(t, "né€!")
	st, err := c.CreateChatCompletionStream(context.Background(), openai.ChatCompletionRequest{
		Model: "byte-model", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "x"}}, MaxTokens: 20, Stream: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got strings.Builder
	finish := ""
	for {
		chunk, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(chunk.Choices) == 0 {
			continue
		}
		d := chunk.Choices[0].Delta.Content
		if strings.ContainsRune(d, '\uFFFD') {
			t.Fatalf("delta %q splits a UTF-8 sequence", d)
		}
		got.WriteString(d)
		if chunk.Choices[0].FinishReason != "" {
			finish = string(chunk.Choices[0].FinishReason)
		}
	}
	if got.String() != "né€!" || finish != "stop" {
		t.Fatalf("streamed %q finish %q", got.String(), finish)
	}
}

func TestRequestErrors(t *testing.T) {
	srv, c := newTestServer(t, "x")
	_, err := c.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{Model: "other", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "x"}}, MaxTokens: 2})
	var ae *openai.APIError
	if !errors.As(err, &ae) || ae.HTTPStatusCode != 404 {
		t.Fatalf("unknown model: %v", err)
	}
	_, err = c.CreateCompletion(context.Background(), openai.CompletionRequest{Model: "byte-model", Prompt: "x", MaxTokens: 100000})
	if !errors.As(err, &ae) || ae.HTTPStatusCode != 400 {
		t.Fatalf("max_tokens: %v", err)
	}
	for _, body := range []string{`{"prompt":`, `{"prompt":"x","n":2}`, `{"prompt":[]}`, `{"prompt":[[1],[300]]}`, `{"prompt":"x","stop":[""]}`, `{"prompt":["a","b"],"stream":true}`} {
		resp, err := http.Post(srv.URL+"/v1/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), `"error"`) {
			t.Errorf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
	ms, err := c.ListModels(context.Background())
	if err != nil || len(ms.Models) != 1 || ms.Models[0].ID != "byte-model" {
		t.Fatalf("models %+v %v", ms, err)
	}
}

// TestLogprobsNameControlTokens: with every token among the alternatives,
// end-of-sequence (a control token with no text) is reported by its name,
// in chat (token and bytes) and in the legacy completion map, never as "",
// so that a client with the same tokenizer can map it back to its id.
func TestLogprobsNameControlTokens(t *testing.T) {
	s, err := serve.New(servetest.Model{Default: "ok"}, serve.Options{NewSampler: servetest.GreedyFactory, MaxTopLogprobs: 257})
	if err != nil {
		t.Fatal(err)
	}
	_, c := servetest.Client(t, s, "unused")
	chat, err := c.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{
		Model: "byte-model", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "hello"}},
		MaxTokens: 8, LogProbs: true, TopLogProbs: 257,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range chat.Choices[0].LogProbs.Content {
		named := 0
		for _, a := range p.TopLogProbs {
			if a.Token == "" || len(a.Bytes) == 0 {
				t.Fatalf("chat position %d: alternative with no name: %+v", i, a)
			}
			if a.Token == servetest.EOSPiece && string(a.Bytes) == servetest.EOSPiece {
				named++
			}
		}
		if named != 1 || len(p.TopLogProbs) != 257 {
			t.Fatalf("chat position %d: %d alternatives, end-of-sequence named %s %d times", i, len(p.TopLogProbs), servetest.EOSPiece, named)
		}
	}
	cmpl, err := c.CreateCompletion(context.Background(), openai.CompletionRequest{Model: "byte-model", Prompt: "hello", MaxTokens: 8, LogProbs: 257})
	if err != nil {
		t.Fatal(err)
	}
	for i, top := range cmpl.Choices[0].LogProbs.TopLogprobs {
		if _, ok := top[servetest.EOSPiece]; !ok || len(top) != 257 {
			t.Fatalf("completion position %d: %d alternatives, end-of-sequence among them as %s: %v", i, len(top), servetest.EOSPiece, ok)
		}
	}
}
