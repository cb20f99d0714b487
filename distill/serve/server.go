package serve

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/distill-ml/distill/num/fastmath"
)

// Request limits. OpenAI accepts at most 4 stop strings; it documents no
// length for one, 256 bytes is far beyond any real stop sequence.
const (
	defaultMaxStops     = 4
	defaultMaxStopBytes = 256
	defaultRetryAfter   = time.Second
	// maxReadHeaderTimeout caps the time to receive a request's headers.
	maxReadHeaderTimeout = 10 * time.Second
)

// Defaults of the Options that `distill serve` exposes as flags.
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultMaxQueue       = 16
	DefaultRequestTimeout = 5 * time.Minute
	DefaultReadTimeout    = 30 * time.Second
	DefaultIdleTimeout    = 2 * time.Minute
)

// Options configure the server.
type Options struct {
	Parallel       int   // concurrent decodes; default 1
	MaxTokens      int   // cap on max_tokens; default the context length
	MaxTopLogprobs int   // cap on top_logprobs / logprobs; default 20
	MaxBodyBytes   int64 // request body limit; default 1 MiB
	MaxStops       int   // stop strings per request; default 4
	MaxStopBytes   int   // bytes per stop string; default 256
	NewSampler     SamplerFactory

	// MaxQueue is how many generation requests may wait for a decode slot;
	// beyond it they get 429 with Retry-After (RetryAfter, default 1 s).
	// Default 16.
	MaxQueue   int
	RetryAfter time.Duration
	// RequestTimeout bounds a generation request from its arrival: waiting
	// for a slot, decoding and writing the answer. Default 5 minutes.
	RequestTimeout time.Duration
	// ReadTimeout bounds reading a request (headers and body); IdleTimeout
	// how long a keep-alive connection may wait for its next request.
	// Defaults 30 s and 2 minutes. They apply through HTTPServer.
	ReadTimeout, IdleTimeout time.Duration
	// APIKey, when set, is required as "Authorization: Bearer KEY" on every
	// endpoint but /health.
	APIKey string
	// Clock is the time source for request deadlines; default time.Now.
	Clock func() time.Time
}

// Server is the HTTP handler.
type Server struct {
	b     Backend
	opt   Options
	slots chan struct{}
	seq   atomic.Int64
	mux   *http.ServeMux
	// queued counts generation requests waiting for a slot.
	queued atomic.Int64
	// maxPromptBytes is the longest prompt text that might fit the context:
	// longer ones are refused before they are tokenized.
	maxPromptBytes int
	// keyHash is the SHA-256 of Options.APIKey (compared in constant time).
	keyHash [sha256.Size]byte
}

// positiveOr sets an option that is not positive to its default.
func positiveOr[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// New builds a server for b.
func New(b Backend, opt Options) (*Server, error) {
	positiveOr(&opt.Parallel, 1)
	if opt.MaxTokens <= 0 {
		opt.MaxTokens = b.ContextLength()
	}
	positiveOr(&opt.MaxTopLogprobs, 20)
	positiveOr(&opt.MaxBodyBytes, DefaultMaxBodyBytes)
	positiveOr(&opt.MaxStops, defaultMaxStops)
	positiveOr(&opt.MaxStopBytes, defaultMaxStopBytes)
	positiveOr(&opt.MaxQueue, DefaultMaxQueue)
	positiveOr(&opt.RetryAfter, defaultRetryAfter)
	positiveOr(&opt.RequestTimeout, DefaultRequestTimeout)
	positiveOr(&opt.ReadTimeout, DefaultReadTimeout)
	positiveOr(&opt.IdleTimeout, DefaultIdleTimeout)
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.NewSampler == nil {
		return nil, errors.New("serve: Options.NewSampler is required")
	}
	for _, c := range []byte(opt.APIKey) {
		if c <= ' ' || c >= 0x7f {
			return nil, errors.New("serve: the API key must be printable ASCII without spaces")
		}
	}
	s := &Server{b: b, opt: opt, slots: make(chan struct{}, opt.Parallel), mux: http.NewServeMux(),
		maxPromptBytes: maxPromptBytes(b), keyHash: sha256.Sum256([]byte(opt.APIKey))}
	s.mux.HandleFunc("GET /v1/models", s.models)
	s.mux.HandleFunc("POST /v1/completions", s.completions)
	s.mux.HandleFunc("POST /v1/chat/completions", s.chat)
	s.mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	return s, nil
}

// HTTPServer is an http.Server for s with its timeouts: ReadTimeout for a
// request's headers and body, IdleTimeout between keep-alive requests. There
// is no WriteTimeout: ServeHTTP gives each response its RequestTimeout.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{Handler: s, ReadHeaderTimeout: min(maxReadHeaderTimeout, s.opt.ReadTimeout),
		ReadTimeout: s.opt.ReadTimeout, IdleTimeout: s.opt.IdleTimeout}
}

// ServeHTTP implements http.Handler: bearer authentication (but for
// /health), then the request's deadline, RequestTimeout from now, on its
// context and on writing its response.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opt.APIKey != "" && r.URL.Path != "/health" && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="distill"`)
		writeError(w, &apiError{status: http.StatusUnauthorized, message: "missing or wrong API key: send it as \"Authorization: Bearer KEY\"",
			typ: "invalid_request_error", code: "invalid_api_key"})
		return
	}
	deadline := s.opt.Clock().Add(s.opt.RequestTimeout)
	// A connection's write deadline outlives the request: set it every time
	// (ErrNotSupported from a recorder is fine).
	http.NewResponseController(w).SetWriteDeadline(deadline)
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	s.mux.ServeHTTP(w, r.WithContext(ctx))
}

// authorized reports whether r carries the API key as a bearer token. Both
// sides are hashed first so the comparison takes the same time whatever the
// length or content of the guess.
func (s *Server) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], s.keyHash[:]) == 1
}

// maxPromptBytes bounds the bytes of a prompt that can fit b's context: a
// prompt needs at least one token per longest-token's bytes, and a Unicode
// normalizer (NFKC) can shrink text up to utf8.UTFMax times first (𝐀 → A).
func maxPromptBytes(b Backend) int {
	longest := 1
	for id := range b.VocabSize() {
		longest = max(longest, len(b.TokenBytes(int32(id))))
	}
	return (b.ContextLength() - 1) * longest * utf8.UTFMax
}

// checkPromptBytes refuses a prompt text that cannot fit the context, before
// it is tokenized.
func (s *Server) checkPromptBytes(param, text string) error {
	if len(text) > s.maxPromptBytes {
		return badRequest(param, "%s of %d bytes cannot fit the %d-token context (at most %d bytes)", param, len(text), s.b.ContextLength(), s.maxPromptBytes)
	}
	return nil
}

type apiError struct {
	status     int
	message    string
	typ        string
	param      string
	code       string // OpenAI's error code; "" for null
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.message }

func badRequest(param, format string, args ...any) *apiError {
	return &apiError{status: 400, message: fmt.Sprintf(format, args...), typ: "invalid_request_error", param: param}
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{status: 500, message: err.Error(), typ: "server_error"}
	}
	var param, code any
	if ae.param != "" {
		param = ae.param
	}
	if ae.code != "" {
		code = ae.code
	}
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ae.retryAfter.Seconds()))))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ae.status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": ae.message, "type": ae.typ, "param": param, "code": code}})
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": []any{
		map[string]any{"id": s.b.ModelID(), "object": "model", "created": 0, "owned_by": "distill"},
	}})
}

// stopList accepts a string or an array of strings; params checks them.
type stopList []string

func (l *stopList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		if one != "" {
			*l = []string{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return badRequest("stop", "stop must be a string or an array of strings")
	}
	*l = many
	return nil
}

// common request fields.
type genRequest struct {
	Model       string   `json:"model"`
	MaxTokens   *int     `json:"max_tokens"`
	MaxCompl    *int     `json:"max_completion_tokens"`
	Temperature *float64 `json:"temperature"`
	TopP        *float64 `json:"top_p"`
	TopK        int      `json:"top_k"`
	Seed        *int64   `json:"seed"`
	Stop        stopList `json:"stop"`
	Stream      bool     `json:"stream"`
	N           *int     `json:"n"`
	// Accepted only at their neutral values (the server implements no
	// penalties or biases); User is metadata with no effect on the output.
	PresencePenalty  float64            `json:"presence_penalty"`
	FrequencyPenalty float64            `json:"frequency_penalty"`
	LogitBias        map[string]float64 `json:"logit_bias"`
	User             string             `json:"user"`
}

type genParams struct {
	promptParam string // the request field the prompt comes from
	maxTokens   int
	temperature float64
	topP        float64
	topK        int
	seed        int64
	stop        []string
	stopIDs     []int32 // tokens that end the generation besides EOS (a chat turn's end)
	topN        int     // alternatives per position; -1: no logprobs at all
	// echo: emit the prompt's tokens (with their logprobs, the first one
	// without) before the completion, as OpenAI's legacy completions do.
	echo bool
}

func (s *Server) params(g *genRequest, promptParam string, defMax int, topN int) (genParams, error) {
	return s.paramsMin(g, promptParam, defMax, topN, 1)
}

// paramsMin is params with minTokens the smallest max_tokens accepted (0 for
// an echo request, which may only score its prompt).
func (s *Server) paramsMin(g *genRequest, promptParam string, defMax, topN, minTokens int) (genParams, error) {
	p := genParams{promptParam: promptParam, maxTokens: defMax, temperature: 1, topP: 1, topK: g.TopK, stop: g.Stop, topN: topN}
	if g.Model != "" && g.Model != s.b.ModelID() {
		return p, &apiError{status: 404, message: fmt.Sprintf("model %q not found; this server has %q", g.Model, s.b.ModelID()), typ: "invalid_request_error", param: "model"}
	}
	if g.N != nil && *g.N != 1 {
		return p, badRequest("n", "only n=1 is supported")
	}
	if g.MaxCompl != nil {
		p.maxTokens = *g.MaxCompl
	} else if g.MaxTokens != nil {
		p.maxTokens = *g.MaxTokens
	}
	if p.maxTokens < minTokens || p.maxTokens > s.opt.MaxTokens {
		return p, badRequest("max_tokens", "max_tokens %d must be in [%d, %d]", p.maxTokens, minTokens, s.opt.MaxTokens)
	}
	switch {
	case g.PresencePenalty != 0:
		return p, badRequest("presence_penalty", "presence_penalty is not supported (only 0)")
	case g.FrequencyPenalty != 0:
		return p, badRequest("frequency_penalty", "frequency_penalty is not supported (only 0)")
	case len(g.LogitBias) > 0:
		return p, badRequest("logit_bias", "logit_bias is not supported (only an empty object)")
	}
	if g.Temperature != nil {
		p.temperature = *g.Temperature
	}
	if math.IsNaN(p.temperature) || p.temperature < 0 || p.temperature > 2 {
		return p, badRequest("temperature", "temperature must be in [0, 2]")
	}
	if p.temperature < 1e-6 { // go-openai sends the smallest float for 0
		p.temperature = 0
	}
	if g.TopP != nil {
		p.topP = *g.TopP
	}
	if math.IsNaN(p.topP) || p.topP <= 0 || p.topP > 1 {
		return p, badRequest("top_p", "top_p must be in (0, 1]")
	}
	if p.topK < 0 {
		return p, badRequest("top_k", "top_k must be >= 0")
	}
	if g.Seed != nil {
		p.seed = *g.Seed
	}
	if len(p.stop) > s.opt.MaxStops {
		return p, badRequest("stop", "at most %d stop strings, got %d", s.opt.MaxStops, len(p.stop))
	}
	for i, st := range p.stop {
		if st == "" {
			return p, badRequest("stop", "stop string %d is empty", i)
		}
		if len(st) > s.opt.MaxStopBytes {
			return p, badRequest("stop", "stop string %d is %d bytes, at most %d", i, len(st), s.opt.MaxStopBytes)
		}
	}
	if p.topN > s.opt.MaxTopLogprobs {
		return p, badRequest("top_logprobs", "at most %d alternatives per token", s.opt.MaxTopLogprobs)
	}
	return p, nil
}

// token is one generated token with its logprob and alternatives.
type token struct {
	id      int32
	bytes   []byte // the text it adds (Backend.TokenBytes), which logprobs report
	logprob float32
	top     []alt
	// unscored: the first echoed prompt token, which nothing predicts
	// (null logprob and top_logprobs).
	unscored bool
}

// alt is one alternative. Logprobs name it by its piece: a control token
// among the alternatives needs a name to be told apart and mapped back to
// its id, while the chosen token reports its text, so that the tokens still
// spell the completion (a chosen control token adds no text).
type alt struct {
	id      int32
	piece   []byte // Backend.TokenPiece
	logprob float32
}

// generate runs one decode; emit receives text deltas (held back while they
// might start a stop string) with the tokens that completed them.
func (s *Server) generate(ctx context.Context, prompt []int32, p genParams, emit func(text string, toks []token) error) (finish string, completion int, err error) {
	if len(prompt) == 0 {
		return "", 0, badRequest(p.promptParam, "the prompt encodes to no tokens")
	}
	if len(prompt) >= s.b.ContextLength() {
		return "", 0, badRequest(p.promptParam, "prompt of %d tokens does not fit the %d-token context", len(prompt), s.b.ContextLength())
	}
	if err := s.acquireSlot(ctx); err != nil {
		return "", 0, err
	}
	defer func() { <-s.slots }()
	smp, err := s.opt.NewSampler(p.temperature, p.topP, p.topK, p.seed)
	if err != nil {
		return "", 0, badRequest("temperature", "%v", err)
	}
	sess := s.b.NewSession(s.b.ContextLength())
	var logits []float32
	if p.echo {
		var echoed []token
		if echoed, logits, err = s.scorePrompt(sess, prompt, p.topN); err != nil {
			return "", 0, err
		}
		var text []byte
		for _, t := range echoed {
			text = append(text, t.bytes...)
		}
		if err := emit(string(text), echoed); err != nil {
			return "", 0, err
		}
	} else if logits, err = sess.Eval(prompt); err != nil {
		return "", 0, err
	}
	eos := s.b.EOS()
	var text []byte
	emitted := 0
	var pending []token
	stops := newStopMatcher(p.stop)
	maxNew := min(p.maxTokens, s.b.ContextLength()-len(prompt))
	finish = "length"
	for n := 0; n < maxNew; n++ {
		if err := s.expired(ctx); err != nil {
			return "", completion, err
		}
		id := smp.Sample(logits)
		if id == eos || slices.Contains(p.stopIDs, id) {
			finish = "stop"
			break
		}
		tok := token{id: id, bytes: s.b.TokenBytes(id)}
		if p.topN >= 0 {
			tok.logprob, tok.top = logSoftmaxTop(logits, id, p.topN, s.b.TokenPiece)
		}
		completion++
		text = append(text, tok.bytes...)
		pending = append(pending, tok)
		cut, stopped, hold := stops.feed(text)
		if stopped {
			text = text[:cut]
			finish = "stop"
			break
		}
		// Also hold back an incomplete UTF-8 sequence at the end.
		upto := len(text) - hold
		for upto > emitted && !utf8.Valid(text[emitted:upto]) && len(text)-upto < 4 {
			upto--
		}
		if upto > emitted {
			if err := emit(string(text[emitted:upto]), pending); err != nil {
				return "", completion, err
			}
			emitted, pending = upto, nil
		}
		if n+1 < maxNew {
			if logits, err = sess.Eval([]int32{id}); err != nil {
				return "", completion, err
			}
		}
	}
	if len(text) > emitted || len(pending) > 0 {
		if err := emit(string(text[emitted:]), pending); err != nil {
			return "", completion, err
		}
	}
	return finish, completion, nil
}

// allLogitsSession is a Session that returns the logits of every position
// of one evaluation, [len(tokens)·VocabSize] (the runtime's batched prompt):
// echo needs it.
type allLogitsSession interface {
	EvalAll(tokens []int32) ([]float32, error)
}

// scorePrompt evaluates the prompt and returns its tokens with the
// log-probability the model gives each one after the tokens before it
// (the first one is unscored), and the logits after the last one.
func (s *Server) scorePrompt(sess Session, prompt []int32, topN int) ([]token, []float32, error) {
	v := s.b.VocabSize()
	// rows[i]: the logits after prompt[:i+1], [len(prompt)][VocabSize].
	rows := make([][]float32, len(prompt))
	all, ok := sess.(allLogitsSession)
	if !ok {
		return nil, nil, badRequest("echo", "echo is not supported by this backend (its sessions cannot return every position's logits)")
	}
	flat, err := all.EvalAll(prompt)
	if err != nil {
		return nil, nil, err
	}
	if len(flat) != len(prompt)*v {
		return nil, nil, fmt.Errorf("echo: the backend returned %d logits for %d tokens of vocabulary %d", len(flat), len(prompt), v)
	}
	for i := range rows {
		rows[i] = flat[i*v : (i+1)*v]
	}
	toks := make([]token, len(prompt))
	for i, id := range prompt {
		toks[i] = token{id: id, bytes: s.b.TokenBytes(id), unscored: i == 0}
		if i > 0 && topN >= 0 {
			toks[i].logprob, toks[i].top = logSoftmaxTop(rows[i-1], id, topN, s.b.TokenPiece)
		}
	}
	return toks, rows[len(rows)-1], nil
}

// logSoftmaxTop returns the chosen token's logprob and the topN alternatives
// of the model's distribution (temperature 1), sorted descending.
func logSoftmaxTop(logits []float32, chosen int32, topN int, piece func(int32) []byte) (float32, []alt) {
	lse := fastmath.LogSumExp(logits)
	lp := func(i int) float32 { return float32(float64(logits[i]) - lse) }
	var top []alt
	if topN > 0 {
		// Partial selection: keep the topN best ids (ties: lower id first).
		idx := make([]int32, 0, topN+1)
		for i := range logits {
			pos := len(idx)
			for pos > 0 && logits[idx[pos-1]] < logits[i] {
				pos--
			}
			if pos >= topN {
				continue
			}
			idx = append(idx, 0)
			copy(idx[pos+1:], idx[pos:])
			idx[pos] = int32(i)
			if len(idx) > topN {
				idx = idx[:topN]
			}
		}
		for _, id := range idx {
			top = append(top, alt{id: id, piece: piece(id), logprob: lp(int(id))})
		}
	}
	return lp(int(chosen)), top
}

// acquireSlot waits for a decode slot, unless MaxQueue requests already wait
// (429), the request's deadline passes (504) or its client goes away.
func (s *Server) acquireSlot(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	default:
	}
	if s.queued.Add(1) > int64(s.opt.MaxQueue) {
		s.queued.Add(-1)
		return &apiError{status: http.StatusTooManyRequests, typ: "server_busy", code: "queue_full", retryAfter: s.opt.RetryAfter,
			message: fmt.Sprintf("the server is busy: %d requests decoding and %d waiting; retry later", s.opt.Parallel, s.opt.MaxQueue)}
	}
	defer s.queued.Add(-1)
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return s.expired(ctx)
	}
}

// expired is the error that ends a request whose deadline has passed (by
// Options.Clock or by its context) or whose client went away; nil otherwise.
func (s *Server) expired(ctx context.Context) error {
	d, ok := ctx.Deadline()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || ok && !s.opt.Clock().Before(d) {
		return &apiError{status: http.StatusGatewayTimeout, typ: "server_error", code: "timeout",
			message: fmt.Sprintf("the request exceeded its deadline of %v (RequestTimeout)", s.opt.RequestTimeout)}
	}
	return ctx.Err()
}

func (s *Server) newID(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().Unix(), s.seq.Add(1))
}

func decodeBody(w http.ResponseWriter, r *http.Request, s *Server, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, s.opt.MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var (
		ae      *apiError
		tooBig  *http.MaxBytesError
		typeErr *json.UnmarshalTypeError
		netErr  net.Error
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &netErr) && netErr.Timeout():
		return &apiError{status: http.StatusRequestTimeout, typ: "invalid_request_error", message: "the request body did not arrive within the read timeout"}
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &tooBig):
		return badRequest("", "request body is larger than %d bytes", tooBig.Limit)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return unsupportedField(strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.As(err, &typeErr) && typeErr.Field != "":
		field := strings.TrimPrefix(typeErr.Field, "genRequest.") // the embedded common fields
		return badRequest(field, "%s must be of JSON type %s, got %s", field, jsonType(typeErr.Type), typeErr.Value)
	}
	return badRequest("", "invalid JSON body: %v", err)
}

// unsupportedField is the 400 for a request field the server does not
// implement: refused, never silently ignored. quoted is the field name as
// encoding/json quotes it.
func unsupportedField(quoted string) error {
	name, err := strconv.Unquote(quoted)
	if err != nil {
		name = quoted
	}
	why := "this server does not implement it"
	switch name {
	case "tools", "tool_choice", "functions", "function_call", "parallel_tool_calls":
		why = "tool calling is not supported"
	case "response_format":
		why = "structured output (response_format) is not supported"
	}
	return badRequest(name, "unsupported field %q: %s, and refuses it rather than ignore it", name, why)
}

// jsonType names the JSON type a Go type decodes from.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.String()
}

// tokenString is the token's text, or OpenAI's "bytes:\xNN" form when it is
// not valid UTF-8 on its own.
func tokenString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.WriteString("bytes:")
	for _, c := range b {
		fmt.Fprintf(&sb, "\\x%02x", c)
	}
	return sb.String()
}

func byteInts(b []byte) []int {
	out := make([]int, len(b))
	for i, c := range b {
		out[i] = int(c)
	}
	return out
}

// sse is a server-sent-events response; it starts with the first event, so
// an error before it is still an HTTP error status.
type sse struct {
	w       http.ResponseWriter
	f       http.Flusher
	started bool
}

func newSSE(w http.ResponseWriter) *sse {
	f, _ := w.(http.Flusher)
	return &sse{w: w, f: f}
}

func (e *sse) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if !e.started {
		e.w.Header().Set("Content-Type", "text/event-stream")
		e.w.Header().Set("Cache-Control", "no-cache")
		e.started = true
	}
	if _, err := fmt.Fprintf(e.w, "data: %s\n\n", b); err != nil {
		return err
	}
	if e.f != nil {
		e.f.Flush()
	}
	return nil
}

// fail ends the response with err: an HTTP error before the first event,
// an error event after it.
func (e *sse) fail(err error) {
	if !e.started {
		writeError(e.w, err)
		return
	}
	e.send(map[string]any{"error": map[string]any{"message": err.Error()}})
}

func (e *sse) done() {
	io.WriteString(e.w, "data: [DONE]\n\n")
	if e.f != nil {
		e.f.Flush()
	}
}
