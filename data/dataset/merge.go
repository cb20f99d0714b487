package dataset

import (
	"errors"
	"fmt"
)

// MergeOptions controls Merge.
type MergeOptions struct {
	Writer WriterOptions
	// Progress, if set, is called after each input shard with shards done and total.
	Progress func(done, total int)
}

// MergeStats summarizes a merge.
type MergeStats struct {
	Rows       int64 // rows written
	Tokens     int64
	Duplicates int64 // rows skipped because an earlier input already had their id
}

// Merge combines the datasets in inputs into a new dataset at out, in input
// order, keeping the first row of every id. Inputs must agree on everything
// that gives rows their meaning (tokenizer, vocabulary, K, hidden layers,
// teacher, temperature, policy). Rows are decoded and re-encoded, which is
// lossless for stored values, and so re-validated on the way.
func Merge(out string, inputs []string, opts MergeOptions) (MergeStats, error) {
	var st MergeStats
	if len(inputs) == 0 {
		return st, errors.New("merge: no input datasets")
	}
	var dss []*Dataset
	for _, in := range inputs {
		ds, err := Open(in)
		if err != nil {
			return st, fmt.Errorf("merge: %w", err)
		}
		if len(dss) > 0 {
			if err := dss[0].Meta().SameSource(ds.Meta()); err != nil {
				return st, fmt.Errorf("merge %s with %s: %w", inputs[0], in, err)
			}
		}
		dss = append(dss, ds)
	}
	meta := *dss[0].Meta()
	meta.WriterVersion = "distill-merge/1"
	w, err := Create(out, meta, opts.Writer)
	if err != nil {
		return st, fmt.Errorf("merge: %w", err)
	}
	seen := map[string]bool{}
	total, done, last := 0, 0, -1
	for _, ds := range dss {
		total += len(ds.Manifest.Shards)
	}
	for _, ds := range dss {
		err := ds.Each(func(shard int, _ int64, rec *Record) error {
			if opts.Progress != nil && shard != last {
				if last >= 0 {
					done++
					opts.Progress(done, total)
				}
				last = shard
			}
			if seen[rec.ID] {
				st.Duplicates++
				return nil
			}
			seen[rec.ID] = true
			if err := w.Write(rec); err != nil {
				return err
			}
			st.Rows++
			st.Tokens += int64(len(rec.Tokens))
			return nil
		})
		if err != nil {
			w.Abort()
			return st, fmt.Errorf("merge %s: %w", ds.Dir, err)
		}
		if opts.Progress != nil && last >= 0 {
			done++
			opts.Progress(done, total)
		}
		last = -1
	}
	if err := w.Close(); err != nil {
		return st, fmt.Errorf("merge: %w", err)
	}
	return st, nil
}
