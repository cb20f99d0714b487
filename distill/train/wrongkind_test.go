package train

import (
	"strings"
	"testing"
)

// `train --config tiny` used to list eleven unknown keys with no hint that
// tiny is a model preset; now the error says so and how to use it.
func TestLoadModelPresetAsTrainingConfig(t *testing.T) {
	_, err := Load("tiny")
	if err == nil {
		t.Fatal("a model preset was accepted as a training config")
	}
	for _, w := range []string{"tiny", "model", "--set model=tiny"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if strings.Count(err.Error(), "unknown key") > 1 {
		t.Errorf("error %q lists each unknown key", err)
	}
}
