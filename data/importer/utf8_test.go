package importer_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/importer"
)

// TestInvalidUTF8IsAnErrorWithLineAndOffset: encoding/json silently turns
// invalid UTF-8 into U+FFFD, so the import used to store altered text. Now
// the import fails naming the line, the byte offset in the line and in the
// file, unless ReplaceInvalidUTF8 asks for the replacement explicitly.
func TestInvalidUTF8IsAnErrorWithLineAndOffset(t *testing.T) {
	tok := trainTokenizer(t)
	sp := tok.Special()
	first := `{"prompt": "What does policy 4.2 say?", "completion": " Charge every night."}` + "\n"
	second := "{\"text\": \"Report dropped scanners\xff\xfe within 24 hours.\"}\n"
	in := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(in, []byte(first+second), 0o644); err != nil {
		t.Fatal(err)
	}
	col := strings.Index(second, "\xff")
	out := filepath.Join(t.TempDir(), "ds")
	_, err := importer.Import(in, tok, out, importer.Options{BOS: sp.BOS, EOS: sp.EOS})
	if err == nil {
		t.Fatal("invalid UTF-8 imported")
	}
	for _, want := range []string{in, "line 2", "invalid UTF-8", "byte " + strconv.Itoa(col), "file offset " + strconv.Itoa(len(first)+col)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, derr := dataset.Open(out); derr == nil {
		t.Error("a dataset was left behind")
	}

	st, err := importer.Import(in, tok, out, importer.Options{BOS: sp.BOS, EOS: sp.EOS, ReplaceInvalidUTF8: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 2 || st.Replaced != 1 {
		t.Fatalf("stats %+v, want 2 rows with 1 replaced", st)
	}
	recs := readAll(t, out)
	if got := recs[1].Completion; got != "Report dropped scanners\uFFFD\uFFFD within 24 hours." {
		t.Fatalf("replaced text %q", got)
	}
}
