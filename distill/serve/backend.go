// Package serve exposes a language model as an OpenAI-compatible HTTP server:
// GET /v1/models, POST /v1/completions and POST /v1/chat/completions, with
// streaming (server-sent events) and per-token logprobs/top_logprobs. It is
// how `distill serve` serves an exported student, and the loopback teacher
// that the collection tests talk to through go-openai.
//
// The server works on a Backend (distill's runtime in production, a scripted
// model in unit tests). Each request gets its own session (KV cache); at most
// Options.Parallel requests decode at once and Options.MaxQueue wait their
// turn; beyond that a request gets 429 with Retry-After.
//
// One request cannot hold the server: bodies are capped (MaxBodyBytes), a
// request has at most 4 stop strings of at most 256 bytes, matched in time
// linear in the generation, a prompt too long for the context by its byte
// length is refused before it is tokenized, and every request has a deadline
// (RequestTimeout: queueing, decoding and writing; 504). HTTPServer adds
// ReadTimeout (headers and body; a stalled body gets 408 and is disconnected)
// and IdleTimeout. With Options.APIKey every endpoint but GET /health needs
// "Authorization: Bearer KEY" (401 otherwise); /health stays open for load
// balancers and answers only "ok". Bad requests get 400 with OpenAI's error
// JSON naming the field in "param"; so does a field the server does not
// implement (tools, response_format, ...): refused, never silently ignored.
//
// /v1/completions follows OpenAI's legacy semantics as vLLM does, so that
// lm-evaluation-harness's local-completions model scores loglikelihood
// tasks: the prompt is a string, token ids, or a batch of either; with
// echo the prompt's tokens come first in text and logprobs (tokens,
// token_logprobs with null for the first token, top_logprobs, text_offset),
// and max_tokens may be 0 to score the prompt only.
package serve

import (
	"encoding/json"
	"fmt"

	"github.com/distill-ml/distill/data/chattemplate"
)

// Backend is a loaded model.
type Backend interface {
	ModelID() string
	Encode(text string) []int32
	TokenBytes(id int32) []byte // the text id stands for (empty for control tokens)
	// TokenPiece is the bytes that name id among top_logprobs: TokenBytes, or for
	// a control token, which has no text, its name in the vocabulary (e.g.
	// "<|im_end|>", as llama.cpp reports it), so that a client with the
	// same tokenizer maps every reported token back to its id.
	TokenPiece(id int32) []byte
	EOS() int32 // -1 when the model has none
	VocabSize() int
	ContextLength() int
	// FormatChat renders chat messages into the model's prompt text (with
	// the model's own chat template, ending with its generation prompt).
	FormatChat(msgs []Message) (string, error)
	// EndOfTurn lists the tokens besides EOS that end the assistant's turn
	// (<|im_end|>, <|eot_id|>): a chat completion stops at them.
	EndOfTurn() []int32
	NewSession(ctxLen int) Session
}

// Session is one KV cache: Eval appends tokens and returns the logits of the
// last position, [VocabSize].
type Session interface {
	Eval(tokens []int32) ([]float32, error)
}

// Message is one chat message. Besides role and content it carries the
// fields chat templates read (Qwen3's, for one): an assistant's tool_calls
// and reasoning_content, a tool result's tool_call_id and name.
type Message struct {
	Role             string          `json:"role"`
	Content          string          `json:"content"`
	ReasoningContent *string         `json:"reasoning_content,omitempty"`
	ToolCalls        json.RawMessage `json:"tool_calls,omitempty"`
	ToolCallID       string          `json:"tool_call_id,omitempty"`
	Name             string          `json:"name,omitempty"`
}

// Sampler picks a token from logits; the server builds one per request.
type Sampler interface {
	Sample(logits []float32) int32
}

// SamplerFactory builds a sampler from request settings.
type SamplerFactory func(temperature, topP float64, topK int, seed int64) (Sampler, error)

// TemplateMessages converts chat messages into chat-template values
// (chattemplate.Chat.Render's messages): role and content always, the other
// fields only when set, so that a template's `is defined` tests see what
// the client sent. tool_calls keep their JSON key order.
func TemplateMessages(msgs []Message) ([]chattemplate.Value, error) {
	out := make([]chattemplate.Value, len(msgs))
	for i, m := range msgs {
		d := chattemplate.Message(m.Role, m.Content).(*chattemplate.Dict)
		if m.ReasoningContent != nil {
			d.Set("reasoning_content", *m.ReasoningContent)
		}
		if len(m.ToolCalls) > 0 && string(m.ToolCalls) != "null" {
			calls, err := chattemplate.FromJSON(m.ToolCalls)
			if err != nil {
				return nil, fmt.Errorf("messages[%d].tool_calls: %w", i, err)
			}
			if _, ok := calls.([]chattemplate.Value); !ok {
				return nil, fmt.Errorf("messages[%d].tool_calls: not a list", i)
			}
			d.Set("tool_calls", calls)
		}
		if m.ToolCallID != "" {
			d.Set("tool_call_id", m.ToolCallID)
		}
		if m.Name != "" {
			d.Set("name", m.Name)
		}
		out[i] = d
	}
	return out, nil
}
