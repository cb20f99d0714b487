package infer

import (
	"bytes"
	"fmt"
)

// GenerateOptions control Generate.
type GenerateOptions struct {
	MaxTokens int           // tokens to generate at most (> 0)
	Sampler   SamplerConfig // greedy when Temperature is 0
	// Stop ends generation when the output contains any of these strings;
	// the stop string itself is not part of the output.
	Stop []string
	// IgnoreEOS keeps generating past the end-of-sequence token.
	IgnoreEOS bool
	// OnText, if set, receives the output as it is produced, never including
	// bytes that might still turn out to start a stop string. Returning an
	// error stops generation with that error.
	OnText func(text []byte) error
}

// Result is what Generate produced.
type Result struct {
	Tokens       []int32 // generated tokens (including one that completed a stop string; not EOS)
	Text         []byte  // their text, cut before the first stop string
	StopReason   string  // "eos", "stop", "length" (MaxTokens), "context" (session full)
	PromptTokens int
}

// Generate evaluates prompt (appended to whatever the session holds) and
// samples up to opts.MaxTokens tokens.
func (s *Session) Generate(prompt []int32, opts GenerateOptions) (Result, error) {
	res := Result{PromptTokens: len(prompt)}
	if opts.MaxTokens <= 0 {
		return res, fmt.Errorf("generate: max tokens %d must be > 0", opts.MaxTokens)
	}
	if err := opts.Sampler.Validate(); err != nil {
		return res, err
	}
	for i, st := range opts.Stop {
		if st == "" {
			return res, fmt.Errorf("generate: stop string %d is empty", i)
		}
	}
	if len(prompt) == 0 {
		return res, fmt.Errorf("generate: empty prompt")
	}
	logits, err := s.Eval(prompt)
	if err != nil {
		return res, err
	}
	smp := NewSampler(opts.Sampler)
	eos := s.m.EOS()
	var text []byte
	emitted := 0
	flush := func(upto int) error {
		if upto > emitted && opts.OnText != nil {
			if err := opts.OnText(text[emitted:upto]); err != nil {
				return err
			}
		}
		if upto > emitted {
			emitted = upto
		}
		return nil
	}
	for len(res.Tokens) < opts.MaxTokens {
		tok := smp.Sample(logits)
		if tok == eos && !opts.IgnoreEOS {
			res.StopReason = "eos"
			break
		}
		res.Tokens = append(res.Tokens, tok)
		b, _ := s.m.TokenBytes(tok)
		text = append(text, b...)
		if cut, ok := findStop(text, opts.Stop, emitted); ok {
			text = text[:cut]
			res.StopReason = "stop"
			break
		}
		if err := flush(len(text) - heldBack(text, opts.Stop)); err != nil {
			return res, err
		}
		if len(res.Tokens) == opts.MaxTokens {
			res.StopReason = "length"
			break
		}
		if s.pos >= s.ctxLen {
			res.StopReason = "context"
			break
		}
		if logits, err = s.Eval([]int32{tok}); err != nil {
			return res, err
		}
	}
	if res.StopReason == "" {
		res.StopReason = "length"
	}
	if err := flush(len(text)); err != nil {
		return res, err
	}
	res.Text = text
	return res, nil
}

// findStop returns the earliest index at which a stop string occurs in text
// (searching from just before the already-emitted prefix).
func findStop(text []byte, stops []string, from int) (int, bool) {
	best, found := len(text), false
	for _, st := range stops {
		start := max(0, from-len(st)+1)
		if i := bytes.Index(text[start:], []byte(st)); i >= 0 && start+i < best {
			best, found = start+i, true
		}
	}
	return best, found
}

// heldBack is the length of the longest suffix of text that is a proper
// prefix of some stop string (those bytes must wait for more output).
func heldBack(text []byte, stops []string) int {
	hold := 0
	for _, st := range stops {
		for k := min(len(st)-1, len(text)); k > hold; k-- {
			if bytes.HasSuffix(text, []byte(st[:k])) {
				hold = k
				break
			}
		}
	}
	return hold
}
