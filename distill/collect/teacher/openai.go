package teacher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
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
	BaseURL   string        `yaml:"base_url" json:"base_url"`       // e.g. http://127.0.0.1:8080/v1; no user info
	Model     string        `yaml:"model" json:"model"`             // model id sent to the server
	APIKeyEnv string        `yaml:"api_key_env" json:"api_key_env"` // environment variable holding the key; "" for none
	Mode      string        `yaml:"mode" json:"mode"`               // "chat" or "completion"
	Timeout   time.Duration `yaml:"timeout" json:"timeout"`         // per request
	// Remote: whether the teacher is off this machine. Default: true unless
	// every address of the host is loopback. true forces remote (e.g. a tunnel
	// on localhost to another machine); false is refused unless the host is
	// loopback. A teacher that is not remote dials loopback addresses only.
	Remote *bool `yaml:"remote" json:"remote"`
}

// Validate checks the config.
func (c *OpenAIConfig) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is empty"))
	}
	if u, err := url.Parse(c.BaseURL); err != nil {
		var ue *url.Error // its text repeats the URL, which may hold a password
		if errors.As(err, &ue) {
			err = ue.Err
		}
		errs = append(errs, fmt.Errorf("base_url: %v", err))
	} else if u.Scheme != "http" && u.Scheme != "https" {
		errs = append(errs, fmt.Errorf("base_url %q must start with http:// or https://", u.Redacted()))
	} else if u.User != nil {
		// http://127.0.0.1@host/ is host, not 127.0.0.1: user info only misleads.
		errs = append(errs, fmt.Errorf("base_url %q carries user info (the part before @); the host is %q: remove it (the key goes in api_key_env)", u.Redacted(), u.Hostname()))
	} else if u.Hostname() == "" {
		errs = append(errs, fmt.Errorf("base_url %q has no host", u.Redacted()))
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
	cfg      OpenAIConfig
	client   *openai.Client
	httpc    openai.HTTPDoer // the client's transport (loopback-only when local), for Echo
	key      string
	remote   bool
	deadline func(ctx context.Context, req Request, timeout time.Duration) (context.Context, context.CancelFunc)
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

// Resolver looks up a host's addresses; *net.Resolver implements it.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Env is what an OpenAI teacher takes from its surroundings. Zero fields
// are the system's; tests replace them to run without DNS or a wall clock.
type Env struct {
	// Resolver resolves the base URL's host (default net.DefaultResolver).
	Resolver Resolver
	// Deadline returns the context one request runs under, ended once
	// timeout has passed (default context.WithTimeout). It is given the
	// request so that a fake clock can end one request's deadline.
	Deadline func(ctx context.Context, req Request, timeout time.Duration) (context.Context, context.CancelFunc)
}

// NewOpenAI builds the client; the key is read from cfg.APIKeyEnv now.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) { return NewOpenAIWith(cfg, Env{}) }

// NewOpenAIWith is NewOpenAI in the given environment.
func NewOpenAIWith(cfg OpenAIConfig, env Env) (*OpenAI, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key := ""
	if cfg.APIKeyEnv != "" {
		key = os.Getenv(cfg.APIKeyEnv)
	}
	if env.Resolver == nil {
		env.Resolver = net.DefaultResolver
	}
	if env.Deadline == nil {
		env.Deadline = func(ctx context.Context, _ Request, timeout time.Duration) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, timeout)
		}
	}
	u, _ := url.Parse(cfg.BaseURL) // checked by Validate
	host := u.Hostname()
	// Remote unless every address of the host is loopback, decided on the
	// parsed URL's host after resolution (not on the URL's text:
	// http://127.teacher.example.com is a name like any other).
	var remote bool
	switch {
	case cfg.Remote != nil && *cfg.Remote:
		remote = true
	case cfg.Remote != nil:
		if _, err := loopbackAddrs(context.Background(), env.Resolver, host); err != nil {
			return nil, fmt.Errorf("openai teacher %s: remote: false, but %v; a teacher declared local must be on this machine's loopback interface", cfg.Name, err)
		}
	default:
		remote = !isLoopbackHost(context.Background(), env.Resolver, host)
	}
	oc := openai.DefaultConfig(key)
	oc.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	capture := func(rt http.RoundTripper) http.RoundTripper { return headerCapture{base: rt} }
	if remote {
		oc.HTTPClient = &http.Client{Transport: capture(http.DefaultTransport)}
	} else {
		oc.HTTPClient = loopbackOnlyClient(env.Resolver, capture)
	}
	return &OpenAI{cfg: cfg, client: openai.NewClientWithConfig(oc), httpc: oc.HTTPClient, key: key, remote: remote, deadline: env.Deadline}, nil
}

// Name implements Teacher.
func (t *OpenAI) Name() string { return t.cfg.Name }

// Remote implements Teacher. A teacher that is not remote refuses, at dial
// time, every address that is not loopback (see loopbackOnlyClient).
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

// notLoopback is a scrubbed refusal that still matches ErrNotLoopback.
type notLoopback struct{ scrubbed }

func (notLoopback) Unwrap() error { return ErrNotLoopback }

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
	reqCtx, cancel := t.deadline(ctx, req, t.cfg.Timeout)
	defer cancel()
	cap := &captured{}
	reqCtx = context.WithValue(reqCtx, retryAfterKey{}, cap)
	var resp *Response
	var err error
	if t.cfg.Mode == "chat" {
		resp, err = t.chat(reqCtx, req)
	} else {
		resp, err = t.completion(reqCtx, req)
	}
	if err != nil {
		// The request's own deadline ended while the caller's context did not: a timeout.
		timedOut := reqCtx.Err() != nil && ctx.Err() == nil
		return nil, t.classify(err, cap, timedOut)
	}
	if err := resp.Validate(req.TopLogprobs); err != nil {
		return nil, retry.Transient("bad_logprobs", scrubbed{t.scrub(err.Error())})
	}
	return resp, nil
}

func (t *OpenAI) classify(err error, cap *captured, timedOut bool) error {
	cap.mu.Lock()
	ra := cap.retryAfter
	cap.mu.Unlock()
	msg := scrubbed{t.scrub(err.Error())}
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	var syn *json.SyntaxError
	var ute *json.UnmarshalTypeError
	switch {
	case errors.Is(err, ErrNotLoopback):
		return retry.Permanent("not_loopback", notLoopback{msg})
	case timedOut:
		return retry.Transient("timeout", msg)
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
