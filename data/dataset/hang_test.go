package dataset

import (
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// TestRandomCorruptionIsAnError feeds deterministic random corruptions of a
// valid shard (overwritten, deleted, inserted bytes) to the reader: each must
// end in an error or a clean read, never a panic, hang or runaway allocation.
// (FuzzReadShard explores further in CI.)
func TestRandomCorruptionIsAnError(t *testing.T) {
	meta := testMeta()
	rows := []Row{goodRow(t, &meta, "a"), goodRow(t, &meta, "b"), goodRow(t, &meta, "c")}
	dir := t.TempDir()
	sw, err := newShardWriter(dir, 0, &meta, WriterOptions{ZstdLevel: 1})
	if err != nil {
		t.Fatal(err)
	}
	sw.writeRowGroup(rows[:2])
	sw.writeRowGroup(rows[2:])
	if _, err := sw.close(); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(dir, "part-00000.parquet"))
	r := rand.New(rand.NewSource(1))
	var failed int
	for i := 0; i < 3000; i++ {
		b := append([]byte(nil), good...)
		for j := 0; j < 1+r.Intn(4); j++ {
			switch r.Intn(4) {
			case 0:
				b[r.Intn(len(b))] = byte(r.Intn(256))
			case 1:
				k := r.Intn(len(b))
				b = append(b[:k], b[k+r.Intn(min(8, len(b)-k)):]...)
			case 2:
				k := r.Intn(len(b))
				ins := make([]byte, 1+r.Intn(8))
				r.Read(ins)
				b = append(b[:k], append(ins, b[k:]...)...)
			case 3:
				k := r.Intn(len(b) - 4)
				copy(b[k:], []byte{0xff, 0xff, 0xff, 0x7f})
			}
		}
		sr, err := OpenShardBytes("x", b)
		if err != nil {
			failed++
			continue
		}
		if sr2, err := OpenShardBytes("x", b); err == nil {
			sr2.ReadAll(nil) // the columnar path
		}
		for {
			row, err := sr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				failed++
				break
			}
			DecodeRecord(row, &sr.Meta)
		}
	}
	if failed == 0 {
		t.Fatal("no corruption was detected at all")
	}
	t.Logf("%d of 3000 corrupted shards rejected", failed)
}
