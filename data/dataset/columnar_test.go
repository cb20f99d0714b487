package dataset

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestColumnarMatchesRowReader: the columnar fast path returns exactly what
// parquet-go's row reconstruction returns, on shards with many row groups,
// text-only rows and teacher rows.
func TestColumnarMatchesRowReader(t *testing.T) {
	meta := testMeta()
	var rows []Row
	for i := 0; i < 300; i++ {
		r := goodRow(t, &meta, fmt.Sprint("p", i))
		if i%3 == 0 { // text-only row
			r = Row{ID: RowID("s", fmt.Sprint(i)), Split: "validation", Source: "s", Prompt: fmt.Sprint(i),
				Tokens: []int32{int32(i), 7, 8}, PromptLen: 0}
		}
		r.Provenance = fmt.Sprintf(`{"i":%d}`, i)
		rows = append(rows, r)
	}
	dir := t.TempDir()
	sw, err := newShardWriter(dir, 0, &meta, WriterOptions{ZstdLevel: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(rows); i += 37 {
		if err := sw.writeRowGroup(rows[i:min(i+37, len(rows))]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sw.close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "part-00000.parquet")
	a, err := OpenShard(path)
	if err != nil {
		t.Fatal(err)
	}
	col, err := a.readColumnar(nil)
	a.Close()
	if err != nil {
		t.Fatalf("columnar path: %v", err)
	}
	b, _ := OpenShard(path)
	ref, err := b.readRowsAll(nil)
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(col) != len(rows) || len(ref) != len(rows) {
		t.Fatalf("columnar %d rows, row reader %d, wrote %d", len(col), len(ref), len(rows))
	}
	for i := range rows {
		if !sameRow(&col[i], &ref[i]) || !sameRow(&col[i], &rows[i]) {
			t.Fatalf("row %d:\ncolumnar %+v\nrows     %+v\nwritten  %+v", i, col[i], ref[i], rows[i])
		}
	}
	_ = os.Remove
}

func sameRow(a, b *Row) bool {
	return a.ID == b.ID && a.Split == b.Split && a.Source == b.Source && a.Teacher == b.Teacher &&
		a.Prompt == b.Prompt && a.Completion == b.Completion && a.PromptLen == b.PromptLen &&
		a.Provenance == b.Provenance && slices.Equal(a.Tokens, b.Tokens) &&
		bytes.Equal(a.TopKTail, b.TopKTail) && bytes.Equal(a.TopKIDsLo, b.TopKIDsLo) &&
		bytes.Equal(a.TopKIDsHi, b.TopKIDsHi) && bytes.Equal(a.TopKLogprobs, b.TopKLogprobs) && bytes.Equal(a.Hidden, b.Hidden)
}
