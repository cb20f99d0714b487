package collect

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestResumeWithOtherSettingsNamesTheSetting: an output directory whose
// segments were collected with top_p 1 refuses a run with top_p 0.5, and
// the error names the differing setting and both values.
func TestResumeWithOtherSettingsNamesTheSetting(t *testing.T) {
	const n = 12
	e := orderEnv(t, n)
	out := filepath.Join(t.TempDir(), "out")
	e.cfg.Sampling.TopP = 1
	if _, err := collectWith(t, context.Background(), e, 1, newScrambledTeacher(t, 1, n), out); err != nil {
		t.Fatal(err)
	}
	e.cfg.Sampling.TopP = 0.5
	_, err := collectWith(t, context.Background(), e, 1, newScrambledTeacher(t, 1, 0), out)
	if err == nil || !strings.Contains(err.Error(), `teacher_settings.top_p "1" vs "0.5"`) || !strings.Contains(err.Error(), out) {
		t.Fatalf("resume with another top_p: %v; want an error naming %s and teacher_settings.top_p", err, out)
	}
	if strings.Contains(err.Error(), "{") {
		t.Errorf("error dumps whole metadata instead of naming the difference: %v", err)
	}
}
