package release

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"text/template"

	"github.com/distill-ml/distill/data/chattemplate"
)

// ModelfileName is the Ollama Modelfile written beside each released GGUF.
const ModelfileName = "Modelfile"

// Modelfile returns an Ollama Modelfile for the GGUF file (a path relative to
// the Modelfile): FROM, the chat template as an Ollama (Go text/template)
// TEMPLATE, and a PARAMETER stop per end-of-turn text. chat may be nil (no
// template). When the template cannot be expressed in Ollama's form, the
// Modelfile says why in a comment and has no TEMPLATE.
func Modelfile(ggufFile string, chat *chattemplate.Chat, stops []string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Ollama Modelfile written by distill's gate: ollama create NAME -f Modelfile\nFROM ./%s\n", ggufFile)
	if chat == nil {
		b.WriteString("# no TEMPLATE: the model has no chat template\n")
	} else if tmpl, err := OllamaTemplate(chat); err != nil {
		fmt.Fprintf(&b, "# no TEMPLATE: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	} else {
		b.WriteString("TEMPLATE \"\"\"" + tmpl + "\"\"\"\n")
	}
	for _, s := range stops {
		if s != "" {
			b.WriteString("PARAMETER stop " + strconv.Quote(s) + "\n")
		}
	}
	return []byte(b.String())
}

// Sentinel contents the template is probed with; they must come out of the
// rendering verbatim.
const (
	probeA = "\x1fcontent-a\x1f"
	probeB = "\x1fcontent-b\x1f"
)

// roleWrap is how a template wraps one message of a role: Pre + content +
// Post, where Post ends with the end-of-turn text.
type roleWrap struct{ pre, post string }

// OllamaTemplate translates a chat template into Ollama's Go-template form
// over .Messages (Role, Content), for templates that wrap each message in a
// fixed per-role prefix and suffix (ChatML, Llama 3, Qwen without tools, and
// the like): it probes the Jinja template with sentinel messages, derives the
// prefix, per-role wrappers and generation prompt, and then checks that the
// Go template renders probe conversations exactly as the Jinja template
// does; any difference is an error.
func OllamaTemplate(chat *chattemplate.Chat) (string, error) {
	if chat.EndOfTurn == "" {
		return "", fmt.Errorf("no end-of-turn token to split turns at")
	}
	render := func(msgs []chattemplate.Value, gen bool) (string, error) {
		return chat.Render(msgs, gen, nil)
	}
	msg := chattemplate.Message
	var head string
	wraps := map[string]roleWrap{}
	for _, role := range []string{"system", "user", "assistant"} {
		text, err := render([]chattemplate.Value{msg(role, probeA), msg(role, probeB)}, false)
		if err != nil {
			return "", fmt.Errorf("render two %s messages: %w", role, err)
		}
		a, b := strings.Index(text, probeA), strings.Index(text, probeB)
		if a < 0 || b < a {
			return "", fmt.Errorf("the template does not render %s messages verbatim", role)
		}
		between := text[a+len(probeA) : b]
		eot := strings.Index(between, chat.EndOfTurn)
		if eot < 0 {
			return "", fmt.Errorf("a %s message does not end with %q", role, chat.EndOfTurn)
		}
		cut := eot + len(chat.EndOfTurn)
		if strings.HasPrefix(between[cut:], "\n") {
			cut++
		}
		w := roleWrap{pre: between[cut:], post: between[:cut]}
		h, ok := strings.CutSuffix(text[:a], w.pre)
		if !ok || (head != "" && h != head) {
			return "", fmt.Errorf("the %s message's prefix %q is not a fixed wrapper", role, w.pre)
		}
		head = h
		wraps[role] = w
	}
	noGen, err := render([]chattemplate.Value{msg("user", probeA)}, false)
	if err != nil {
		return "", err
	}
	withGen, err := render([]chattemplate.Value{msg("user", probeA)}, true)
	if err != nil {
		return "", err
	}
	base := head + wraps["user"].pre + probeA + wraps["user"].post
	gen, ok := strings.CutPrefix(withGen, base)
	if !ok || !strings.HasPrefix(noGen, base) {
		return "", fmt.Errorf("the template renders more than its per-message wrappers")
	}
	if noGen != base && noGen != withGen {
		return "", fmt.Errorf("the template adds %q after the messages without a generation prompt", noGen[len(base):])
	}
	var t strings.Builder
	if chat.BOSToken != "" { // BOS is the runtime's to add, per add_bos_token
		head = strings.TrimPrefix(head, chat.BOSToken)
	}
	t.WriteString(literal(head))
	t.WriteString(`{{ range $i, $m := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}`)
	for _, role := range []string{"system", "user", "assistant"} {
		w := wraps[role]
		cond := "else if"
		if role == "system" {
			cond = "if"
		}
		fmt.Fprintf(&t, `{{ %s eq $m.Role %q }}%s{{ $m.Content }}`, cond, role, literal(w.pre))
		if role == "assistant" {
			fmt.Fprintf(&t, `{{ if not $last }}%s{{ end }}`, literal(w.post))
		} else {
			t.WriteString(literal(w.post))
		}
	}
	fmt.Fprintf(&t, `{{ end }}{{ if and $last (ne $m.Role "assistant") }}%s{{ end }}{{ end }}`, literal(gen))
	out := t.String()
	if err := checkOllamaTemplate(out, chat); err != nil {
		return "", err
	}
	return out, nil
}

// literal writes text for a Go template: verbatim unless it could be read as
// an action or end the Modelfile's triple quotes.
func literal(s string) string {
	if s == "" {
		return ""
	}
	if strings.Contains(s, "{{") || strings.Contains(s, "}}") || strings.Contains(s, `"""`) || strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") {
		return "{{ " + strconv.Quote(s) + " }}"
	}
	return s
}

// checkOllamaTemplate renders probe conversations with the Go template (as
// Ollama does: the messages up to the one to answer) and with the Jinja
// template (with the generation prompt unless the last message is the
// assistant's, which Ollama continues) and requires identical text.
func checkOllamaTemplate(src string, chat *chattemplate.Chat) error {
	gt, err := template.New("ollama").Parse(src)
	if err != nil {
		return fmt.Errorf("derived Ollama template: %w", err)
	}
	type message struct{ Role, Content string }
	probes := [][]message{
		{{"user", "Hi"}},
		{{"system", "Be brief."}, {"user", "Battery?"}},
		{{"system", "S"}, {"user", "U1"}, {"assistant", "A1"}, {"user", "U2\nline"}},
		{{"user", "U1"}, {"assistant", "A1"}, {"user", "U2"}, {"assistant", "A2 partial"}},
	}
	for i, p := range probes {
		var buf bytes.Buffer
		if err := gt.Execute(&buf, map[string]any{"Messages": p}); err != nil {
			return fmt.Errorf("derived Ollama template, probe %d: %w", i, err)
		}
		vals := make([]chattemplate.Value, len(p))
		for j, m := range p {
			vals[j] = chattemplate.Message(m.Role, m.Content)
		}
		// Ollama continues a last assistant message: the context with the
		// generation prompt, then the message's text so far.
		n, cont := len(p), ""
		if p[n-1].Role == "assistant" {
			n, cont = n-1, p[n-1].Content
		}
		want, err := chat.Render(vals[:n], true, nil)
		if err != nil {
			return fmt.Errorf("probe %d: %w", i, err)
		}
		want += cont
		if chat.BOSToken != "" {
			want = strings.TrimPrefix(want, chat.BOSToken)
		}
		if buf.String() != want {
			return fmt.Errorf("the template is not expressible in Ollama's form (probe %d renders %q, the chat template %q)", i, buf.String(), want)
		}
	}
	return nil
}
