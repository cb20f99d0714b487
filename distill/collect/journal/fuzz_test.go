package journal

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReplay opens arbitrary bytes as a journal: never a panic; when it
// opens, reopening gives the same settled ids (a torn tail was truncated
// away, nothing else changed).
func FuzzReplay(f *testing.F) {
	f.Add([]byte(`{"kind":"shard","file":"seg-000000","sha256":"x","ids":["a","b"]}` + "\n" + `{"kind":"failed","id":"c","reason":"http_400"}` + "\n"))
	f.Add([]byte(`{"kind":"failed","id":"c","reason":"http_400"}` + "\n" + `{"kind":"sha`))
	f.Add([]byte(`{"kind":"failed","id":"c"}` + "\n" + `{"kind":"failed","id":"c"}` + "\n"))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "journal.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		j, err := Open(path)
		if err != nil {
			return
		}
		shards, failed := len(j.Shards()), len(j.Failures())
		j.Close()
		j2, err := Open(path)
		if err != nil {
			t.Fatalf("reopen after a successful open: %v", err)
		}
		defer j2.Close()
		if len(j2.Shards()) != shards || len(j2.Failures()) != failed {
			t.Fatalf("reopen: %d shards %d failures, first open %d %d", len(j2.Shards()), len(j2.Failures()), shards, failed)
		}
	})
}
