package teacher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ErrEchoUnsupported marks an endpoint that cannot score a given sequence
// (no echo, no prompt logprobs, or too few alternatives): the message names
// what it lacks.
var ErrEchoUnsupported = errors.New("endpoint cannot score a given sequence")

type echoUnsupported struct{ msg string }

func (e echoUnsupported) Error() string { return e.msg }
func (echoUnsupported) Unwrap() error   { return ErrEchoUnsupported }

// Echo asks the endpoint to score the token sequence ids without writing
// anything new that matters: POST {base_url}/completions with the prompt as
// token ids, echo: true, logprobs: k, max_tokens: 1, temperature 0 (vLLM's
// semantics: choices[0].logprobs.tokens / token_logprobs / top_logprobs cover
// the prompt, then the one generated token, which is ignored). It returns one
// Position per id (the token as the server names it, its log-probability
// given the tokens before it, the top alternatives sorted descending); position 0 has no log-probability (nothing precedes
// it). An endpoint that ignores echo or returns no prompt logprobs or fewer
// than k alternatives is refused with an error wrapping ErrEchoUnsupported
// that names what it lacks. The API key never appears in errors.
func (t *OpenAI) Echo(ctx context.Context, ids []int32, k int) ([]Position, error) {
	if len(ids) == 0 || k <= 0 {
		return nil, fmt.Errorf("echo: %d tokens, %d alternatives", len(ids), k)
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	body, err := json.Marshal(map[string]any{"model": t.cfg.Model, "prompt": ids, "echo": true, "logprobs": k,
		"max_tokens": 1, "temperature": 0})
	if err != nil {
		return nil, err
	}
	url := strings.TrimSuffix(t.cfg.BaseURL, "/") + "/completions"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, scrubbed{t.scrub(err.Error())}
	}
	req.Header.Set("Content-Type", "application/json")
	if t.key != "" {
		req.Header.Set("Authorization", "Bearer "+t.key)
	}
	resp, err := t.httpc.Do(req)
	if err != nil {
		return nil, scrubbed{t.scrub(fmt.Sprintf("echo %s: %v", t.cfg.Name, err))}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, scrubbed{t.scrub(fmt.Sprintf("echo %s: read response: %v", t.cfg.Name, err))}
	}
	if resp.StatusCode != http.StatusOK {
		snippet := string(raw[:min(len(raw), 300)])
		return nil, echoUnsupported{t.scrub(fmt.Sprintf("teacher %s: /completions with echo: true, logprobs: %d and token-id prompts was answered HTTP %d (%s): the endpoint lacks echo scoring of a given sequence (vLLM supports it)", t.cfg.Name, k, resp.StatusCode, snippet))}
	}
	var out struct {
		Choices []struct {
			Logprobs *struct {
				Tokens        []string             `json:"tokens"`
				TokenLogprobs []*float64           `json:"token_logprobs"`
				TopLogprobs   []map[string]float64 `json:"top_logprobs"`
			} `json:"logprobs"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, scrubbed{t.scrub(fmt.Sprintf("teacher %s: echo response is not JSON: %v", t.cfg.Name, err))}
	}
	lack := func(what string) error {
		return echoUnsupported{fmt.Sprintf("teacher %s: the endpoint lacks %s on /v1/completions (asked echo: true, logprobs: %d for a %d-token prompt)", t.cfg.Name, what, k, len(ids))}
	}
	if len(out.Choices) == 0 {
		return nil, lack("choices in its answer")
	}
	lp := out.Choices[0].Logprobs
	if lp == nil || len(lp.Tokens) == 0 {
		return nil, lack("logprobs")
	}
	if len(lp.Tokens) < len(ids) {
		return nil, lack(fmt.Sprintf("echo (it returned logprobs for %d tokens, not the prompt's %d)", len(lp.Tokens), len(ids)))
	}
	if len(lp.TokenLogprobs) < len(ids) || len(lp.TopLogprobs) < len(ids) {
		return nil, lack(fmt.Sprintf("prompt logprobs (token_logprobs %d, top_logprobs %d for %d prompt tokens)", len(lp.TokenLogprobs), len(lp.TopLogprobs), len(ids)))
	}
	pos := make([]Position, len(ids))
	for i := range ids {
		pos[i].Alt = Alt{Token: lp.Tokens[i], ID: -1}
		if i == 0 {
			continue
		}
		if lp.TokenLogprobs[i] == nil || len(lp.TopLogprobs[i]) < k {
			return nil, lack(fmt.Sprintf("top_logprobs over the prompt (position %d has %d alternatives, asked %d)", i, len(lp.TopLogprobs[i]), k))
		}
		pos[i].Logprob = *lp.TokenLogprobs[i]
		for tok, v := range lp.TopLogprobs[i] {
			pos[i].Top = append(pos[i].Top, Alt{Token: tok, Logprob: v, ID: -1})
		}
		sortTop(pos[i].Top)
	}
	if err := (&Response{Positions: pos[1:]}).Validate(k); err != nil {
		return nil, fmt.Errorf("teacher %s: echo logprobs (from the prompt's second token): %w", t.cfg.Name, err)
	}
	return pos, nil
}
