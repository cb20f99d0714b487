package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/dataset"
)

// importSmallDataset imports two rows into a fresh dataset directory and
// returns it.
func importSmallDataset(t *testing.T) string {
	t.Helper()
	tmp := t.TempDir()
	_, tokPath := writeTrainedTokenizer(t, filepath.Join(tmp, "tokenizer.json"), 300, "Scanners are charged nightly. Policy 3.1 covers drops.")
	in := filepath.Join(tmp, "train.jsonl")
	os.WriteFile(in, []byte(`{"prompt": "Policy 3.1?", "completion": " It covers drops."}
{"text": "Scanners are charged nightly."}
`), 0o644)
	out := filepath.Join(tmp, "ds")
	if code, _, stderr := runCLI(t, "data", "import", "--in", in, "--tokenizer", tokPath, "--out", out); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	return out
}

// TestInspectValidatesWhatItPrints: inspect used to print the manifest's
// row counts for a dataset whose shard is empty, truncated or altered, and
// exit 0. Now it checks each shard (size, sha256, footer and row count) and
// fails naming the shard.
func TestInspectValidatesWhatItPrints(t *testing.T) {
	shard := "part-00000.parquet"
	for _, c := range []struct {
		name   string
		break_ func(p string)
		want   string
	}{
		{"empty", func(p string) { os.WriteFile(p, nil, 0o644) }, "0 bytes"},
		{"truncated", func(p string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-100], 0o644)
		}, "bytes"},
		{"altered", func(p string) {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x10
			os.WriteFile(p, b, 0o644)
		}, "sha256"},
		{"missing", func(p string) { os.Remove(p) }, "no such file"},
	} {
		dir := importSmallDataset(t)
		if code, _, stderr := runCLI(t, "inspect", dir); code != 0 {
			t.Fatalf("intact dataset: exit %d: %s", code, stderr)
		}
		c.break_(filepath.Join(dir, shard))
		code, stdout, stderr := runCLI(t, "inspect", dir)
		if code != 1 || !strings.Contains(stderr, shard) || !strings.Contains(stderr, c.want) {
			t.Errorf("%s shard: inspect dir exit %d, stdout %q, stderr %q (want %q)", c.name, code, stdout, stderr, c.want)
		}
		if c.name == "empty" || c.name == "truncated" {
			code, stdout, stderr = runCLI(t, "inspect", filepath.Join(dir, shard))
			if code != 1 || !strings.Contains(stderr, shard) {
				t.Errorf("%s shard: inspect shard exit %d, stdout %q, stderr %q", c.name, code, stdout, stderr)
			}
		}
	}
}

// inspect prints a teacher setting that holds JSON (the dataset policy)
// indented over several lines, not as one long line (issue 17, item 11).
func TestInspectIndentsJSONTeacherSettings(t *testing.T) {
	var out bytes.Buffer
	describeMeta(&app{stdout: &out, stderr: &out}, &dataset.Meta{Teacher: "local-teacher", Temperature: 1,
		TeacherSettings: map[string]string{"kind": "local", "policy": `{"version":1,"teachers":{"local-teacher":{"remote":false}}}`}})
	text := out.String()
	for _, want := range []string{"\n  kind:", "local\n", "\n  policy:", "\n      \"version\": 1,\n", "\n      \"teachers\": {\n", "\"remote\": false\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, `{"version":1`) {
		t.Errorf("the policy JSON is printed on one line:\n%s", text)
	}
}
