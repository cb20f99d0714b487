package serve_test

import (
	"encoding/json"
	"testing"

	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/distill/serve/servetest"
)

// TestChatStopsAtEndOfTurn: a chat completion ends where the model closes
// its turn (the template's end-of-turn token, e.g. <|im_end|>), with
// finish_reason "stop", as llama.cpp's server does; a plain completion of
// the same model runs on through it.
func TestChatStopsAtEndOfTurn(t *testing.T) {
	m := servetest.Model{Default: "Report it.|user: more", EndOfTurnIDs: []int32{'|'}}
	s, err := serve.New(m, serve.Options{NewSampler: servetest.GreedyFactory})
	if err != nil {
		t.Fatal(err)
	}
	rec, e := post(t, s, "/v1/chat/completions", `{"messages":[{"role":"user","content":"Dropped scanner?"}],"max_tokens":40}`)
	if rec.Code != 200 {
		t.Fatalf("chat: %d %s", rec.Code, e)
	}
	var chat struct {
		Choices []struct {
			Message      serve.Message `json:"message"`
			FinishReason string        `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &chat); err != nil {
		t.Fatal(err)
	}
	if c := chat.Choices[0]; c.Message.Content != "Report it." || c.FinishReason != "stop" || chat.Usage.CompletionTokens != len("Report it.") {
		t.Fatalf("chat answered %q (finish %q, %d tokens), want %q ended by the end-of-turn token", c.Message.Content, c.FinishReason, chat.Usage.CompletionTokens, "Report it.")
	}
	rec, e = post(t, s, "/v1/completions", `{"prompt":"Dropped scanner?","max_tokens":40}`)
	if rec.Code != 200 {
		t.Fatalf("completion: %d %s", rec.Code, e)
	}
	var compl struct {
		Choices []struct {
			Text string `json:"text"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &compl); err != nil {
		t.Fatal(err)
	}
	if got := compl.Choices[0].Text; got != m.Default {
		t.Fatalf("completion %q, want the whole script %q", got, m.Default)
	}
}
