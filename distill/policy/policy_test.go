package policy

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/distill-ml/distill/configs"
)

const sample = `
version: 1
teachers:
  cloud-gpt:
    remote: true
    restricts_training: true
    terms: https://example.invalid/terms
  local-teacher:
    remote: false
classes:
  public:
    teachers: [cloud-gpt, local-teacher]
    store: [text, logprobs]
  sensitive:
    teachers: [cloud-gpt, local-teacher]
    local_only: true
    store: [text, logprobs, hidden_states]
redactions:
  - name: email
    pattern: '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}'
    replace: '[EMAIL]'
  - name: serial
    pattern: '\bSN-[0-9]{6}\b'
    replace: '[SERIAL]'
`

func load(t *testing.T, src string) *Policy {
	t.Helper()
	var p Policy
	if err := configs.Decode("policy.yaml", []byte(src), &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return &p
}

func TestSendDecisionsFailClosed(t *testing.T) {
	p := load(t, sample)
	cases := []struct {
		class, teacher string
		ok             bool
	}{
		{"public", "cloud-gpt", true},
		{"public", "local-teacher", true},
		{"sensitive", "local-teacher", true},
		{"sensitive", "cloud-gpt", false}, // local_only beats the teacher list
		{"internal", "local-teacher", false},
		{"public", "someone-else", false},
	}
	for _, c := range cases {
		err := p.CheckSend(c.class, c.teacher)
		var r *Refusal
		if c.ok != (err == nil) || (err != nil && !errors.As(err, &r)) {
			t.Errorf("CheckSend(%s, %s) = %v, want ok=%v", c.class, c.teacher, err, c.ok)
		}
	}
}

func TestStoreAndTerms(t *testing.T) {
	p := load(t, sample)
	if err := p.CheckStore("public", SignalHidden); err == nil {
		t.Error("hidden states allowed for public")
	}
	if err := p.CheckStore("public", SignalLogprobs); err != nil {
		t.Error(err)
	}
	if err := p.CheckTerms("cloud-gpt", false); err == nil || !strings.Contains(err.Error(), "acknowledge_terms") {
		t.Errorf("restricted teacher not refused: %v", err)
	}
	if err := p.CheckTerms("cloud-gpt", true); err != nil {
		t.Error(err)
	}
	if err := p.CheckTerms("local-teacher", false); err != nil {
		t.Error(err)
	}
}

func TestRedact(t *testing.T) {
	p := load(t, sample)
	got, n := p.Redact("mail ops@fleet.example.com about SN-123456 and SN-654321 now")
	want := "mail [EMAIL] about [SERIAL] and [SERIAL] now"
	if got != want || n != 3 {
		t.Fatalf("got %q (%d), want %q (3)", got, n, want)
	}
}

func TestValidateNamesProblems(t *testing.T) {
	bad := strings.Replace(sample, "store: [text, logprobs]\n", "store: [text, logits]\n", 1)
	bad = strings.Replace(bad, "teachers: [cloud-gpt, local-teacher]\n    store: [text, logits]", "teachers: [cloud-gpt, nobody]\n    store: [text, logits]", 1)
	bad = strings.Replace(bad, `'\bSN-[0-9]{6}\b'`, `'(unclosed'`, 1)
	var p Policy
	if err := configs.Decode("policy.yaml", []byte(bad), &p); err != nil {
		t.Fatal(err)
	}
	err := p.Validate()
	for _, want := range []string{`unknown signal "logits"`, `unknown teacher "nobody"`, "redactions[1] (serial)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %v lacks %q", err, want)
		}
	}
	var q Policy
	if err := configs.Decode("policy.yaml", []byte(sample+"extra: 1\n"), &q); err == nil || !strings.Contains(err.Error(), `"extra"`) {
		t.Errorf("unknown key accepted: %v", err)
	}
}

func TestHashIgnoresFormattingButNotContent(t *testing.T) {
	a := load(t, sample)
	// Same content: comments added, teacher order swapped.
	swapped := strings.Replace(sample, "  cloud-gpt:\n    remote: true\n    restricts_training: true\n    terms: https://example.invalid/terms\n  local-teacher:\n    remote: false\n",
		"  local-teacher: # on the workstation\n    remote: false\n  cloud-gpt:\n    remote: true\n    restricts_training: true\n    terms: https://example.invalid/terms\n", 1)
	if swapped == sample {
		t.Fatal("test edit did not apply")
	}
	b := load(t, "# a comment\n"+swapped)
	if a.Hash() != b.Hash() {
		t.Fatal("formatting changed the hash")
	}
	c := load(t, strings.Replace(sample, "local_only: true", "local_only: false", 1))
	if a.Hash() == c.Hash() {
		t.Fatal("content change kept the hash")
	}
}

func TestDefaultRedactionsCompileAndMatch(t *testing.T) {
	p := &Policy{Version: 1, Classes: map[string]Class{"public": {}}, Redactions: DefaultRedactions}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	got, n := p.Redact("call +1 415-555-0100 or tech@x.org re S/N: AB-12345")
	if n != 3 || strings.ContainsAny(got, "@") || strings.Contains(got, "555") || strings.Contains(got, "12345") {
		t.Fatalf("default redactions: %q (%d)", got, n)
	}
}

func TestCheckRowFollowsTheRowsClass(t *testing.T) {
	var p Policy
	if err := configs.Decode("p.yaml", []byte(`version: 1
teachers: {t: {remote: true}}
classes:
  public: {teachers: [t], store: [text, logprobs, hidden_states]}
  internal: {teachers: [t], store: [text]}
`), &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		prov           string
		lp, hidden, ok bool
	}{
		{`{"class":"public","prompt_id":"x"}`, true, true, true},
		{`{"class":"internal"}`, false, false, true},
		{`{"class":"internal"}`, true, false, false},
		{`{"class":"gone"}`, false, false, false},
		{`{"prompt_id":"imported"}`, true, false, true},
		{``, true, true, true},
	} {
		err := p.CheckRow(c.prov, c.lp, c.hidden)
		if (err == nil) != c.ok {
			t.Errorf("%s logprobs=%v hidden=%v: %v", c.prov, c.lp, c.hidden, err)
		}
	}
	if p.Hash() != "sha256:"+fmt.Sprintf("%x", sha256.Sum256(p.Canonical())) {
		t.Fatal("hash is not of the canonical form")
	}
}

// An unknown class or teacher is refused by every decision that looks it
// up, with a Refusal naming it.
func TestUnknownNamesAreRefused(t *testing.T) {
	p := load(t, sample)
	for _, c := range []struct {
		call string
		err  error
		want string
	}{
		{"CheckSend(unknown class)", p.CheckSend("secret", "cloud-gpt"), `data class "secret" is not in the policy`},
		{"CheckSend(unknown teacher)", p.CheckSend("public", "someone-else"), `teacher "someone-else" is not in the policy`},
		{"CheckStore(unknown class)", p.CheckStore("secret", SignalText), `data class "secret" is not in the policy`},
		{"CheckTerms(unknown teacher)", p.CheckTerms("someone-else", true), `teacher "someone-else" is not in the policy`},
	} {
		var r *Refusal
		if !errors.As(c.err, &r) || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s = %v, want a Refusal saying %s", c.call, c.err, c.want)
		}
	}
}
