package dataset

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadShard: the shard reader and row decoder never panic (or allocate
// without bound) on arbitrary bytes; they return errors.
func FuzzReadShard(f *testing.F) {
	meta := testMeta()
	t := &testing.T{}
	rows := []Row{goodRow(t, &meta, "a"), goodRow(t, &meta, "b"), goodRow(t, &meta, "c")}
	dir := f.TempDir()
	sw, err := newShardWriter(dir, 0, &meta, WriterOptions{ZstdLevel: 1})
	if err != nil {
		f.Fatal(err)
	}
	if err := sw.writeRowGroup(rows[:2]); err != nil {
		f.Fatal(err)
	}
	if err := sw.writeRowGroup(rows[2:]); err != nil {
		f.Fatal(err)
	}
	if _, err := sw.close(); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, "part-00000.parquet"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[len(good)/3:])
	for _, off := range []int{4, 40, len(good) / 2, len(good) - 20, len(good) - 6} {
		b := append([]byte(nil), good...)
		b[off] ^= 0xff
		f.Add(b)
	}
	f.Add([]byte("PAR1PAR1"))
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sr, err := OpenShardBytes("fuzz.parquet", data)
		if err != nil {
			return
		}
		defer sr.Close()
		if sr.NumRows() > 1<<16 {
			return // a footer claiming huge row counts is read lazily; not worth walking
		}
		if sr2, err := OpenShardBytes("fuzz.parquet", data); err == nil {
			sr2.ReadAll(nil) // the columnar path
		}
		for {
			row, err := sr.Next()
			if err == io.EOF || err != nil {
				return
			}
			DecodeRecord(row, &sr.Meta)
		}
	})
}
