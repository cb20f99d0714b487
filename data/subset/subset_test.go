package subset_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/subset"
)

// rows writes n JSONL rows with ids row-0000.. and returns the file.
func rows(t *testing.T, n int) (string, []string) {
	t.Helper()
	var lines []string
	for i := 0; i < n; i++ {
		lines = append(lines, fmt.Sprintf(`{"id":"row-%04d","prompt":"Question %d?","completion":" Answer %d."}`, i, i, i))
	}
	p := filepath.Join(t.TempDir(), "train.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, lines
}

func readLines(t *testing.T, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestFractionIsExactStableAndNested(t *testing.T) {
	in, all := rows(t, 1000)
	dir := t.TempDir()
	pick := func(name string, fraction float64, seed int64) []string {
		out := filepath.Join(dir, name)
		st, err := subset.JSONL(in, out, fraction, seed)
		if err != nil {
			t.Fatal(err)
		}
		got := readLines(t, out)
		if st.Rows != 1000 || st.Kept != len(got) {
			t.Fatalf("%s: stats %+v but %d lines written", name, st, len(got))
		}
		return got
	}
	ten := pick("ten.jsonl", 0.1, 1)
	if len(ten) != 100 {
		t.Fatalf("fraction 0.1 of 1000 rows kept %d, want exactly 100", len(ten))
	}
	if again := pick("again.jsonl", 0.1, 1); strings.Join(again, "\n") != strings.Join(ten, "\n") {
		t.Fatal("the same fraction and seed selected different rows")
	}
	// Lines are copied byte for byte, in file order.
	pos := map[string]int{}
	for i, l := range all {
		pos[l] = i
	}
	last := -1
	for _, l := range ten {
		i, ok := pos[l]
		if !ok || i <= last {
			t.Fatalf("line %q is not an input line in file order", l)
		}
		last = i
	}
	// A larger fraction contains the smaller one's rows.
	twenty := pick("twenty.jsonl", 0.2, 1)
	inTwenty := map[string]bool{}
	for _, l := range twenty {
		inTwenty[l] = true
	}
	for _, l := range ten {
		if !inTwenty[l] {
			t.Fatalf("row %q of the 10%% subset is missing from the 20%% subset", l)
		}
	}
	// Another seed is another subset (two random 100-of-1000 draws share ~10 rows).
	other := pick("other.jsonl", 0.1, 2)
	shared := 0
	for _, l := range other {
		for _, m := range ten {
			if l == m {
				shared++
			}
		}
	}
	if shared > 40 {
		t.Fatalf("seeds 1 and 2 share %d of 100 rows", shared)
	}
	if full := pick("full.jsonl", 1, 1); strings.Join(full, "\n") != strings.Join(all, "\n") {
		t.Fatal("fraction 1 did not copy every row")
	}
}

// The selection depends on row ids, not on their order in the file.
func TestSelectionIgnoresFileOrder(t *testing.T) {
	in, all := rows(t, 300)
	rev := make([]string, len(all))
	for i, l := range all {
		rev[len(all)-1-i] = l
	}
	revIn := filepath.Join(t.TempDir(), "rev.jsonl")
	os.WriteFile(revIn, []byte(strings.Join(rev, "\n")+"\n"), 0o644)
	dir := t.TempDir()
	if _, err := subset.JSONL(in, filepath.Join(dir, "a.jsonl"), 0.25, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := subset.JSONL(revIn, filepath.Join(dir, "b.jsonl"), 0.25, 7); err != nil {
		t.Fatal(err)
	}
	a, b := readLines(t, filepath.Join(dir, "a.jsonl")), readLines(t, filepath.Join(dir, "b.jsonl"))
	set := map[string]bool{}
	for _, l := range a {
		set[l] = true
	}
	for _, l := range b {
		if !set[l] {
			t.Fatalf("reordered file selected %q, which the original did not", l)
		}
	}
	if len(a) != 75 || len(b) != 75 {
		t.Fatalf("kept %d and %d rows, want 75", len(a), len(b))
	}
}

func TestErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	for want, content := range map[string]string{
		"line 2: ":                            "{\"id\":\"a\",\"prompt\":\"p\"}\n{bad\n",
		"line 3: id \"a\" repeats line 1":     "{\"id\":\"a\",\"prompt\":\"p\"}\n{\"id\":\"b\",\"prompt\":\"q\"}\n{\"id\":\"a\",\"prompt\":\"r\"}\n",
		"line 1: no id, prompt or text":       "{\"completion\":\"c\"}\n",
		"no rows":                             "\n\n",
		"selects no rows (fraction 0.1 of 2)": "{\"prompt\":\"p\"}\n{\"prompt\":\"q\"}\n",
	} {
		in := filepath.Join(dir, "in.jsonl")
		os.WriteFile(in, []byte(content), 0o644)
		out := filepath.Join(dir, "out.jsonl")
		_, err := subset.JSONL(in, out, 0.1, 1)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), in) {
			t.Errorf("%q: error %v, want it to name %s and say %q", content, err, in, want)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%q: an output was written despite the error", content)
		}
	}
	for _, f := range []float64{0, -0.5, 1.5} {
		if _, err := subset.JSONL("x.jsonl", filepath.Join(dir, "o.jsonl"), f, 1); err == nil || !strings.Contains(err.Error(), "fraction") {
			t.Errorf("fraction %g: error %v, want one naming the fraction", f, err)
		}
	}
}
