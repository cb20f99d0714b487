package journal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplayAndExactlyOnce(t *testing.T) {
	p := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.CommitShard("shard-000.parquet", "aa", []string{"a", "b"}, 1); err != nil {
		t.Fatal(err)
	}
	if err := j.Fail("c", "http_400", "bad request"); err != nil {
		t.Fatal(err)
	}
	if err := j.CommitShard("shard-001.parquet", "bb", []string{"d", "a"}, 0); err == nil {
		t.Fatal("id a settled twice")
	}
	if err := j.Fail("b", "x", ""); err == nil {
		t.Fatal("stored id b also failed")
	}
	j.Close()

	j, err = Open(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if !j.Settled(id) {
			t.Errorf("%s not settled after replay", id)
		}
	}
	if j.Settled("d") {
		t.Error("d settled although its shard was refused")
	}
	if got := j.Orphans([]string{"shard-000.parquet", "shard-001.parquet"}); len(got) != 1 || got[0] != "shard-001.parquet" {
		t.Errorf("orphans %v", got)
	}
	j.Close()
}

func TestTornTailIsDropped(t *testing.T) {
	p := filepath.Join(t.TempDir(), "journal.jsonl")
	j, _ := Open(p)
	j.CommitShard("s0", "h", []string{"a"}, 0)
	j.Close()
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"kind":"shard","file":"s1","ids":["b"`) // kill -9 mid-append
	f.Close()
	j, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if j.Settled("b") || !j.Settled("a") {
		t.Fatal("torn record applied or good record lost")
	}
	if err := j.CommitShard("s1", "h", []string{"b"}, 0); err != nil {
		t.Fatal(err)
	}
	j.Close()
	b, _ := os.ReadFile(p)
	if strings.Count(string(b), "\n") != 2 || strings.Contains(string(b), `"ids":["b"{`) {
		t.Fatalf("journal after repair:\n%s", b)
	}
	j, err = Open(p)
	if err != nil || !j.Settled("b") {
		t.Fatalf("reopen after repair: %v", err)
	}
}

func TestCorruptMiddleLineIsAnError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "journal.jsonl")
	os.WriteFile(p, []byte("{\"kind\":\"failed\",\"id\":\"a\"}\nnot json\n{\"kind\":\"failed\",\"id\":\"b\"}\n"), 0o644)
	if _, err := Open(p); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("got %v", err)
	}
}
