package chattemplate

import (
	"errors"
	"strings"
	"testing"
)

// constructTemplates exercise what real chat templates use beyond the Qwen3
// and Llama 3 ones (Mistral-, Gemma-, Phi-, SmolLM-style constructs), each
// checked against @huggingface/jinja.
var constructTemplates = map[string]string{
	"loop-vars":    `{% for m in messages %}{{ loop.index }}/{{ loop.length }}:{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}{{ m['role'] }};{% endfor %}`,
	"reverse-ns":   `{% set ns = namespace(n=0, seen=false) %}{% for m in messages[::-1] %}{% set ns.n = ns.n + 1 %}{% if m.role == 'user' and not ns.seen %}{% set ns.seen = true %}{{ m.content }}{% endif %}{% endfor %}{{ ns.n }}`,
	"slices":       `{{ messages[1:]|length }}|{{ messages[:-1]|length }}|{{ 'abcdef'[1:4] }}|{{ 'abcdef'[::2] }}|{{ 'abcdef'[::-1] }}|{{ messages[-1].content }}`,
	"filters":      `{{ '  x  '|trim }}|{{ messages|first|tojson }}|{{ (messages|last).role|upper }}|{{ ['a','b','c']|join(', ') }}|{{ 'Hello World'|lower }}|{{ undefined_var|default('u') }}`,
	"items":        `{% for k, v in {'b': 1, 'a': [1, 2], 'c': {'x': 'y'}}|items %}{{ k }}={{ v|tojson }};{% endfor %}`,
	"strings":      `{% for m in messages %}{{ 'W' if m.content.startswith('Who') is true else 'w' }}|{{ 'E' if m.content.endswith(('?', '!')) else 'e' }}{{ m.content.split(' ')|length }}{{ m.content.replace('e', 'E') }}{{ m.content.upper() }};{% endfor %}`,
	"is-tests":     `{% for v in [messages is defined, nothing is defined, nothing is undefined, 'a' is string, 3 is number, {} is mapping, [1] is iterable, none is none, 4 is even, 3 is odd, x is not defined, 1 is string] %}{{ 'T' if v else 'F' }}{% endfor %}`,
	"ops":          `{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 'a' ~ 1 ~ 2.5 }} {{ 1 if 'ab' in 'cabd' }} {{ 1 if 3 not in [1, 2] }} {{ 1 if 1 < 2 and 2 <= 2 or false }} {{ 'x' if false else 'y' }}`,
	"whitespace":   "{%- for m in messages -%}\n  [{{- m.role -}}]  \n{%- endfor %}\n  {# comment #}\n{{ 'end' }}\n",
	"lstrip-trim":  "{% if true %}\n    line one\n    {% if true %}\n    line two\n    {% endif %}\n{% endif %}\n",
	"set-block":    `{% set header %}<<{{ messages|length }}>>{% endset %}{{ header }}{{ header }}`,
	"for-else":     `{% for m in [] %}x{% else %}empty{% endfor %}{% for m in messages if m.role == 'user' %}{{ m.content|length }};{% endfor %}`,
	"macro":        `{% macro tag(name, body='-') %}<{{ name }}>{{ body }}</{{ name }}>{% endmacro %}{{ tag('a') }}{{ tag('b', 'x') }}{{ tag('c', body='y') }}`,
	"selectattr":   `{{ messages|selectattr('role', 'equalto', 'user')|list|length }}{{ messages|rejectattr('role', 'equalto', 'user')|map(attribute='role')|join(',') }}`,
	"dict-methods": `{% set d = {'k': 'v', 'n': 2} %}{{ d.get('k') }}{{ d.get('z', 'dz') }}{% for k in d.keys() %}{{ k }}{% endfor %}{% for v in d.values() %}{{ v }}{% endfor %}{{ d['n'] }}{{ 1 if 'k' in d }}`,
	"tojson":       `{{ {'a': [1, 2.5, 'é"'], 'b': none, 'c': true}|tojson }}|{{ 'x\n'|tojson }}|{{ messages|tojson(indent=2) }}`,
	"break":        `{% for i in range(10) %}{% if i == 3 %}{% continue %}{% endif %}{% if i == 6 %}{% break %}{% endif %}{{ i }}{% endfor %}{{ range(2, 9, 3)|list|tojson }}`,
	"raise":        `{% if messages[0].role != 'system' %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}ok`,
}

const constructMessages = `[{"role":"user","content":"Who is here?"},{"role":"assistant","content":"Me, the helper!"},{"role":"user","content":"Bye"}]`

func TestConstructsMatchReference(t *testing.T) {
	var cases []refCase
	for name, src := range constructTemplates {
		cases = append(cases, refCase{Name: name, Template: src, Vars: []byte(`{"messages":` + constructMessages + `}`)})
	}
	compareWithReference(t, cases)
}

func TestRaiseExceptionIsTemplateError(t *testing.T) {
	tp, err := Parse(constructTemplates["raise"])
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := FromJSON([]byte(constructMessages))
	_, err = tp.Render(map[string]Value{"messages": msgs})
	var te *TemplateError
	if !errors.As(err, &te) || !strings.Contains(te.Message, "must alternate") {
		t.Fatalf("err = %v, want the template's message as a *TemplateError", err)
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	for src, want := range map[string]string{
		"ok\n{% if x %}":  "missing {% endif %}",
		"a\nb\n{{ x + }}": "line 3",
		"{% if a %}\n  {% if b %}\n  {% endif %}\n{% endif %}\n{{ x + }}": "line 5",
		"{# one\ntwo #}\n{% for x in y %}\n{{ x.( }}{% endfor %}":         "line 4",
		"{% for x in y %}{% endif %}":                                     "unexpected {% endif %}",
		"{{ 'abc }}":                                                      "unterminated string",
		"{% unknown %}":                                                   "unsupported statement",
		"{{ x":                                                            "unterminated tag",
		"{{ x $ y }}":                                                     "unexpected character",
	} {
		_, err := Parse(src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", src, err, want)
		}
	}
}

// TestRenderErrorsNameTheLine: a rendering error names the template line of
// the statement that failed.
func TestRenderErrorsNameTheLine(t *testing.T) {
	tp, err := Parse("{% for m in messages %}\n  {% if m.role == 'user' %}\n{{ m.content + 1 }}\n  {% endif %}\n{% endfor %}")
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := FromJSON([]byte(constructMessages))
	_, err = tp.Render(map[string]Value{"messages": msgs})
	if err == nil || !strings.Contains(err.Error(), "line 3: unsupported operand types for +: str and int") {
		t.Fatalf("err = %v, want it to name line 3", err)
	}
}

func TestHostileTemplatesAreBounded(t *testing.T) {
	for _, src := range []string{
		`{% for i in range(100000000) %}x{% endfor %}`,
		`{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}`,
		`{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}`,
		`{{ 'x' * 1000000000 }}`,
	} {
		tp, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tp.Render(nil); err == nil {
			t.Errorf("%s: rendered without error", src)
		}
	}
}

func TestTurnsSplitEveryAssistantTurn(t *testing.T) {
	// ChatML, as distill's trained tokenizers ship it.
	const chatml = "{{ bos_token }}{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
	c, err := NewChat(chatml, "<s>", "</s>", "<|im_end|>")
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := FromJSON([]byte(`[{"role":"system","content":"S"},{"role":"user","content":"U1"},{"role":"assistant","content":"A1"},{"role":"user","content":"U2"},{"role":"assistant","content":"A2"}]`))
	turns, err := c.Turns(msgs.([]Value), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Turn{
		{2, "<s><|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n<|im_start|>assistant\n", "A1<|im_end|>"},
		{4, "<s><|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nU2<|im_end|>\n<|im_start|>assistant\n", "A2<|im_end|>"},
	}
	if len(turns) != len(want) {
		t.Fatalf("got %d turns, want %d: %+v", len(turns), len(want), turns)
	}
	for i := range want {
		if turns[i] != want[i] {
			t.Errorf("turn %d = %+v, want %+v", i, turns[i], want[i])
		}
	}
	noAssistant, _ := FromJSON([]byte(`[{"role":"user","content":"U"}]`))
	if _, err := c.Turns(noAssistant.([]Value), nil); err == nil || !strings.Contains(err.Error(), "no assistant message") {
		t.Errorf("conversation without an assistant turn: err = %v", err)
	}
}

// TestPythonSemantics pins where @huggingface/jinja departs from Python's
// Jinja, which transformers renders with: the expected values are Python's
// (str(True), str(None), str.capitalize, str.strip(chars), Jinja's title).
func TestPythonSemantics(t *testing.T) {
	for src, want := range map[string]string{
		`{{ true }} {{ false }} {{ none }}`:                       "True False None",
		`{{ [1, 'a', none, true] }} {{ {'k': 1.5} }}`:             "[1, 'a', None, True] {'k': 1.5}",
		`{{ 'hello World'|capitalize }}`:                          "Hello world",
		`{{ 'hello wORLD-foo bar'|title }}`:                       "Hello World-Foo Bar",
		`{{ '\n  x \n'.strip('\n') }}|{{ '\n\nx'.lstrip('\n') }}`: "  x |x",
		`{{ 'a b  c'.split() }} {{ 'a,b,c'.split(',', 1) }}`:      "['a', 'b', 'c'] ['a', 'b,c']",
		`{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 7 / 2 }}`:        "1.0 0.30000000000000004 1e+20 3.5",
		`{{ 'abc'|tojson }} {{ 'é'|tojson(ensure_ascii=true) }}`:  "\"abc\" \"\\u00e9\"",
	} {
		tp, err := Parse(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := tp.Render(nil)
		if err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", src, got, err, want)
		}
	}
}
