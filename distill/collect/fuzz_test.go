package collect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadPrompts reads arbitrary bytes as a prompt file: never a panic;
// errors name the file; every prompt read has a non-empty prompt and a
// unique id.
func FuzzReadPrompts(f *testing.F) {
	f.Add([]byte(`{"prompt":"a"}` + "\n" + `{"prompt":"b","class":"internal","id":"x"}` + "\n"))
	f.Add([]byte(`{"prompt":"a"}` + "\n" + `{"prompt":"a"}` + "\n"))
	f.Add([]byte(`{"prompt":""}`))
	f.Add([]byte(`{"prompt":"a"} trailing`))
	f.Add([]byte("\n \n[1,2]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "prompts.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ps, err := ReadPrompts(path, "src")
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, p := range ps {
			if strings.TrimSpace(p.Prompt) == "" || p.ID == "" || seen[p.ID] {
				t.Fatalf("prompt %+v", p)
			}
			seen[p.ID] = true
		}
	})
}
