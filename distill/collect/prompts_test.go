package collect

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestShardsPartitionPrompts(t *testing.T) {
	const n = 4
	counts := make([]int, n)
	for k := 0; k < 10000; k++ {
		id := fmt.Sprintf("prompt-%d", k)
		owners := 0
		for i := 0; i < n; i++ {
			if (Shard{i, n}).Owns(id) {
				owners++
				counts[i]++
			}
		}
		if owners != 1 {
			t.Fatalf("%s owned by %d shards", id, owners)
		}
	}
	for i, c := range counts {
		if c < 2300 || c > 2700 {
			t.Errorf("shard %d got %d of 10000", i, c)
		}
	}
}

func TestParseShard(t *testing.T) {
	env := func(k string) string {
		if k == "JOB_COMPLETION_INDEX" {
			return "2"
		}
		return ""
	}
	for spec, want := range map[string]Shard{"": {0, 1}, "1/3": {1, 3}, "/4": {2, 4}, "$JOB_COMPLETION_INDEX/4": {2, 4}} {
		got, err := ParseShard(spec, env)
		if err != nil || got != want {
			t.Errorf("%q: %v %v", spec, got, err)
		}
	}
	for _, bad := range []string{"3/3", "-1/2", "a/b", "1", "/0"} {
		if _, err := ParseShard(bad, env); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseShard("/4", func(string) string { return "" }); err == nil {
		t.Error("missing JOB_COMPLETION_INDEX accepted")
	}
}

func TestReadPromptsErrorsNameLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "p.jsonl")
	os.WriteFile(p, []byte(`{"prompt":"a"}`+"\n\n"+`{"prompt":"b","class":"public"}`+"\n"), 0o644)
	ps, err := ReadPrompts(p, "file")
	if err != nil || len(ps) != 2 || ps[0].ID == "" || ps[0].ID == ps[1].ID || ps[1].Class != "public" {
		t.Fatalf("%+v %v", ps, err)
	}
	for content, want := range map[string]string{
		`{"prompt":"a"}` + "\n" + `{"prompt":""}`:    "line 2: field \"prompt\" is empty",
		`{"prompt":"a"}` + "\n" + `{"prompt":"a"}`:   "line 2: id",
		`{"prompt":"a"}` + "\n" + `{"prompt":"a"`:    "line 2",
		`{"prompt":"a","unknown":1}` + "\n" + `oops`: "line 2",
	} {
		os.WriteFile(p, []byte(content), 0o644)
		if _, err := ReadPrompts(p, "file"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", content, err, want)
		}
	}
}
