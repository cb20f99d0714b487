package imatrix

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// legacyFile builds a .dat file in llama.cpp's legacy layout, by hand.
func legacyFile(entries []struct {
	name  string
	ncall int32
	vals  []float32
}, trailer bool) []byte {
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	le(int32(len(entries)))
	for _, e := range entries {
		le(int32(len(e.name)))
		b.WriteString(e.name)
		le(e.ncall)
		le(int32(len(e.vals)))
		le(e.vals)
	}
	if trailer {
		le(int32(7))
		le(int32(len("train.txt")))
		b.WriteString("train.txt")
	}
	return b.Bytes()
}

// The weights llama-quantize derives, by hand: legacy values / ncall (as
// they are for ncall 0); GGUF sums / count per matrix (1s for count 0).
func TestWeightsAsLlamaQuantize(t *testing.T) {
	dir := t.TempDir()
	legacy := filepath.Join(dir, "imatrix.dat")
	if err := os.WriteFile(legacy, legacyFile([]struct {
		name  string
		ncall int32
		vals  []float32
	}{{"blk.0.attn_q.weight", 4, []float32{8, 2, 1}}, {"blk.0.ffn_up.weight", 0, []float32{3, 5}}}, true), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Read(legacy)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Legacy || f.ChunkCount != 7 || !reflect.DeepEqual(f.Datasets, []string{"train.txt"}) {
		t.Errorf("legacy metadata: %+v", f)
	}
	w, err := f.Weights()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{"blk.0.attn_q.weight": {2, 0.5, 0.25}, "blk.0.ffn_up.weight": {3, 5}}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("legacy weights %v, want %v", w, want)
	}

	g := filepath.Join(dir, "imatrix.gguf")
	in := &File{Entries: map[string]Entry{
		"blk.0.attn_q.weight":   {Sums: []float32{6, 3, 9}, Counts: []int64{3}},
		"blk.1.ffn_down.weight": {Sums: []float32{4, 8, 1, 2}, Counts: []int64{4, 0}}, // two expert matrices
	}, Datasets: []string{"prompts.parquet"}, ChunkCount: 12, ChunkSize: 512}
	if err := Write(g, in); err != nil {
		t.Fatal(err)
	}
	back, err := Read(g)
	if err != nil {
		t.Fatal(err)
	}
	if back.Legacy || !back.HasMetadata || back.ChunkCount != 12 || back.ChunkSize != 512 || !reflect.DeepEqual(back.Entries, in.Entries) {
		t.Errorf("GGUF round trip: %+v", back)
	}
	w, err = back.Weights()
	if err != nil {
		t.Fatal(err)
	}
	want = map[string][]float32{"blk.0.attn_q.weight": {2, 1, 3}, "blk.1.ffn_down.weight": {1, 2, 1, 1}}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("GGUF weights %v, want %v", w, want)
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"empty": {0, 0, 0, 0},
		"truncated": legacyFile([]struct {
			name  string
			ncall int32
			vals  []float32
		}{{"a", 1, []float32{1, 2}}}, false)[:20],
		"huge": append(legacyFile([]struct {
			name  string
			ncall int32
			vals  []float32
		}{{"a", 1, []float32{1}}}, false)[:13], 0xff, 0xff, 0xff, 0x7f),
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o644)
		if _, err := Read(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
	noMeta := &File{Entries: map[string]Entry{"x": {Sums: []float32{1}, Counts: []int64{1}}}}
	if _, err := noMeta.Weights(); err == nil {
		t.Error("GGUF entries without metadata accepted")
	}
}
