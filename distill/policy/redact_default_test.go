package policy

import (
	"reflect"
	"testing"

	"github.com/distill-ml/distill/configs"
)

// TestDefaultRedactionsCatchCommonForms: forms the first default rules
// missed (full-width @, "[at]"/"[dot]", US phone numbers without a country
// code, lower-case serial labels) are redacted by DefaultRedactions and by
// configs/policy-default.yaml, which carries the same rules; ordinary text
// with numbers is left alone.
func TestDefaultRedactionsCatchCommonForms(t *testing.T) {
	var fromFile Policy
	if err := configs.Load("policy-default", &fromFile); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromFile.Redactions, DefaultRedactions) {
		t.Fatalf("policy-default.yaml redactions differ from DefaultRedactions:\n%+v\n%+v", fromFile.Redactions, DefaultRedactions)
	}
	p := &Policy{Version: 1, Classes: map[string]Class{"public": {}}, Redactions: DefaultRedactions}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, want string }{
		{"write to dave＠example.com today", "write to [EMAIL] today"},
		{"mail erin [at] example [dot] com please", "mail [EMAIL] please"},
		{"mail erin(at)example(dot)co(dot)uk", "mail [EMAIL]"},
		{"ops@fleet.example.com", "[EMAIL]"},
		{"call (415) 555-0199 now", "call [PHONE] now"},
		{"call 415-555-0123.", "call [PHONE]."},
		{"call 415.555.0123", "call [PHONE]"},
		{"call +1 415 555 0100", "call [PHONE]"},
		{"call +44 20 7946 0958", "call [PHONE]"},
		{"unit sn: ab-123456 failed", "unit [SERIAL] failed"},
		{"unit S/N: AB-12345 failed", "unit [SERIAL] failed"},
		{"serial number XK-99812 ok", "[SERIAL] ok"},
	} {
		got, n := p.Redact(c.in)
		if got != c.want || n == 0 {
			t.Errorf("Redact(%q) = %q (%d), want %q", c.in, got, n, c.want)
		}
	}
	for _, keep := range []string{
		"batch sizes 128 256 1024 and 4096",
		"released 2024-01-15, version 1.2.3",
		"y = x @ w.weight",
		"replace the battery after 500 charge cycles [§3.2]",
		"the serial port and the snapshot",
		"policy 4.2 covers 24 hours",
	} {
		if got, n := p.Redact(keep); n != 0 {
			t.Errorf("Redact(%q) = %q: ordinary text redacted", keep, got)
		}
	}
}
