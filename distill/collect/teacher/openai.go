package teacher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/distill-ml/distill/distill/collect/retry"
)

// OpenAIConfig configures an OpenAI-compatible teacher.
type OpenAIConfig struct {
	Name      string        `yaml:"name" json:"name"`               // the teacher's name in the policy
	BaseURL   string        `yaml:"base_url" json:"base_url"`       // e.g. http://127.0.0.1:8080/v1
	Model     string        `yaml:"model" json:"model"`             // model id sent to the server
	APIKeyEnv string        `yaml:"api_key_env" json:"api_key_env"` // environment variable holding the key; "" for none
	Mode      string        `yaml:"mode" json:"mode"`               // "chat" or "completion"
	Timeout   time.Duration `yaml:"timeout" json:"timeout"`         // per request
	Remote    *bool         `yaml:"remote" json:"remote"`           // default: true unless the host is loopback
}

// Validate checks the config.
func (c *OpenAIConfig) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is empty"))
	}
	if !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		errs = append(errs, fmt.Errorf("base_url %q must start with http:// or https://", c.BaseURL))
	}
	if c.Model == "" {
		errs = append(errs, errors.New("model is empty"))
	}
	if c.Mode != "chat" && c.Mode != "completion" {
		errs = append(errs, fmt.Errorf("mode %q: want chat or completion", c.Mode))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout %v must be > 0", c.Timeout))
	}
	if c.APIKeyEnv != "" && os.Getenv(c.APIKeyEnv) == "" {
		errs = append(errs, fmt.Errorf("api_key_env: environment variable %s is empty or unset", c.APIKeyEnv))
	}
	if len(errs) > 0 {
		return fmt.Errorf("openai teacher: %w", errors.Join(errs...))
	}
	return nil
}

// OpenAI is a teacher behind an OpenAI-compatible HTTP API.
type OpenAI struct {
	cfg    OpenAIConfig
	client *openai.Client
	key    string
	remote bool
}

type retryAfterKey struct{}

// headerCapture records a response's status and Retry-After header for the
// request's context, since go-openai's errors do not carry headers.
type headerCapture struct{ base http.RoundTripper }

type captured struct {
	mu         sync.Mutex
	retryAfter string
}

func (h headerCapture) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.base.RoundTrip(req)
	if resp != nil {
		if c, ok := req.Context().Value(retryAfterKey{}).(*captured); ok {
			c.mu.Lock()
			c.retryAfter = resp.Header.Get("Retry-After")
			c.mu.Unlock()
		}
	}
	return resp, err
}

// NewOpenAI builds the client; the key is read from cfg.APIKeyEnv now.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key := ""
	if cfg.APIKeyEnv != "" {
		key = os.Getenv(cfg.APIKeyEnv)
	}
	oc := openai.DefaultConfig(key)
	oc.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	oc.HTTPClient = &http.Client{Transport: headerCapture{base: http.DefaultTransport}}
	remote := !isLoopback(cfg.BaseURL)
	if cfg.Remote != nil {
		remote = *cfg.Remote
	}
	return &OpenAI{cfg: cfg, client: openai.NewClientWithConfig(oc), key: key, remote: remote}, nil
}

func isLoopback(u string) bool {
	host := strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	if i := strings.IndexAny(host, "/"); i >= 0 {
		host = host[:i]
	}
	if strings.HasPrefix(host, "[") {
		return strings.HasPrefix(host, "[::1]")
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return host == "localhost" || strings.HasPrefix(host, "127.")
}

// Name implements Teacher.
func (t *OpenAI) Name() string { return t.cfg.Name }

// Remote implements Teacher.
func (t *OpenAI) Remote() bool { return t.remote }

// scrub removes the API key from text.
func (t *OpenAI) scrub(s string) string {
	if t.key == "" {
		return s
	}
	return strings.ReplaceAll(s, t.key, "[REDACTED]")
}

type scrubbed struct{ msg string }

func (s scrubbed) Error() string { return s.msg }

// temperature maps 0 to the smallest positive float32: go-openai omits a zero
// temperature from the request, and servers then apply their default (1.0).
func temperature(t float64) float32 {
	if t <= 0 {
		return math.SmallestNonzeroFloat32
	}
	return float32(t)
}

// Complete implements Teacher.
func (t *OpenAI) Complete(ctx context.Context, req Request) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	cap := &captured{}
	ctx = context.WithValue(ctx, retryAfterKey{}, cap)
	var resp *Response
	var err error
	if t.cfg.Mode == "chat" {
		resp, err = t.chat(ctx, req)
	} else {
		resp, err = t.completion(ctx, req)
	}
	if err != nil {
		return nil, t.classify(err, cap)
	}
	if err := resp.Validate(req.TopLogprobs); err != nil {
		return nil, retry.Transient("bad_logprobs", scrubbed{t.scrub(err.Error())})
	}
	return resp, nil
}

func (t *OpenAI) classify(err error, cap *captured) error {
	cap.mu.Lock()
	ra := cap.retryAfter
	cap.mu.Unlock()
	msg := scrubbed{t.scrub(err.Error())}
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	var syn *json.SyntaxError
	var ute *json.UnmarshalTypeError
	switch {
	case errors.As(err, &apiErr) && apiErr.HTTPStatusCode > 0:
		return retry.FromHTTP(apiErr.HTTPStatusCode, ra, msg)
	case errors.As(err, &reqErr) && reqErr.HTTPStatusCode > 0:
		return retry.FromHTTP(reqErr.HTTPStatusCode, ra, msg)
	case errors.Is(err, context.DeadlineExceeded):
		return retry.Transient("timeout", msg)
	case errors.As(err, &syn), errors.As(err, &ute), strings.Contains(err.Error(), "unexpected end of JSON"), strings.Contains(err.Error(), "unexpected EOF"):
		return retry.Transient("bad_json", msg)
	}
	c := retry.Classify(err)
	return &retry.Error{Transient: c.Transient, Reason: c.Reason, Err: msg}
}

func (t *OpenAI) chat(ctx context.Context, req Request) (*Response, error) {
	var msgs []openai.ChatCompletionMessage
	if req.System != "" {
		msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleSystem, Content: req.System})
	}
	msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleUser, Content: req.Prompt})
	cr := openai.ChatCompletionRequest{
		Model: t.cfg.Model, Messages: msgs, MaxTokens: req.MaxTokens,
		Temperature: temperature(req.Temperature), TopP: float32(req.TopP), Seed: req.Seed, Stop: req.Stop,
	}
	if req.TopLogprobs > 0 {
		cr.LogProbs = true
		cr.TopLogProbs = req.TopLogprobs
	}
	out, err := t.client.CreateChatCompletion(ctx, cr)
	if err != nil {
		return nil, err
	}
	if len(out.Choices) == 0 {
		return nil, retry.Transient("bad_json", errors.New("response has no choices"))
	}
	ch := out.Choices[0]
	r := &Response{Text: ch.Message.Content, FinishReason: string(ch.FinishReason), PromptTokens: out.Usage.PromptTokens, CompletionTokens: out.Usage.CompletionTokens}
	if ch.LogProbs != nil {
		for _, lp := range ch.LogProbs.Content {
			p := Position{Alt: Alt{Token: lp.Token, Bytes: lp.Bytes, Logprob: lp.LogProb}}
			for _, a := range lp.TopLogProbs {
				p.Top = append(p.Top, Alt{Token: a.Token, Bytes: a.Bytes, Logprob: a.LogProb})
			}
			sortTop(p.Top)
			r.Positions = append(r.Positions, p)
		}
	}
	return r, nil
}

func (t *OpenAI) completion(ctx context.Context, req Request) (*Response, error) {
	cr := openai.CompletionRequest{
		Model: t.cfg.Model, Prompt: req.Prompt, MaxTokens: req.MaxTokens,
		Temperature: temperature(req.Temperature), TopP: float32(req.TopP), Stop: req.Stop, LogProbs: req.TopLogprobs,
	}
	if req.Seed != nil {
		cr.Seed = req.Seed
	}
	out, err := t.client.CreateCompletion(ctx, cr)
	if err != nil {
		return nil, err
	}
	if len(out.Choices) == 0 {
		return nil, retry.Transient("bad_json", errors.New("response has no choices"))
	}
	ch := out.Choices[0]
	r := &Response{Text: ch.Text, FinishReason: ch.FinishReason, PromptTokens: out.Usage.PromptTokens, CompletionTokens: out.Usage.CompletionTokens}
	lp := ch.LogProbs
	if req.TopLogprobs > 0 {
		if len(lp.Tokens) != len(lp.TokenLogprobs) || len(lp.TopLogprobs) != len(lp.Tokens) {
			return nil, retry.Transient("bad_logprobs", fmt.Errorf("logprobs lengths differ: tokens %d, token_logprobs %d, top_logprobs %d", len(lp.Tokens), len(lp.TokenLogprobs), len(lp.TopLogprobs)))
		}
		for i, tok := range lp.Tokens {
			p := Position{Alt: Alt{Token: tok, Logprob: float64(lp.TokenLogprobs[i])}}
			for k, v := range lp.TopLogprobs[i] {
				p.Top = append(p.Top, Alt{Token: k, Logprob: float64(v)})
			}
			sortTop(p.Top)
			r.Positions = append(r.Positions, p)
		}
	}
	return r, nil
}
