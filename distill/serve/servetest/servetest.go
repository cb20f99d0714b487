// Package servetest provides a scripted byte-level model for tests of the
// OpenAI-compatible server and of collection through it: ids 0..255 are
// bytes, 256 is end-of-sequence. Whatever the prompt, the model continues
// with a script chosen from the prompt, then EOS; its logits put 5 on the
// scripted byte, 2 on the next byte value and 0 elsewhere, so every
// log-probability is known in closed form. Client serves a handler over
// loopback HTTP to an OpenAI client for the length of a test.
package servetest

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"github.com/distill-ml/distill/distill/serve"
)

// Client serves h over loopback HTTP until the test ends and returns the
// server and an OpenAI client of its /v1 API sending key as the bearer token.
func Client(tb testing.TB, h http.Handler, key string) (*httptest.Server, *openai.Client) {
	tb.Helper()
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	cfg := openai.DefaultConfig(key)
	cfg.BaseURL = srv.URL + "/v1"
	return srv, openai.NewClientWithConfig(cfg)
}

// EOS is the end-of-sequence id.
const EOS = 256

// Model is the scripted backend. Script maps a prompt to its continuation;
// nil means Default.
type Model struct {
	Default string
	Script  func(prompt []byte) string
	// EndOfTurnIDs are the ids that end a chat turn (serve.Backend.EndOfTurn).
	EndOfTurnIDs []int32
}

// ScriptedLogprob is the log-probability of every scripted byte.
var ScriptedLogprob = 5 - math.Log(math.Exp(5)+math.Exp(2)+255)

// ModelID implements serve.Backend.
func (m Model) ModelID() string { return "byte-model" }

// Encode maps bytes to ids.
func (m Model) Encode(s string) []int32 {
	ids := make([]int32, len(s))
	for i := 0; i < len(s); i++ {
		ids[i] = int32(s[i])
	}
	return ids
}

// TokenBytes implements serve.Backend.
func (m Model) TokenBytes(id int32) []byte {
	if id < 0 || id >= EOS {
		return nil
	}
	return []byte{byte(id)}
}

// EOSPiece names EOS in logprobs.
const EOSPiece = "</s>"

// TokenPiece implements serve.Backend: TokenBytes, and EOSPiece for EOS.
func (m Model) TokenPiece(id int32) []byte {
	if id == EOS {
		return []byte(EOSPiece)
	}
	return m.TokenBytes(id)
}

// EOS implements serve.Backend.
func (m Model) EOS() int32 { return EOS }

// VocabSize implements serve.Backend.
func (m Model) VocabSize() int { return 257 }

// ContextLength implements serve.Backend.
func (m Model) ContextLength() int { return 1024 }

// FormatChat renders "role: content" lines and an "assistant:" cue.
func (m Model) FormatChat(msgs []serve.Message) (string, error) {
	var b strings.Builder
	for _, x := range msgs {
		if x.Role != "user" && x.Role != "system" && x.Role != "assistant" {
			return "", fmt.Errorf("unknown role %q", x.Role)
		}
		fmt.Fprintf(&b, "%s: %s\n", x.Role, x.Content)
	}
	return b.String() + "assistant:", nil
}

// EndOfTurn implements serve.Backend.
func (m Model) EndOfTurn() []int32 { return m.EndOfTurnIDs }

// NewSession implements serve.Backend.
func (m Model) NewSession(int) serve.Session { return &session{m: m} }

type session struct {
	m      Model
	prompt []byte
	script []byte
	n      int // evals after the prompt
}

func (s *session) Eval(tokens []int32) ([]float32, error) {
	if s.script == nil {
		for _, t := range tokens {
			s.prompt = append(s.prompt, byte(t))
		}
		sc := s.m.Default
		if s.m.Script != nil {
			sc = s.m.Script(s.prompt)
		}
		s.script = []byte(sc)
	}
	logits := make([]float32, 257)
	if s.n < len(s.script) {
		logits[s.script[s.n]] = 5
		logits[(int(s.script[s.n])+1)%256] = 2
	} else {
		logits[EOS] = 5
	}
	s.n++
	return logits, nil
}

// EvalAll evaluates a prompt on a fresh session and returns the logits of
// every position, [len(tokens)·257]: all zero (uniform) inside the prompt,
// which the model knows nothing about, and after its last token the same
// logits as Eval (the script's first byte). Echo scores prompts with it.
func (s *session) EvalAll(tokens []int32) ([]float32, error) {
	if s.script != nil || len(tokens) == 0 {
		return nil, fmt.Errorf("servetest: EvalAll takes a whole prompt on a fresh session")
	}
	last, err := s.Eval(tokens)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(tokens)*257)
	copy(out[(len(tokens)-1)*257:], last)
	return out, nil
}

// Greedy picks the largest logit (lowest id on ties).
type Greedy struct{}

// Sample implements serve.Sampler.
func (Greedy) Sample(l []float32) int32 {
	best := 0
	for i, v := range l {
		if v > l[best] {
			best = i
		}
	}
	return int32(best)
}

// GreedyFactory ignores sampling settings.
func GreedyFactory(float64, float64, int, int64) (serve.Sampler, error) { return Greedy{}, nil }

// Tokenizer is the byte tokenizer matching Model, for collection tests.
type Tokenizer struct{}

// Encode maps bytes to ids.
func (Tokenizer) Encode(s string) []int32 { return Model{}.Encode(s) }

// Hash identifies the byte tokenizer.
func (Tokenizer) Hash() string { return "sha256:servetest-bytes" }

// VocabSize is 257.
func (Tokenizer) VocabSize() int { return 257 }

// IDForBytes maps a single byte to its id, and EOSPiece to EOS.
func (Tokenizer) IDForBytes(b []byte) (int32, bool) {
	if string(b) == EOSPiece {
		return EOS, true
	}
	if len(b) != 1 {
		return 0, false
	}
	return int32(b[0]), true
}
