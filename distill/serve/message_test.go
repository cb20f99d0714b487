package serve_test

import (
	"encoding/json"
	"testing"

	"github.com/distill-ml/distill/data/chattemplate"
	"github.com/distill-ml/distill/distill/serve"
)

// TestMessagesKeepTemplateFields: the fields chat templates read beyond role
// and content (tool_calls with their arguments' key order, reasoning_content,
// tool_call_id, name) reach the template; absent ones stay undefined.
func TestMessagesKeepTemplateFields(t *testing.T) {
	const body = `[{"role":"user","content":"Weather?"},
		{"role":"assistant","content":"","reasoning_content":"Call the tool.","tool_calls":[{"type":"function","function":{"name":"get","arguments":{"z":1,"a":"x"}}}]},
		{"role":"tool","content":"sunny","tool_call_id":"c1","name":"get"}]`
	var msgs []serve.Message
	if err := json.Unmarshal([]byte(body), &msgs); err != nil {
		t.Fatal(err)
	}
	vals, err := serve.TemplateMessages(msgs)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := chattemplate.Parse(`{% for m in messages %}{{ m.role }}:{{ m.content }}` +
		`{% if m.reasoning_content is defined %} thought={{ m.reasoning_content }}{% endif %}` +
		`{% for c in m.tool_calls %} call={{ c.function.name }}{{ c.function.arguments|tojson }}{% endfor %}` +
		`{% if m.tool_call_id is defined %} id={{ m.tool_call_id }} name={{ m.name }}{% endif %};{% endfor %}`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tp.Render(map[string]chattemplate.Value{"messages": vals})
	if err != nil {
		t.Fatal(err)
	}
	if want := `user:Weather?;assistant: thought=Call the tool. call=get{"z": 1, "a": "x"};tool:sunny id=c1 name=get;`; got != want {
		t.Fatalf("rendered %q, want %q", got, want)
	}
	bad := []serve.Message{{Role: "assistant", ToolCalls: json.RawMessage(`{"not":"a list"`)}}
	if _, err := serve.TemplateMessages(bad); err == nil {
		t.Fatal("malformed tool_calls accepted")
	}
}
