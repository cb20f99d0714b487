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

type completionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float32            `json:"token_logprobs"`
	TopLogprobs   []map[string]float32 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if err := decodeBody(w, r, s, &req); err != nil {
		writeError(w, err)
		return
	}
	var prompt string
	if err := json.Unmarshal(req.Prompt, &prompt); err != nil {
		var many []string
		if err2 := json.Unmarshal(req.Prompt, &many); err2 != nil || len(many) != 1 {
			writeError(w, badRequest("prompt", "prompt must be a string (or an array of exactly one string)"))
			return
		}
		prompt = many[0]
	}
	if req.Echo {
		writeError(w, badRequest("echo", "echo is not supported"))
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
	p, err := s.params(&req.genRequest, "prompt", 16, topN)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.checkPromptBytes("prompt", prompt); err != nil {
		writeError(w, err)
		return
	}
	ids := s.b.Encode(prompt)
	id, created := s.newID("cmpl"), time.Now().Unix()
	lp := &completionLogprobs{Tokens: []string{}, TokenLogprobs: []float32{}, TopLogprobs: []map[string]float32{}, TextOffset: []int{}}
	offset := 0
	addLP := func(toks []token) *completionLogprobs {
		if topN < 0 {
			return nil
		}
		chunk := &completionLogprobs{}
		for _, t := range toks {
			m := map[string]float32{}
			for _, a := range t.top {
				m[tokenString(a.piece)] = a.logprob
			}
			chunk.Tokens = append(chunk.Tokens, tokenString(t.bytes))
			chunk.TokenLogprobs = append(chunk.TokenLogprobs, t.logprob)
			chunk.TopLogprobs = append(chunk.TopLogprobs, m)
			chunk.TextOffset = append(chunk.TextOffset, offset)
			offset += len(t.bytes)
		}
		return chunk
	}
	choice := func(text string, l *completionLogprobs, finish any) map[string]any {
		c := map[string]any{"index": 0, "text": text, "finish_reason": finish, "logprobs": nil}
		if l != nil {
			c["logprobs"] = l
		}
		return c
	}
	if req.Stream {
		ev := newSSE(w)
		finish, n, err := s.generate(r.Context(), ids, p, func(text string, toks []token) error {
			return ev.send(map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.b.ModelID(),
				"choices": []any{choice(text, addLP(toks), nil)}})
		})
		if err != nil {
			ev.fail(err)
			return
		}
		ev.send(map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.b.ModelID(),
			"choices": []any{choice("", nil, finish)}, "usage": usage{len(ids), n, len(ids) + n}})
		ev.done()
		return
	}
	var text []byte
	finish, n, err := s.generate(r.Context(), ids, p, func(t string, toks []token) error {
		text = append(text, t...)
		if c := addLP(toks); c != nil {
			lp.Tokens = append(lp.Tokens, c.Tokens...)
			lp.TokenLogprobs = append(lp.TokenLogprobs, c.TokenLogprobs...)
			lp.TopLogprobs = append(lp.TopLogprobs, c.TopLogprobs...)
			lp.TextOffset = append(lp.TextOffset, c.TextOffset...)
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
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.b.ModelID(),
		"choices": []any{choice(string(text), lp, finish)}, "usage": usage{len(ids), n, len(ids) + n}})
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
