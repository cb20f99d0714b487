package configs

import (
	"strings"
	"testing"
)

// Errors caused by a --set override used to blame a line of the re-encoded
// YAML ("preset:train-kd:43", the file's last line plus one) and never name
// the override; a wrong type named neither the key nor the override. Now the
// override and the key are named, with the expected type; errors in the file
// keep the file's own line numbers even when overrides are given.
func TestDecodeOverrideErrorsNameTheOverride(t *testing.T) {
	src := "name: a\ntrain:\n  lr: 0.1\n  steps: 3\n"
	for _, c := range []struct {
		overrides []string
		want      []string
		notWant   string
	}{
		{[]string{"train.stepz=5"}, []string{`--set train.stepz=5`, `unknown key "stepz"`}, "z.yaml:5"},
		{[]string{"train.steps=abc"}, []string{`--set train.steps=abc`, "train.steps", "int", `"abc"`}, "z.yaml:4"},
		{[]string{"name=b", "train.lr=x"}, []string{`--set train.lr=x`, "train.lr", "float64"}, "name=b"},
	} {
		var v outer
		err := Decode("z.yaml", []byte(src), &v, c.overrides...)
		if err == nil {
			t.Fatalf("%v: accepted", c.overrides)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q lacks %q", c.overrides, err, w)
			}
		}
		if strings.Contains(err.Error(), c.notWant) {
			t.Errorf("%v: error %q should not mention %q", c.overrides, err, c.notWant)
		}
	}

	// An error in the file itself, with an unrelated override: the file's line.
	var v outer
	err := Decode("f.yaml", []byte("name: a\ntrain:\n  lr: 0.1\n  stepz: 3\n"), &v, "train.lr=0.2")
	if err == nil || !strings.Contains(err.Error(), "f.yaml:4") || strings.Contains(err.Error(), "--set") {
		t.Fatalf("file error with an override: %v, want it at f.yaml:4 without --set", err)
	}
	// A wrong type in the file names the key path too.
	err = Decode("y.yaml", []byte("name: a\ntrain:\n  steps: many\n"), &v)
	if err == nil || !strings.Contains(err.Error(), "y.yaml:3") || !strings.Contains(err.Error(), "train.steps") {
		t.Fatalf("wrong type in the file: %v, want y.yaml:3 naming train.steps", err)
	}
}

// A config of another kind (a model preset given where a training config
// belongs) used to produce one "unknown key" error per line; now one error
// says that none of its top-level keys belongs here.
func TestDecodeWrongKindOfConfig(t *testing.T) {
	var v outer
	err := Decode("preset:tiny", []byte("d_model: 256\nn_layers: 8\nn_heads: 4\n"), &v)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{"preset:tiny", "none of its top-level keys", "d_model", "outer", "another kind"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if strings.Count(err.Error(), "unknown key") > 0 {
		t.Errorf("error %q still lists each unknown key", err)
	}
	// One known key among unknown ones is an ordinary typo: each is listed.
	err = Decode("x.yaml", []byte("name: a\nnamez: b\n"), &v)
	if err == nil || !strings.Contains(err.Error(), `unknown key "namez"`) {
		t.Fatalf("typo beside a known key: %v", err)
	}
	// A non-scalar of the wrong type names the key.
	err = Decode("x.yaml", []byte("name: a\n"), &v, "train.lr=[1]")
	if err == nil || !strings.Contains(err.Error(), "key train.lr: want float64, got seq") {
		t.Fatalf("list for a number: %v", err)
	}
}
