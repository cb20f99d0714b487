package chattemplate

import (
	"fmt"
	"strings"
)

// Chat is a model's chat template with the special-token texts it is
// rendered with, as transformers' apply_chat_template passes them.
type Chat struct {
	Template *Template
	BOSToken string // bos_token ("" when the model has none)
	EOSToken string // eos_token
	// EndOfTurn is the text that ends an assistant turn (<|im_end|>,
	// <|eot_id|>); Turns cuts each completion after it.
	EndOfTurn string
}

// NewChat parses src and returns a Chat with the given special tokens.
func NewChat(src, bos, eos, endOfTurn string) (*Chat, error) {
	t, err := Parse(src)
	if err != nil {
		return nil, err
	}
	return &Chat{Template: t, BOSToken: bos, EOSToken: eos, EndOfTurn: endOfTurn}, nil
}

// Render renders messages (a list of mappings with "role" and "content", and
// whatever else the template reads: tool_calls, reasoning_content, ...).
// extra adds variables (tools, enable_thinking, ...); it may be nil.
func (c *Chat) Render(messages []Value, addGenerationPrompt bool, extra map[string]Value) (string, error) {
	vars := map[string]Value{}
	for k, v := range extra {
		vars[k] = v
	}
	vars["messages"] = messages
	vars["add_generation_prompt"] = addGenerationPrompt
	vars["bos_token"] = c.BOSToken
	vars["eos_token"] = c.EOSToken
	return c.Template.Render(vars)
}

// Message returns a chat message {"role": role, "content": content}.
func Message(role, content string) Value {
	d := NewDict()
	d.Set("role", role)
	d.Set("content", content)
	return d
}

// Turn is one assistant turn of a conversation as a training example: the
// prompt is the template's rendering of every message before the turn and
// its generation prompt, the completion is the turn as the template renders
// a final assistant message, through EndOfTurn.
type Turn struct {
	Message    int // index of the assistant message
	Prompt     string
	Completion string
}

// Turns renders every assistant turn of a conversation (an assistant message
// at index 0 has an empty context and is skipped only if the template
// renders nothing for it). The completion is cut out of the rendering of
// messages[:i+1] after the prompt, which the template must render as its
// prefix; otherwise the error names the message.
func (c *Chat) Turns(messages []Value, extra map[string]Value) ([]Turn, error) {
	if c.EndOfTurn == "" {
		return nil, fmt.Errorf("chat template: no end-of-turn token to end completions with")
	}
	var turns []Turn
	for i, m := range messages {
		d, ok := m.(*Dict)
		if !ok {
			return nil, fmt.Errorf("messages[%d]: a %s, want a mapping with role and content", i, typeName(m))
		}
		role, _ := d.m["role"].(string)
		if role == "" {
			return nil, fmt.Errorf("messages[%d].role: missing or not a string", i)
		}
		if role != "assistant" {
			continue
		}
		prompt, err := c.Render(messages[:i], true, extra)
		if err != nil {
			return nil, fmt.Errorf("messages[%d]: render the context: %w", i, err)
		}
		full, err := c.Render(messages[:i+1], false, extra)
		if err != nil {
			return nil, fmt.Errorf("messages[%d]: render the turn: %w", i, err)
		}
		rest, ok := strings.CutPrefix(full, prompt)
		if !ok {
			return nil, fmt.Errorf("messages[%d]: the template does not render the context as a prefix of the turn, so the turn cannot be told apart", i)
		}
		end := strings.Index(rest, c.EndOfTurn)
		if end < 0 {
			return nil, fmt.Errorf("messages[%d]: the rendered turn has no end-of-turn %q", i, c.EndOfTurn)
		}
		turns = append(turns, Turn{Message: i, Prompt: prompt, Completion: rest[:end+len(c.EndOfTurn)]})
	}
	if len(turns) == 0 {
		return nil, fmt.Errorf("messages: no assistant message (the assistant turns are the completions)")
	}
	return turns, nil
}

// TokenPieces is the part of a tokenizer ForTokenizer reads;
// *tokenizer.Tokenizer satisfies it.
type TokenPieces interface {
	TokenBytes(id int32) ([]byte, bool)
}

// ForTokenizer returns the Chat of a tokenizer's template src with the texts
// of its special tokens (bos, eos, endOfTurn are ids, -1 for none; a missing
// endOfTurn falls back to eos).
func ForTokenizer(src string, tok TokenPieces, bos, eos, endOfTurn int32) (*Chat, error) {
	if src == "" {
		return nil, fmt.Errorf("the tokenizer has no chat template (tokenizer_config.json chat_template)")
	}
	piece := func(id int32) string {
		if id < 0 {
			return ""
		}
		b, _ := tok.TokenBytes(id)
		return string(b)
	}
	if endOfTurn < 0 {
		endOfTurn = eos
	}
	return NewChat(src, piece(bos), piece(eos), piece(endOfTurn))
}
