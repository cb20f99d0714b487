package collect

import (
	"strings"
	"testing"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/distill/policy"
)

// TestShippedPresets decodes the embedded collect presets strictly, validates
// them, and checks them against the embedded default policy: the teachers
// they name are in the policy, and the cloud teacher's restrictive terms are
// refused until the config acknowledges them.
func TestShippedPresets(t *testing.T) {
	pol, err := policy.Load("policy-default")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"collect-local", "collect-openai"} {
		var cfg Config
		if err := configs.Load(name, &cfg); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cfg.Defaults()
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cfg.Policy != "policy-default" {
			t.Errorf("%s: policy %q", name, cfg.Policy)
		}
		for _, class := range []string{"public", "internal"} {
			if err := pol.CheckSend(class, cfg.TeacherName()); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		err := pol.CheckTerms(cfg.TeacherName(), cfg.AcknowledgeTerms)
		switch name {
		case "collect-local":
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if err := pol.CheckSend("sensitive", cfg.TeacherName()); err != nil {
				t.Errorf("%s: the local teacher may receive sensitive rows: %v", name, err)
			}
		case "collect-openai":
			if err == nil || !strings.Contains(err.Error(), "acknowledge_terms") {
				t.Errorf("%s: terms check %v", name, err)
			}
			if err := pol.CheckSend("sensitive", cfg.TeacherName()); err == nil {
				t.Errorf("%s: the remote teacher may receive sensitive rows", name)
			}
		}
	}
}
