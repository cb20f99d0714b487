// Package subset selects a deterministic fraction of the rows of a JSONL
// file — the labelled rows a data-limited run trains on. A row is kept when
// its rank by sha256(seed || 0x00 || row id) is among the lowest
// round(fraction·n), so the selection
//
//   - keeps exactly round(fraction·n) rows,
//   - depends only on the row ids and the seed (not on file order, not on
//     the machine), so every run and every consumer sees the same rows, and
//   - is nested: a smaller fraction's rows are part of a larger one's.
//
// A row's id is its "id" field, else the id the dataset would give it
// (dataset.RecordID of its "source", "prompt" and "completion"/"text").
// Kept lines are copied byte for byte, in file order.
package subset

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/internal/atomicfile"
)

// Stats counts the rows read and kept.
type Stats struct {
	Rows int // non-blank lines of the input
	Kept int // rows written
}

// maxLineBytes bounds one JSONL line.
const maxLineBytes = 64 << 20

// row is one input line and its id.
type row struct {
	line int
	id   string
	text []byte
}

// JSONL writes to out (atomically) the selected rows of in.
func JSONL(in, out string, fraction float64, seed int64) (Stats, error) {
	if !(fraction > 0 && fraction <= 1) {
		return Stats{}, fmt.Errorf("subset %s: fraction must be in (0, 1], got %g", in, fraction)
	}
	rows, err := readRows(in)
	if err != nil {
		return Stats{}, err
	}
	if len(rows) == 0 {
		return Stats{}, fmt.Errorf("subset %s: no rows", in)
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.id
	}
	keep := Select(ids, fraction, seed)
	st := Stats{Rows: len(rows)}
	for _, k := range keep {
		if k {
			st.Kept++
		}
	}
	if st.Kept == 0 {
		return st, fmt.Errorf("subset %s: selects no rows (fraction %g of %d); raise the fraction", in, fraction, len(rows))
	}
	err = atomicfile.Write(out, 0o644, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		for i, r := range rows {
			if keep[i] {
				bw.Write(r.text)
				bw.WriteByte('\n')
			}
		}
		return bw.Flush()
	})
	if err != nil {
		return st, fmt.Errorf("subset %s: write %s: %w", in, out, err)
	}
	return st, nil
}

// Select reports, for each id, whether it is among the round(fraction·n)
// ids with the lowest seeded hash. ids must be distinct.
func Select(ids []string, fraction float64, seed int64) []bool {
	type ranked struct {
		key uint64
		id  string
		i   int
	}
	rk := make([]ranked, len(ids))
	var sb [8]byte
	binary.BigEndian.PutUint64(sb[:], uint64(seed))
	for i, id := range ids {
		h := sha256.New()
		h.Write(sb[:])
		h.Write([]byte{0})
		h.Write([]byte(id))
		rk[i] = ranked{binary.BigEndian.Uint64(h.Sum(nil)[:8]), id, i}
	}
	sort.Slice(rk, func(a, b int) bool {
		if rk[a].key != rk[b].key {
			return rk[a].key < rk[b].key
		}
		return rk[a].id < rk[b].id
	})
	n := int(math.Round(fraction * float64(len(ids))))
	keep := make([]bool, len(ids))
	for _, r := range rk[:n] {
		keep[r.i] = true
	}
	return keep
}

// idFields are the fields a row's id is made of.
type idFields struct {
	ID         string  `json:"id"`
	Source     string  `json:"source"`
	Prompt     *string `json:"prompt"`
	Completion string  `json:"completion"`
	Text       *string `json:"text"`
}

// readRows reads the non-blank lines of a JSONL file with their ids;
// errors name the file and line, and a repeated id names both lines.
func readRows(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("subset: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), maxLineBytes)
	var out []row
	seen := map[string]int{}
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimRight(sc.Bytes(), "\r")
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var r idFields
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("subset %s line %d: %w", path, line, err)
		}
		id := r.ID
		switch {
		case id != "":
		case r.Prompt != nil && *r.Prompt != "":
			id = dataset.RecordID(r.Source, *r.Prompt, r.Completion)
		case r.Text != nil:
			id = dataset.RecordID(r.Source, "", *r.Text)
		default:
			return nil, fmt.Errorf("subset %s line %d: no id, prompt or text field to identify the row", path, line)
		}
		if prev, dup := seen[id]; dup {
			return nil, fmt.Errorf("subset %s line %d: id %q repeats line %d", path, line, id, prev)
		}
		seen[id] = line
		out = append(out, row{line: line, id: id, text: append([]byte(nil), b...)})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("subset %s line %d: line longer than %d bytes", path, line+1, maxLineBytes)
		}
		return nil, fmt.Errorf("subset %s: %w", path, err)
	}
	return out, nil
}
