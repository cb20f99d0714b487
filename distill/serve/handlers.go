package serve

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

type completionRequest struct {
	genRequest
	Prompt   json.RawMessage `json:"prompt"`
	Logprobs *int            `json:"logprobs"`
	Echo     bool            `json:"echo"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// completionLogprobs is OpenAI's legacy logprobs object; an echoed prompt's
// first token has a null logprob and null top_logprobs.
type completionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []*float32           `json:"token_logprobs"`
	TopLogprobs   []map[string]float32 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

func (l *completionLogprobs) append(c *completionLogprobs) {
	l.Tokens = append(l.Tokens, c.Tokens...)
	l.TokenLogprobs = append(l.TokenLogprobs, c.TokenLogprobs...)
	l.TopLogprobs = append(l.TopLogprobs, c.TopLogprobs...)
	l.TextOffset = append(l.TextOffset, c.TextOffset...)
}

// maxPrompts bounds the prompts of one completions request (a batch, as
// lm-evaluation-harness sends them); each is decoded in turn.
const maxPrompts = 64

// completionPrompts decodes "prompt": a string, an array of strings, an
// array of token ids, or an array of such arrays (OpenAI's four forms).
// Token ids are used as given (no BOS is added); text is encoded by the
// backend. text is the prompt's text (token ids: their bytes joined).
func (s *Server) completionPrompts(raw json.RawMessage) (texts []string, ids [][]int32, err error) {
	// Each form is tried on its own variable: a failed json.Unmarshal may
	// leave a partly filled one behind.
	var one string
	var strs, many []string
	var toks []int32
	var ints, batch [][]int32
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, nil, badRequest("prompt", "prompt is required")
	case json.Unmarshal(raw, &one) == nil:
		many = []string{one}
	case json.Unmarshal(raw, &strs) == nil:
		many = strs
	case json.Unmarshal(raw, &toks) == nil:
		batch = [][]int32{toks}
	case json.Unmarshal(raw, &ints) == nil:
		batch = ints
	default:
		return nil, nil, badRequest("prompt", "prompt must be a string, an array of strings, an array of token ids or an array of arrays of token ids")
	}
	n := len(many) + len(batch)
	if n == 0 || n > maxPrompts {
		return nil, nil, badRequest("prompt", "%d prompts: need 1 to %d", n, maxPrompts)
	}
	for _, p := range many {
		if err := s.checkPromptBytes("prompt", p); err != nil {
			return nil, nil, err
		}
		texts, ids = append(texts, p), append(ids, s.b.Encode(p))
	}
	for i, p := range batch {
		var text []byte
		for k, id := range p {
			if id < 0 || int(id) >= s.b.VocabSize() {
				return nil, nil, badRequest("prompt", "prompt %d token %d: id %d is outside the vocabulary [0, %d)", i, k, id, s.b.VocabSize())
			}
			text = append(text, s.b.TokenBytes(id)...)
		}
		texts, ids = append(texts, string(text)), append(ids, p)
	}
	return texts, ids, nil
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if err := decodeBody(w, r, s, &req); err != nil {
		writeError(w, err)
		return
	}
	topN := -1
	if req.Logprobs != nil {
		topN = *req.Logprobs
		if topN < 0 {
			writeError(w, badRequest("logprobs", "logprobs must be >= 0"))
			return
		}
	}
	minTokens := 1
	if req.Echo {
		minTokens = 0 // score the prompt only
	}
	p, err := s.paramsMin(&req.genRequest, "prompt", 16, topN, minTokens)
	if err != nil {
		writeError(w, err)
		return
	}
	p.echo = req.Echo
	texts, prompts, err := s.completionPrompts(req.Prompt)
	if err != nil {
		writeError(w, err)
		return
	}
	if req.Stream && len(prompts) > 1 {
		writeError(w, badRequest("stream", "streaming takes one prompt, got %d", len(prompts)))
		return
	}
	id, created := s.newID("cmpl"), time.Now().Unix()
	// addLP converts tokens to logprobs, advancing *offset by their bytes.
	addLP := func(toks []token, offset *int) *completionLogprobs {
		if topN < 0 {
			return nil
		}
		chunk := &completionLogprobs{}
		for _, t := range toks {
			var m map[string]float32
			var lp *float32
			if !t.unscored {
				m = map[string]float32{}
				for _, a := range t.top {
					m[tokenString(a.piece)] = a.logprob
				}
				lp = &t.logprob
			}
			chunk.Tokens = append(chunk.Tokens, tokenString(t.bytes))
			chunk.TokenLogprobs = append(chunk.TokenLogprobs, lp)
			chunk.TopLogprobs = append(chunk.TopLogprobs, m)
			chunk.TextOffset = append(chunk.TextOffset, *offset)
			*offset += len(t.bytes)
		}
		return chunk
	}
	choice := func(index int, text string, l *completionLogprobs, finish any) map[string]any {
		c := map[string]any{"index": index, "text": text, "finish_reason": finish, "logprobs": nil}
		if l != nil {
			c["logprobs"] = l
		}
		return c
	}
	// echoText replaces the echoed prompt's token bytes by the request's
	// own text (the same bytes but for a BOS, which has none).
	echoText := func(i int, t string, echoing *bool) string {
		if *echoing {
			*echoing = false
			return texts[i]
		}
		return t
	}
	if req.Stream {
		ev := newSSE(w)
		offset, echoing := 0, req.Echo
		finish, n, err := s.generate(r.Context(), prompts[0], p, func(text string, toks []token) error {
			return ev.send(map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.b.ModelID(),
				"choices": []any{choice(0, echoText(0, text, &echoing), addLP(toks, &offset), nil)}})
		})
		if err != nil {
			ev.fail(err)
			return
		}
		ev.send(map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.b.ModelID(),
			"choices": []any{choice(0, "", nil, finish)}, "usage": usage{len(prompts[0]), n, len(prompts[0]) + n}})
		ev.done()
		return
	}
	var choices []any
	var total usage
	for i, ids := range prompts {
		var text []byte
		lp := &completionLogprobs{Tokens: []string{}, TokenLogprobs: []*float32{}, TopLogprobs: []map[string]float32{}, TextOffset: []int{}}
		offset, echoing := 0, req.Echo
		finish, n, err := s.generate(r.Context(), ids, p, func(t string, toks []token) error {
			text = append(text, echoText(i, t, &echoing)...)
			if c := addLP(toks, &offset); c != nil {
				lp.append(c)
			}
			return nil
		})
		if err != nil {
			writeError(w, err)
			return
		}
		if topN < 0 {
			lp = nil
		}
		choices = append(choices, choice(i, string(text), lp, finish))
		total.PromptTokens += len(ids)
		total.CompletionTokens += n
	}
	total.TotalTokens = total.PromptTokens + total.CompletionTokens
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.b.ModelID(),
		"choices": choices, "usage": total})
}

type chatRequest struct {
	genRequest
	Messages    []Message `json:"messages"`
	Logprobs    bool      `json:"logprobs"`
	TopLogprobs *int      `json:"top_logprobs"`
}

type chatTop struct {
	Token   string  `json:"token"`
	Logprob float32 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

type chatLP struct {
	Token       string    `json:"token"`
	Logprob     float32   `json:"logprob"`
	Bytes       []int     `json:"bytes"`
	TopLogprobs []chatTop `json:"top_logprobs"`
}

func chatLogprobs(toks []token) []chatLP {
	out := make([]chatLP, 0, len(toks))
	for _, t := range toks {
		c := chatLP{Token: tokenString(t.bytes), Logprob: t.logprob, Bytes: byteInts(t.bytes), TopLogprobs: []chatTop{}}
		for _, a := range t.top {
			c.TopLogprobs = append(c.TopLogprobs, chatTop{Token: tokenString(a.piece), Logprob: a.logprob, Bytes: byteInts(a.piece)})
		}
		out = append(out, c)
	}
	return out
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := decodeBody(w, r, s, &req); err != nil {
		writeError(w, err)
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, badRequest("messages", "messages must not be empty"))
		return
	}
	topN := -1
	if req.Logprobs {
		topN = 0
		if req.TopLogprobs != nil {
			topN = *req.TopLogprobs
		}
	} else if req.TopLogprobs != nil {
		writeError(w, badRequest("top_logprobs", "top_logprobs requires logprobs: true"))
		return
	}
	if topN < -1 {
		writeError(w, badRequest("top_logprobs", "top_logprobs must be >= 0"))
		return
	}
	p, err := s.params(&req.genRequest, "messages", s.opt.MaxTokens, topN)
	if err != nil {
		writeError(w, err)
		return
	}
	p.stopIDs = s.b.EndOfTurn()
	promptText, err := s.b.FormatChat(req.Messages)
	if err != nil {
		writeError(w, badRequest("messages", "%v", err))
		return
	}
	if err := s.checkPromptBytes("messages", promptText); err != nil {
		writeError(w, err)
		return
	}
	ids := s.b.Encode(promptText)
	id, created := s.newID("chatcmpl"), time.Now().Unix()
	if req.Stream {
		ev := newSSE(w)
		first := true
		finish, n, err := s.generate(r.Context(), ids, p, func(text string, toks []token) error {
			delta := map[string]any{"content": text}
			if first {
				delta["role"] = "assistant"
				first = false
			}
			ch := map[string]any{"index": 0, "delta": delta, "finish_reason": nil}
			if topN >= 0 {
				ch["logprobs"] = map[string]any{"content": chatLogprobs(toks)}
			}
			return ev.send(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": s.b.ModelID(), "choices": []any{ch}})
		})
		if err != nil {
			ev.fail(err)
			return
		}
		ev.send(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": s.b.ModelID(),
			"choices": []any{map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": finish}}, "usage": usage{len(ids), n, len(ids) + n}})
		ev.done()
		return
	}
	var text []byte
	var all []token
	finish, n, err := s.generate(r.Context(), ids, p, func(t string, toks []token) error {
		text = append(text, t...)
		all = append(all, toks...)
		return nil
	})
	if err != nil {
		if errors.Is(err, r.Context().Err()) {
			return
		}
		writeError(w, err)
		return
	}
	ch := map[string]any{"index": 0, "message": Message{Role: "assistant", Content: string(text)}, "finish_reason": finish, "logprobs": nil}
	if topN >= 0 {
		ch["logprobs"] = map[string]any{"content": chatLogprobs(all)}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": id, "object": "chat.completion", "created": created, "model": s.b.ModelID(),
		"choices": []any{ch}, "usage": usage{len(ids), n, len(ids) + n}})
}
