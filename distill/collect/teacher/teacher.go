// Package teacher is the interface collection uses to ask a teacher model for
// a completion with per-token log-probabilities, and its OpenAI-compatible
// implementation (github.com/sashabaranov/go-openai) for any endpoint that
// speaks /v1/chat/completions or /v1/completions.
//
// Responses are validated before anything is stored: every generated token
// must come with its log-probability, top alternatives sorted descending,
// finite and ≤ 0. A response that fails is a transient "bad_logprobs" or
// "bad_json" error (the collector retries within its budget, then records the
// prompt as failed). The API key is read from an environment variable named in
// the config, never logged, and scrubbed from every error.
package teacher

import (
	"context"
	"fmt"
	"math"
	"sort"
)

// Request is one prompt for the teacher.
type Request struct {
	ID          string
	Prompt      string // completion mode: the raw prompt; chat mode: the user message
	System      string // chat mode: optional system message
	MaxTokens   int
	Temperature float64
	TopP        float64
	TopLogprobs int // alternatives per position (0: no logprobs)
	Seed        *int
	Stop        []string
}

// Alt is one alternative token at a position.
type Alt struct {
	Token   string  // the token's text as the server reports it
	Bytes   []byte  // the token's exact bytes when the server reports them
	Logprob float64 // natural log
}

// Position is one generated token with its top alternatives.
type Position struct {
	Alt
	Top []Alt // sorted by Logprob descending
}

// Response is a validated teacher answer.
type Response struct {
	Text             string
	Positions        []Position // one per generated token; empty when logprobs were not requested
	FinishReason     string
	PromptTokens     int
	CompletionTokens int
}

// Teacher answers requests.
type Teacher interface {
	// Name identifies the teacher in the policy and in dataset provenance.
	Name() string
	// Remote reports whether requests leave the process over the network.
	Remote() bool
	Complete(ctx context.Context, req Request) (*Response, error)
}

// Validate checks a response's log-probabilities: finite, ≤ 0, top lists
// sorted descending, no duplicates, and the chosen token present among the top
// alternatives when it should be (its logprob ≥ the last alternative's).
func (r *Response) Validate(wantLogprobs int) error {
	if wantLogprobs > 0 && r.CompletionTokens > 0 && len(r.Positions) == 0 {
		return fmt.Errorf("no logprobs returned for %d generated tokens", r.CompletionTokens)
	}
	for i, p := range r.Positions {
		if err := checkLP(p.Logprob); err != nil {
			return fmt.Errorf("position %d token %q: %w", i, p.Token, err)
		}
		if wantLogprobs > 0 && len(p.Top) == 0 {
			return fmt.Errorf("position %d: no top_logprobs", i)
		}
		seen := map[string]bool{}
		for k, a := range p.Top {
			if err := checkLP(a.Logprob); err != nil {
				return fmt.Errorf("position %d top %d %q: %w", i, k, a.Token, err)
			}
			if k > 0 && a.Logprob > p.Top[k-1].Logprob {
				return fmt.Errorf("position %d: top_logprobs not sorted (%g after %g)", i, a.Logprob, p.Top[k-1].Logprob)
			}
			key := a.Token
			if a.Bytes != nil {
				key = string(a.Bytes)
			}
			if seen[key] {
				return fmt.Errorf("position %d: token %q listed twice in top_logprobs", i, a.Token)
			}
			seen[key] = true
		}
		var mass float64
		for _, a := range p.Top {
			mass += math.Exp(a.Logprob)
		}
		if mass > 1+1e-3 {
			return fmt.Errorf("position %d: top_logprobs sum to probability %.4f > 1", i, mass)
		}
	}
	return nil
}

func checkLP(lp float64) error {
	if math.IsNaN(lp) || math.IsInf(lp, 0) {
		return fmt.Errorf("logprob %v is not finite", lp)
	}
	if lp > 1e-6 {
		return fmt.Errorf("logprob %v > 0", lp)
	}
	return nil
}

// sortTop sorts alternatives by logprob descending, ties by token for determinism.
func sortTop(top []Alt) {
	sort.SliceStable(top, func(i, j int) bool {
		if top[i].Logprob != top[j].Logprob {
			return top[i].Logprob > top[j].Logprob
		}
		return top[i].Token < top[j].Token
	})
}
