// Package gguftest edits GGUF files for tests: a copy with metadata
// changed, added or left out and tensors left out or given other data, so a
// test can make the files other converters write (or broken ones) from a
// file distill exported. Test-only.
package gguftest

import (
	"bytes"
	"io"
	"testing"

	"github.com/distill-ml/distill/format/gguf"
)

// Edit says how Rewrite changes a file; its zero value copies. KV, when
// set, maps each key-value pair of the source, in order, to the pairs
// written in its place (none: the pair is left out). DropTensor, when set,
// leaves out the tensors it names; Data replaces a tensor's bytes (same
// type and dims).
type Edit struct {
	KV         func(kv gguf.KV) []gguf.KV
	DropTensor func(name string) bool
	Data       map[string][]byte
}

// Rewrite copies the GGUF in to out with e applied; a failure fails t.
func Rewrite(t testing.TB, in, out string, e Edit) {
	t.Helper()
	f, err := gguf.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := gguf.NewWriter()
	for _, kv := range f.KVs {
		kvs := []gguf.KV{kv}
		if e.KV != nil {
			kvs = e.KV(kv)
		}
		for _, nkv := range kvs {
			if err := w.Set(nkv.Key, nkv.Value); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, ti := range f.Tensors {
		if e.DropTensor != nil && e.DropTensor(ti.Name) {
			continue
		}
		if _, err := w.AddTensor(ti.Name, ti.Type, ti.Dims...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFile(out, func(_ int, ti gguf.TensorInfo, o io.Writer) error {
		if b, ok := e.Data[ti.Name]; ok {
			_, err := io.Copy(o, bytes.NewReader(b))
			return err
		}
		r, err := f.TensorReader(ti.Name)
		if err != nil {
			return err
		}
		_, err = io.Copy(o, r)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
