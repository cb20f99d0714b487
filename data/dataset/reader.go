package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// maxFooterBytes bounds the Parquet footer (file metadata) we accept; distill
// shards have footers of a few KiB.
const maxFooterBytes = 1 << 20

// maxRowsPerGroup bounds the rows of one row group (the writer flushes row
// groups at a few MiB, far fewer rows).
const maxRowsPerGroup = 1 << 20

// ShardReader streams the rows of one shard.
type ShardReader struct {
	Path string
	Meta Meta
	rows int64

	f    *os.File
	pf   *parquet.File
	r    *parquet.GenericReader[Row]
	buf  []Row
	pos  int // index in buf
	n    int // valid rows in buf
	next int64
}

// OpenShard opens a shard file, checks its framing, schema and metadata, and
// returns a reader positioned at row 0. It never panics on corrupt input.
func OpenShard(path string) (sr *ShardReader, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open shard: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open shard %s: %w", path, err)
	}
	sr, err = openShardReaderAt(path, f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	sr.f = f
	return sr, nil
}

// OpenShardBytes reads a shard held in memory (used by tests and fuzzing).
func OpenShardBytes(name string, data []byte) (*ShardReader, error) {
	return openShardReaderAt(name, bytesReaderAt(data), int64(len(data)))
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// recoverAs turns a panic inside the Parquet library into an error.
func recoverAs(err *error, what string) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%s: corrupt Parquet data (decoder panic: %v)", what, p)
	}
}

func openShardReaderAt(path string, ra io.ReaderAt, size int64) (sr *ShardReader, err error) {
	defer recoverAs(&err, "open shard "+path)
	// Check the framing ourselves before the library allocates from it.
	if size < 12 {
		return nil, fmt.Errorf("open shard %s: %d bytes, too short for a Parquet file", path, size)
	}
	var tail [8]byte
	if _, err := ra.ReadAt(tail[:], size-8); err != nil {
		return nil, fmt.Errorf("open shard %s: read footer: %w", path, err)
	}
	if string(tail[4:]) != "PAR1" {
		return nil, fmt.Errorf("open shard %s: no Parquet footer magic (truncated or not Parquet)", path)
	}
	footer := int64(binary.LittleEndian.Uint32(tail[:4]))
	if footer > size-12 || footer > maxFooterBytes {
		return nil, fmt.Errorf("open shard %s: footer of %d bytes does not fit a %d-byte file (truncated?)", path, footer, size)
	}
	footerBytes := make([]byte, footer)
	if _, err := ra.ReadAt(footerBytes, size-8-footer); err != nil {
		return nil, fmt.Errorf("open shard %s: read footer: %w", path, err)
	}
	if n, err := checkThrift(footerBytes); err != nil {
		return nil, fmt.Errorf("open shard %s: corrupt footer: %w", path, err)
	} else if int64(n) != footer {
		return nil, fmt.Errorf("open shard %s: corrupt footer: %d trailing bytes", path, footer-int64(n))
	}
	pf, err := parquet.OpenFile(ra, size, parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true))
	if err != nil {
		return nil, fmt.Errorf("open shard %s: %w", path, err)
	}
	if err := checkPages(ra, size, pf); err != nil {
		return nil, fmt.Errorf("open shard %s: %w", path, err)
	}
	meta, err := metaFromLookup(pf.Lookup)
	if err != nil {
		return nil, fmt.Errorf("open shard %s: %w", path, err)
	}
	if probs := checkSchema(pf.Schema()); len(probs) > 0 {
		return nil, fmt.Errorf("open shard %s: schema is not distill v%d: %s", path, SchemaVersion, strings.Join(probs, "; "))
	}
	var rows int64
	for i, rg := range pf.RowGroups() {
		// Readers allocate per row: bound the untrusted counts (a row takes
		// well over a byte of any real file).
		if rg.NumRows() < 0 || rg.NumRows() > maxRowsPerGroup || rg.NumRows() > size {
			return nil, fmt.Errorf("open shard %s: row group %d claims %d rows (file of %d bytes, limit %d)", path, i, rg.NumRows(), size, maxRowsPerGroup)
		}
		rows += rg.NumRows()
	}
	if rows != pf.NumRows() {
		return nil, fmt.Errorf("open shard %s: row groups hold %d rows, footer says %d", path, rows, pf.NumRows())
	}
	return &ShardReader{
		Path: path, Meta: meta, rows: rows, pf: pf,
		r:   parquet.NewGenericReader[Row](pf),
		buf: make([]Row, 16),
	}, nil
}

// NumRows is the row count from the shard footer.
func (s *ShardReader) NumRows() int64 { return s.rows }

// Index is the index of the row the next call to Next returns.
func (s *ShardReader) Index() int64 { return s.next }

// Next returns the next row, or io.EOF after the last. The returned Row is
// valid until the following call (its slices are reused). Errors name the
// shard and row.
func (s *ShardReader) Next() (row *Row, err error) {
	if s.pos == s.n {
		if s.next >= s.rows {
			return nil, io.EOF
		}
		if err := s.fill(); err != nil {
			return nil, err
		}
	}
	row = &s.buf[s.pos]
	s.pos++
	s.next++
	return row, nil
}

func (s *ShardReader) fill() (err error) {
	defer recoverAs(&err, fmt.Sprintf("read shard %s row %d", s.Path, s.next))
	want := min(int64(len(s.buf)), s.rows-s.next)
	n, rerr := s.r.Read(s.buf[:want])
	if n == 0 {
		if rerr == nil || errors.Is(rerr, io.EOF) {
			return fmt.Errorf("read shard %s row %d: file ends before its %d rows (truncated?)", s.Path, s.next, s.rows)
		}
		return fmt.Errorf("read shard %s row %d: %w", s.Path, s.next, rerr)
	}
	if rerr != nil && !errors.Is(rerr, io.EOF) {
		return fmt.Errorf("read shard %s row %d: %w", s.Path, s.next+int64(n), rerr)
	}
	s.pos, s.n = 0, n
	return nil
}

// Close releases the file.
func (s *ShardReader) Close() error {
	if s.r != nil {
		s.r.Close()
	}
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}

// DecodeRecord unpacks a Row into a Record, checking the packed columns'
// framing against meta. Errors name the field.
func DecodeRecord(row *Row, meta *Meta) (*Record, error) {
	rec := &Record{
		ID: row.ID, Split: row.Split, Source: row.Source, Teacher: row.Teacher,
		Prompt: row.Prompt, Completion: row.Completion,
		Tokens:    append([]int32(nil), row.Tokens...),
		PromptLen: int(row.PromptLen), Provenance: row.Provenance,
	}
	n := len(row.Tokens) - int(row.PromptLen)
	if row.PromptLen < 0 || n < 0 {
		return nil, fmt.Errorf("field prompt_len: %d outside [0, %d]", row.PromptLen, len(row.Tokens))
	}
	if row.hasTopK() {
		if meta.TopK <= 0 {
			return nil, errors.New("field topk_ids_lo: present but the dataset's topk is 0")
		}
		if err := decodeTopK(rec, row, n, meta); err != nil {
			return nil, err
		}
	}
	if len(row.Hidden) > 0 {
		L, d := len(meta.HiddenLayers), meta.HiddenDim
		if L == 0 {
			return nil, errors.New("field hidden: present but the dataset declares no hidden layers")
		}
		if int64(len(row.Hidden)) != 2*int64(L)*int64(n)*int64(d) {
			return nil, fmt.Errorf("field hidden: %d bytes, want %d layers × %d positions × dim %d × 2", len(row.Hidden), L, n, d)
		}
		rec.Hidden = make([][]float32, L)
		for l := range rec.Hidden {
			rec.Hidden[l] = make([]float32, n*d)
		}
		if err := DecodeHidden(rec.Hidden, 0, row.Hidden, L, n, d, 0, n); err != nil {
			return nil, fmt.Errorf("field hidden: %w", err)
		}
	}
	return rec, nil
}

// Dataset is an opened dataset directory.
type Dataset struct {
	Dir      string
	Manifest *Manifest
}

// Open reads dir's manifest.
func Open(dir string) (*Dataset, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	return &Dataset{Dir: dir, Manifest: m}, nil
}

// Meta is the dataset metadata.
func (d *Dataset) Meta() *Meta { return &d.Manifest.Meta }

// ShardPath is the path of shard i.
func (d *Dataset) ShardPath(i int) string {
	return filepath.Join(d.Dir, d.Manifest.Shards[i].File)
}

// OpenShard opens shard i and checks it against the manifest (metadata and
// row count; the sha256 is checked by Validate, which reads whole files).
func (d *Dataset) OpenShard(i int) (*ShardReader, error) {
	sr, err := OpenShard(d.ShardPath(i))
	if err != nil {
		return nil, err
	}
	info := d.Manifest.Shards[i]
	if err := d.Manifest.Meta.Compatible(&sr.Meta); err != nil {
		sr.Close()
		return nil, fmt.Errorf("shard %s: metadata disagrees with the manifest: %w", sr.Path, err)
	}
	if sr.NumRows() != info.Rows {
		sr.Close()
		return nil, fmt.Errorf("shard %s: %d rows, manifest says %d", sr.Path, sr.NumRows(), info.Rows)
	}
	return sr, nil
}

// Each calls fn for every row of every shard in manifest order, with the
// decoded Record. It stops at the first error, which names shard and row.
func (d *Dataset) Each(fn func(shard int, row int64, rec *Record) error) error {
	for i := range d.Manifest.Shards {
		sr, err := d.OpenShard(i)
		if err != nil {
			return err
		}
		for {
			idx := sr.Index()
			row, err := sr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				sr.Close()
				return err
			}
			rec, err := DecodeRecord(row, &sr.Meta)
			if err != nil {
				sr.Close()
				return fmt.Errorf("read shard %s row %d: %w", sr.Path, idx, err)
			}
			if err := fn(i, idx, rec); err != nil {
				sr.Close()
				return err
			}
		}
		sr.Close()
	}
	return nil
}

// ReadAll reads the remaining rows for which keep returns true (nil keeps all)
// into freshly allocated Rows that stay valid after Close.
func (s *ShardReader) ReadAll(keep func(*Row) bool) (rows []Row, err error) {
	if s.next == 0 && s.pos == s.n {
		rows, err := s.readColumnar(keep)
		if !errors.Is(err, errLayout) {
			return rows, err
		}
		// A layout the columnar path does not handle: read rows instead.
		s.r.Reset()
	}
	return s.readRowsAll(keep)
}

func (s *ShardReader) readRowsAll(keep func(*Row) bool) (rows []Row, err error) {
	defer recoverAs(&err, fmt.Sprintf("read shard %s row %d", s.Path, s.next))
	for s.pos < s.n { // rows already buffered by Next
		r := s.buf[s.pos]
		s.pos++
		s.next++
		if keep == nil || keep(&r) {
			rows = append(rows, cloneRow(&r))
		}
	}
	for s.next < s.rows {
		chunk := make([]Row, min(int64(256), s.rows-s.next))
		n, rerr := s.r.Read(chunk)
		if n == 0 {
			if rerr == nil || errors.Is(rerr, io.EOF) {
				return nil, fmt.Errorf("read shard %s row %d: file ends before its %d rows (truncated?)", s.Path, s.next, s.rows)
			}
			return nil, fmt.Errorf("read shard %s row %d: %w", s.Path, s.next, rerr)
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return nil, fmt.Errorf("read shard %s row %d: %w", s.Path, s.next+int64(n), rerr)
		}
		for i := range chunk[:n] {
			if keep == nil || keep(&chunk[i]) {
				rows = append(rows, chunk[i])
			}
		}
		s.next += int64(n)
	}
	return rows, nil
}

func cloneRow(r *Row) Row {
	c := *r
	c.Tokens = append([]int32(nil), r.Tokens...)
	c.TopKTail = append([]byte(nil), r.TopKTail...)
	c.TopKIDsLo = append([]byte(nil), r.TopKIDsLo...)
	c.TopKIDsHi = append([]byte(nil), r.TopKIDsHi...)
	c.TopKLogprobs = append([]byte(nil), r.TopKLogprobs...)
	c.TopKTailTempered = append([]byte(nil), r.TopKTailTempered...)
	c.Hidden = append([]byte(nil), r.Hidden...)
	return c
}
