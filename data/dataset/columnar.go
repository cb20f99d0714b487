package dataset

import (
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// readColumnar reads every row of the shard column by column, copying each
// page's values into one buffer and slicing rows out of it. It does the same
// as reading through parquet-go's row reconstruction, without per-value
// reflection (about twice as fast); ReadAll falls back to the row path if a
// page uses a layout this path does not handle.
func (s *ShardReader) readColumnar(keep func(*Row) bool) (rows []Row, err error) {
	defer recoverAs(&err, fmt.Sprintf("read shard %s", s.Path))
	cols := s.pf.Schema().Columns()
	colIndex := map[string]int{}
	for i, path := range cols {
		colIndex[joinPath(path)] = i
	}
	var base int64
	for g, rg := range s.pf.RowGroups() {
		n := int(rg.NumRows())
		chunks := rg.ColumnChunks()
		group := make([]Row, n)
		bytesCol := func(name string, set func(r *Row, b []byte)) error {
			ci, ok := colIndex[name]
			if !ok {
				if optionalColumns[name] { // an older shard: the column reads as empty
					return nil
				}
				return fmt.Errorf("read shard %s row group %d: no column %s", s.Path, g, name)
			}
			vals, err := readByteArrayColumn(chunks[ci], n)
			if err != nil {
				return fmt.Errorf("read shard %s row group %d column %s: %w", s.Path, g, name, err)
			}
			for i := range group {
				set(&group[i], vals[i])
			}
			return nil
		}
		for _, c := range []struct {
			name string
			set  func(r *Row, b []byte)
		}{
			{"id", func(r *Row, b []byte) { r.ID = string(b) }},
			{"split", func(r *Row, b []byte) { r.Split = string(b) }},
			{"source", func(r *Row, b []byte) { r.Source = string(b) }},
			{"teacher", func(r *Row, b []byte) { r.Teacher = string(b) }},
			{"prompt", func(r *Row, b []byte) { r.Prompt = string(b) }},
			{"completion", func(r *Row, b []byte) { r.Completion = string(b) }},
			{"topk_tail", func(r *Row, b []byte) { r.TopKTail = b }},
			{"topk_ids_lo", func(r *Row, b []byte) { r.TopKIDsLo = b }},
			{"topk_ids_hi", func(r *Row, b []byte) { r.TopKIDsHi = b }},
			{"topk_logprobs", func(r *Row, b []byte) { r.TopKLogprobs = b }},
			{"topk_tail_tempered", func(r *Row, b []byte) { r.TopKTailTempered = b }},
			{"hidden", func(r *Row, b []byte) { r.Hidden = b }},
			{"provenance", func(r *Row, b []byte) { r.Provenance = string(b) }},
		} {
			if err := bytesCol(c.name, c.set); err != nil {
				return nil, err
			}
		}
		pl, err := readInt32Column(chunks[colIndex["prompt_len"]], n)
		if err != nil {
			return nil, fmt.Errorf("read shard %s row group %d column prompt_len: %w", s.Path, g, err)
		}
		toks, err := readInt32ListColumn(chunks[colIndex["tokens.list.element"]], n)
		if err != nil {
			return nil, fmt.Errorf("read shard %s row group %d column tokens: %w", s.Path, g, err)
		}
		for i := range group {
			group[i].PromptLen = pl[i]
			group[i].Tokens = toks[i]
			if keep == nil || keep(&group[i]) {
				rows = append(rows, group[i])
			}
		}
		base += int64(n)
	}
	if base != s.rows {
		return nil, fmt.Errorf("read shard %s: row groups hold %d rows, footer says %d", s.Path, base, s.rows)
	}
	s.next = s.rows
	return rows, nil
}

func joinPath(p []string) string {
	s := p[0]
	for _, q := range p[1:] {
		s += "." + q
	}
	return s
}

// errLayout marks a page layout the columnar path does not handle.
var errLayout = errors.New("page layout not handled by the columnar reader")

// eachPage calls fn for every page of a column chunk.
func eachPage(cc parquet.ColumnChunk, fn func(p parquet.Page) error) error {
	pages := cc.Pages()
	defer pages.Close()
	for {
		p, err := pages.ReadPage()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		err = fn(p)
		parquet.Release(p)
		if err != nil {
			return err
		}
	}
}

// readByteArrayColumn reads a required, non-repeated byte-array column of n rows.
func readByteArrayColumn(cc parquet.ColumnChunk, n int) ([][]byte, error) {
	out := make([][]byte, 0, n)
	var buf []parquet.Value
	err := eachPage(cc, func(p parquet.Page) error {
		if p.NumNulls() != 0 || len(p.RepetitionLevels()) != 0 {
			return errLayout
		}
		if p.Dictionary() != nil { // dictionary-encoded (split, source, teacher): few distinct values
			if buf == nil {
				buf = make([]parquet.Value, 256)
			}
			vr := p.Values()
			for {
				k, err := vr.ReadValues(buf)
				for _, v := range buf[:k] {
					if len(out) >= n {
						return fmt.Errorf("more than %d values", n)
					}
					out = append(out, v.Clone().ByteArray())
				}
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
			}
		}
		d := p.Data()
		data, offs := d.ByteArray()
		if int64(len(offs)) != p.NumValues()+1 || len(out)+len(offs)-1 > n {
			return fmt.Errorf("page of %d values has %d offsets (%d rows expected in all)", p.NumValues(), len(offs), n)
		}
		arena := append([]byte(nil), data...)
		for i := 0; i+1 < len(offs); i++ {
			lo, hi := offs[i], offs[i+1]
			if lo > hi || int(hi) > len(arena) {
				return fmt.Errorf("value %d: bad offsets [%d, %d) in %d bytes", i, lo, hi, len(arena))
			}
			if lo == hi {
				out = append(out, nil)
			} else {
				out = append(out, arena[lo:hi:hi])
			}
		}
		return nil
	})
	if err == nil && len(out) != n {
		err = fmt.Errorf("%d values, row group has %d rows", len(out), n)
	}
	return out, err
}

// readInt32Column reads a required, non-repeated INT32 column of n rows.
func readInt32Column(cc parquet.ColumnChunk, n int) ([]int32, error) {
	out := make([]int32, 0, n)
	err := eachPage(cc, func(p parquet.Page) error {
		if p.Dictionary() != nil || p.NumNulls() != 0 || len(p.RepetitionLevels()) != 0 {
			return errLayout
		}
		d := p.Data()
		v := d.Int32()
		if len(out)+len(v) > n {
			return fmt.Errorf("more than %d values", n)
		}
		out = append(out, v...)
		return nil
	})
	if err == nil && len(out) != n {
		err = fmt.Errorf("%d values, row group has %d rows", len(out), n)
	}
	return out, err
}

// readInt32ListColumn reads the LIST<INT32> tokens column (max repetition
// and definition level 1) of n rows.
func readInt32ListColumn(cc parquet.ColumnChunk, n int) ([][]int32, error) {
	out := make([][]int32, 0, n)
	err := eachPage(cc, func(p parquet.Page) error {
		if p.Dictionary() != nil {
			return errLayout
		}
		rep, def := p.RepetitionLevels(), p.DefinitionLevels()
		d := p.Data()
		vals := append([]int32(nil), d.Int32()...)
		if len(rep) != len(def) || int64(len(rep)) != p.NumValues() {
			return fmt.Errorf("page has %d repetition and %d definition levels for %d values", len(rep), len(def), p.NumValues())
		}
		j, start := 0, 0
		open := false // a row of this page is being collected
		flush := func() {
			if open {
				row := vals[start:j:j]
				if len(row) == 0 {
					row = nil
				}
				out = append(out, row)
			}
		}
		for i := range rep {
			if rep[i] > 1 || def[i] > 1 {
				return fmt.Errorf("level %d/%d at value %d outside [0, 1]", rep[i], def[i], i)
			}
			if rep[i] == 0 {
				flush()
				if len(out) >= n {
					return fmt.Errorf("more than %d rows", n)
				}
				open, start = true, j
			} else if !open {
				return errLayout // a row continued from the previous page
			}
			if def[i] == 1 {
				if j >= len(vals) {
					return fmt.Errorf("%d defined values but %d stored", j+1, len(vals))
				}
				j++
			}
		}
		flush()
		if j != len(vals) {
			return fmt.Errorf("%d stored values, %d used", len(vals), j)
		}
		return nil
	})
	if err == nil && len(out) != n {
		err = fmt.Errorf("%d rows, row group has %d", len(out), n)
	}
	return out, err
}
