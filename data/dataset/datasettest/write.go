package datasettest

import (
	"testing"

	"github.com/distill-ml/distill/data/dataset"
)

// Write writes recs into a new dataset at dir (dataset.Create, Write each,
// Close) and opens it; any error fails t.
func Write(t testing.TB, dir string, meta dataset.Meta, opts dataset.WriterOptions, recs []*dataset.Record) *dataset.Dataset {
	t.Helper()
	w, err := dataset.Create(dir, meta, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}
