// Package engine is distill's runtime as the CLI, the gate, the server and
// the pipeline see it: a GGUF loaded by model/infer together with the
// tokenizer embedded in the file (data/tokenizer rebuilt from the
// tokenizer.ggml.* keys). A Model implements gate.Model and serve.Backend.
//
// The engine owns how a text becomes the tokens the model is fed: the
// embedded tokenizer's encoding, with BOS first when the file sets
// tokenizer.ggml.add_bos_token (Tokenize, Encode). It also owns scoring a
// dataset (Eval: `distill eval`), which uses the gate's rule for where a
// completion starts, so `distill eval`, the gate and the server score the
// same text identically.
package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distill-ml/distill/data/chattemplate"
	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/distill/gate"
	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/num/fastmath"
)

// Model is a loaded GGUF with its tokenizer.
type Model struct {
	rt      *infer.Model
	tok     *tokenizer.Tokenizer
	tokHash string
	id      string
	bos     int32 // the token Tokenize puts first; -1: none
	chat    *chattemplate.Chat
	chatErr error // why chat is unavailable (no or unparsable template)
}

// Option adjusts how Load sets up a Model.
type Option func(*Model)

// WithoutBOS makes Tokenize and Encode never prepend BOS, even when the
// file asks for it (`--no-bos`).
func WithoutBOS() Option { return func(m *Model) { m.bos = -1 } }

// Load opens path with the runtime and its embedded tokenizer.
// opts.Context caps the context length sessions get (see
// infer.Options.Context); Load refuses a cap whose KV cache does not fit.
// BOS is prepended to every text when the file sets
// tokenizer.ggml.add_bos_token and has a BOS token, unless WithoutBOS.
func Load(path string, opts infer.Options, o ...Option) (*Model, error) {
	rt, err := infer.Load(path, opts)
	if err != nil {
		return nil, err
	}
	tok, err := rt.Tokenizer()
	if err != nil {
		rt.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if tok == nil {
		rt.Close()
		return nil, fmt.Errorf("%s: no tokenizer.ggml.* vocabulary in the file", path)
	}
	m := &Model{rt: rt, tok: tok, tokHash: tok.Hash(), id: strings.TrimSuffix(filepath.Base(path), ".gguf"), bos: -1}
	if rt.AddBOS() && rt.BOS() >= 0 {
		m.bos = rt.BOS()
	}
	m.chat, m.chatErr = chatFor(tok)
	for _, f := range o {
		f(m)
	}
	return m, nil
}

// Runtime is the underlying runtime model.
func (m *Model) Runtime() *infer.Model { return m.rt }

// Tokenizer is the embedded tokenizer.
func (m *Model) Tokenizer() *tokenizer.Tokenizer { return m.tok }

// Close releases the model.
func (m *Model) Close() error { return m.rt.Close() }

// Tokenize implements gate.Model: text as the model is fed it, the
// embedded tokenizer's encoding after BOS when the file asks for BOS.
func (m *Model) Tokenize(text string) []int32 {
	if m.bos < 0 {
		return m.tok.Encode(text)
	}
	return append([]int32{m.bos}, m.tok.Encode(text)...)
}

// AddsBOS reports whether Tokenize and Encode put BOS first.
func (m *Model) AddsBOS() bool { return m.bos >= 0 }

// TokenizerHash implements gate.Model.
func (m *Model) TokenizerHash() string { return m.tokHash }

// KVCacheBytes implements gate.Model: the runtime's cache at ctx positions.
func (m *Model) KVCacheBytes(ctx int) int64 { return m.rt.KVCacheBytes(ctx) }

// Generate implements gate.Model: greedy decoding token by token.
func (m *Model) Generate(prompt []int32, maxNew int, stop []string, ignoreEOS bool, onToken func(id int32) bool) (string, error) {
	if len(prompt) == 0 {
		return "", errors.New("generate: empty prompt")
	}
	ctx := min(m.rt.ContextLength(), len(prompt)+maxNew)
	sess := m.rt.NewSession(ctx)
	logits, err := sess.Eval(prompt)
	if err != nil {
		return "", err
	}
	eos := m.rt.EOS()
	var text []byte
	for n := 0; n < maxNew && len(prompt)+n < ctx; n++ {
		id := infer.Argmax(logits)
		if id == eos && !ignoreEOS {
			break
		}
		b, _ := m.rt.TokenBytes(id)
		text = append(text, b...)
		if !onToken(id) {
			break
		}
		if cut, ok := stopAt(text, stop); ok {
			text = text[:cut]
			break
		}
		if n+1 < maxNew && len(prompt)+n+1 < ctx {
			if logits, err = sess.Eval([]int32{id}); err != nil {
				return string(text), err
			}
		}
	}
	return string(text), nil
}

func stopAt(text []byte, stops []string) (int, bool) {
	best := -1
	for _, s := range stops {
		if i := strings.Index(string(text), s); i >= 0 && (best < 0 || i < best) {
			best = i
		}
	}
	return best, best >= 0
}

// LogProbs implements gate.Model.
func (m *Model) LogProbs(tokens []int32, from int) ([][]float32, error) {
	if from < 0 || from >= len(tokens)-1 {
		return nil, fmt.Errorf("logprobs: from %d outside [0, %d)", from, len(tokens)-1)
	}
	if len(tokens) > m.rt.ContextLength() {
		return nil, fmt.Errorf("logprobs: %d tokens exceed the context length %d", len(tokens), m.rt.ContextLength())
	}
	logits, err := m.rt.NewSession(len(tokens)).EvalAll(tokens[:len(tokens)-1])
	if err != nil {
		return nil, err
	}
	v := m.rt.Hyper.VocabSize
	out := make([][]float32, 0, len(tokens)-1-from)
	for p := from; p < len(tokens)-1; p++ {
		out = append(out, logSoftmax(logits[p*v:(p+1)*v]))
	}
	return out, nil
}

// logSoftmax is log softmax(x): x − log Σ exp(x), in float32.
func logSoftmax(x []float32) []float32 {
	lse := float32(fastmath.LogSumExp(x))
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = v - lse
	}
	return out
}

// ModelID implements serve.Backend.
func (m *Model) ModelID() string { return m.id }

// Encode implements serve.Backend: Tokenize.
func (m *Model) Encode(text string) []int32 { return m.Tokenize(text) }

// TokenBytes implements serve.Backend.
func (m *Model) TokenBytes(id int32) []byte {
	b, _ := m.rt.TokenBytes(id)
	return b
}

// TokenPiece implements serve.Backend: a control token's name (its content
// in the embedded tokenizer, e.g. "<|im_end|>"), else TokenBytes.
func (m *Model) TokenPiece(id int32) []byte {
	if b, _ := m.rt.TokenBytes(id); len(b) > 0 {
		return b
	}
	b, _ := m.tok.TokenBytes(id)
	return b
}

// EOS implements serve.Backend.
func (m *Model) EOS() int32 { return m.rt.EOS() }

// VocabSize implements serve.Backend.
func (m *Model) VocabSize() int { return m.rt.Hyper.VocabSize }

// ContextLength implements serve.Backend: the sessions' cap
// (infer.Options.Context, by default the file's llama.context_length up
// to infer.DefaultContext), not the file's declared context.
func (m *Model) ContextLength() int { return m.rt.ContextLength() }

// FormatChat implements serve.Backend: the messages rendered by the model's
// own chat template (tokenizer.chat_template; a tokenizer with ChatML's
// markers and no template gets distill's ChatML template) with the
// generation prompt. A leading BOS text is dropped: BOS is Tokenize's to
// add, per add_bos_token, as data import leaves it to --no-bos.
func (m *Model) FormatChat(msgs []serve.Message) (string, error) {
	if m.chatErr != nil {
		return "", m.chatErr
	}
	vals, err := serve.TemplateMessages(msgs)
	if err != nil {
		return "", err
	}
	text, err := m.chat.Render(vals, true, nil)
	if err != nil {
		return "", err
	}
	if m.chat.BOSToken != "" {
		text = strings.TrimPrefix(text, m.chat.BOSToken)
	}
	return text, nil
}

// chatFor returns the chat template of tok, or why chat is unavailable.
func chatFor(tok *tokenizer.Tokenizer) (*chattemplate.Chat, error) {
	sp := tok.Special()
	src := sp.ChatTemplate
	if src == "" && sp.ImStart >= 0 && sp.ImEnd >= 0 {
		src = tokenizer.DefaultChatTemplate
	}
	if src == "" {
		return nil, errors.New("the model has no chat template (tokenizer.chat_template); use /v1/completions")
	}
	c, err := chattemplate.ForTokenizer(src, tok, sp.BOS, sp.EOS, sp.EOT)
	if err != nil {
		return nil, fmt.Errorf("the model's chat template: %w", err)
	}
	return c, nil
}

// EndOfTurn implements serve.Backend: the tokenizer's end-of-turn token
// (<|eot_id|>, <|im_end|>) and <|im_end|>, unless either is EOS.
func (m *Model) EndOfTurn() []int32 {
	sp := m.tok.Special()
	var ids []int32
	for _, id := range []int32{sp.EOT, sp.ImEnd} {
		if id >= 0 && id != m.rt.EOS() && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// NewSession implements serve.Backend. The session's KV cache grows with
// the tokens it evaluates, up to ctxLen.
func (m *Model) NewSession(ctxLen int) serve.Session { return m.rt.NewSession(ctxLen) }

// Sampler builds a runtime sampler for the server.
func Sampler(temperature, topP float64, topK int, seed int64) (serve.Sampler, error) {
	cfg := infer.SamplerConfig{Temperature: temperature, TopP: topP, TopK: topK, Seed: seed}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return infer.NewSampler(cfg), nil
}

// GateEngine loads artifacts for the gate.
type GateEngine struct{ Options infer.Options }

// Load implements gate.Engine.
func (e GateEngine) Load(path string) (gate.Model, error) { return Load(path, e.Options) }

var (
	_ gate.Model    = (*Model)(nil)
	_ serve.Backend = (*Model)(nil)
)
