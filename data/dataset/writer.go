package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/distill-ml/distill/internal/atomicfile"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// WriterOptions bound shard and row-group sizes.
type WriterOptions struct {
	// MaxShardBytes closes a shard once its compressed size reaches this; a
	// shard can exceed it by at most one row group. Default 64 MiB.
	MaxShardBytes int64
	// RowGroupBytes flushes a row group once the buffered (uncompressed)
	// rows reach this. Default 8 MiB.
	RowGroupBytes int64
	// ZstdLevel is the zstd level (1 fastest .. 4 best). Default 3.
	ZstdLevel int
}

func (o *WriterOptions) defaults() {
	if o.MaxShardBytes <= 0 {
		o.MaxShardBytes = 64 << 20
	}
	if o.RowGroupBytes <= 0 {
		o.RowGroupBytes = 8 << 20
	}
	if o.ZstdLevel <= 0 {
		o.ZstdLevel = 3
	}
}

// Writer streams Records into a new dataset directory. Shards are written to
// a temporary file, fsynced and renamed into place; manifest.json is written
// the same way by Close, so a crashed writer leaves no manifest (and the
// directory is not a dataset) rather than a half-written one.
type Writer struct {
	dir  string
	meta Meta
	opts WriterOptions

	shards  []ShardInfo
	cur     *shardWriter
	buf     []Row
	bufSize int64
	rows    int64
	closed  bool
	err     error // first I/O failure: the writer refuses further work
}

// Create makes dir (which must not already hold a manifest) and returns a
// Writer. meta.SchemaVersion and meta.LogprobScale are filled in.
func Create(dir string, meta Meta, opts WriterOptions) (*Writer, error) {
	meta.SchemaVersion = SchemaVersion
	meta.LogprobScale = LogprobScale
	if meta.WriterVersion == "" {
		meta.WriterVersion = "distill-dataset/1"
	}
	if err := meta.Validate(); err != nil {
		return nil, fmt.Errorf("create dataset %s: %w", dir, err)
	}
	opts.defaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create dataset: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err == nil {
		return nil, fmt.Errorf("create dataset %s: already holds %s", dir, ManifestName)
	}
	return &Writer{dir: dir, meta: meta, opts: opts}, nil
}

// Meta returns the dataset metadata being written.
func (w *Writer) Meta() Meta { return w.meta }

// Write encodes and appends one record. An invalid record is rejected with an
// error naming its row number and field; nothing of it is written.
func (w *Writer) Write(rec *Record) error {
	if w.closed {
		return errors.New("dataset writer: write after close")
	}
	if w.err != nil {
		return w.err
	}
	row, err := EncodeRecord(rec, &w.meta)
	if err != nil {
		return fmt.Errorf("write row %d: %w", w.rows, err)
	}
	w.rows++
	w.buf = append(w.buf, row)
	w.bufSize += rowSize(&row)
	if w.bufSize >= w.opts.RowGroupBytes {
		if err := w.flushRowGroup(); err != nil {
			w.err = err
			return err
		}
	}
	return nil
}

func rowSize(r *Row) int64 {
	return int64(len(r.ID) + len(r.Split) + len(r.Source) + len(r.Teacher) + len(r.Prompt) +
		len(r.Completion) + 4*len(r.Tokens) + 4 + len(r.TopKTail) + len(r.TopKIDsLo) + len(r.TopKIDsHi) + len(r.TopKLogprobs) + len(r.TopKTailTempered) +
		len(r.Hidden) + len(r.Provenance))
}

// EncodeRecord validates rec against meta and packs it as a Row.
func EncodeRecord(rec *Record, meta *Meta) (Row, error) {
	n := len(rec.Tokens)
	if n == 0 {
		return Row{}, errors.New("field tokens: empty")
	}
	if n > maxRowTokens {
		return Row{}, fmt.Errorf("field tokens: %d tokens, at most %d", n, maxRowTokens)
	}
	for i, t := range rec.Tokens {
		if t < 0 || int(t) >= meta.VocabSize {
			return Row{}, fmt.Errorf("field tokens position %d: id %d outside vocab %d", i, t, meta.VocabSize)
		}
	}
	if rec.PromptLen < 0 || rec.PromptLen > n {
		return Row{}, fmt.Errorf("field prompt_len: %d outside [0, %d]", rec.PromptLen, n)
	}
	if strings.IndexByte(rec.Source, 0) >= 0 {
		return Row{}, errors.New("field source: contains a NUL byte")
	}
	id := RecordID(rec.Source, rec.Prompt, rec.Completion)
	if rec.ID != "" && !idMatches(rec.ID, rec.Source, rec.Prompt, rec.Completion) {
		return Row{}, fmt.Errorf("field id: %q is not the id of its source and prompt (%s)", rec.ID, id)
	}
	row := Row{
		ID: id, Split: rec.Split, Source: rec.Source, Teacher: rec.Teacher,
		Prompt: rec.Prompt, Completion: rec.Completion,
		Tokens: rec.Tokens, PromptLen: int32(rec.PromptLen), Provenance: rec.Provenance,
	}
	if row.Split == "" {
		return Row{}, errors.New("field split: empty")
	}
	sig := n - rec.PromptLen
	hasTopK := rec.TopKIDs != nil || rec.TopKLogprobs != nil || rec.TailMass != nil || rec.TailTempered != nil
	if hasTopK {
		if meta.TopK == 0 {
			return Row{}, errors.New("field topk_ids: row has teacher top-k but the dataset's topk is 0")
		}
		if meta.TailTemperature > 0 && rec.TailTempered == nil {
			return Row{}, fmt.Errorf("field topk_tail_tempered: missing; the dataset stores the tail tempered at %g for every teacher row", meta.TailTemperature)
		}
		if meta.TailTemperature == 0 && rec.TailTempered != nil {
			return Row{}, errors.New("field topk_tail_tempered: present but the dataset declares no tail_temperature")
		}
		if rec.PromptLen < 1 {
			return Row{}, errors.New("field prompt_len: a row with teacher signals needs prompt_len >= 1 (the first target needs an input token)")
		}
		pk, err := encodeTopK(rec.TopKIDs, rec.TopKLogprobs, rec.TailMass, rec.TailTempered, sig, meta.TopK, meta.VocabSize)
		if err != nil {
			return Row{}, err
		}
		row.TopKTail, row.TopKIDsLo, row.TopKIDsHi, row.TopKLogprobs, row.TopKTailTempered = pk.tail, pk.lo, pk.hi, pk.lps, pk.tailT
		if row.Teacher == "" {
			row.Teacher = meta.Teacher
		}
		if row.Teacher == "" {
			return Row{}, errors.New("field teacher: empty for a row with teacher signals (set it or the dataset's teacher)")
		}
	}
	if rec.Hidden != nil {
		if len(meta.HiddenLayers) == 0 {
			return Row{}, errors.New("field hidden: row has hidden states but the dataset declares no hidden layers")
		}
		if !hasTopK && meta.TopK > 0 {
			return Row{}, errors.New("field hidden: hidden states without teacher top-k")
		}
		if rec.PromptLen < 1 {
			return Row{}, errors.New("field prompt_len: a row with teacher signals needs prompt_len >= 1")
		}
		b, err := encodeHidden(nil, rec.Hidden, len(meta.HiddenLayers), sig, meta.HiddenDim)
		if err != nil {
			return Row{}, err
		}
		row.Hidden = b
	} else if hasTopK && len(meta.HiddenLayers) > 0 {
		return Row{}, errors.New("field hidden: missing; the dataset declares hidden layers for every teacher row")
	}
	return row, nil
}

func (w *Writer) flushRowGroup() error {
	if len(w.buf) == 0 {
		return nil
	}
	if w.cur == nil {
		sw, err := newShardWriter(w.dir, len(w.shards), &w.meta, w.opts)
		if err != nil {
			return err
		}
		w.cur = sw
	}
	if err := w.cur.writeRowGroup(w.buf); err != nil {
		return err
	}
	clear(w.buf)
	w.buf = w.buf[:0]
	w.bufSize = 0
	if w.cur.counter.n >= w.opts.MaxShardBytes {
		return w.closeShard()
	}
	return nil
}

func (w *Writer) closeShard() error {
	info, err := w.cur.close()
	w.cur = nil
	if err != nil {
		return err
	}
	w.shards = append(w.shards, info)
	return nil
}

// Close flushes the last row group and shard and writes manifest.json.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err == nil {
		w.err = w.flushRowGroup()
	}
	if w.err == nil && w.cur != nil {
		w.err = w.closeShard()
	}
	if w.err != nil {
		// Rows were accepted that cannot be stored: write no manifest, so
		// the directory is not mistaken for a complete dataset.
		w.Abort()
		return fmt.Errorf("dataset %s not written: %w", w.dir, w.err)
	}
	m := Manifest{Meta: w.meta, Shards: w.shards}
	if m.Shards == nil {
		m.Shards = []ShardInfo{}
	}
	for _, s := range w.shards {
		m.Rows += s.Rows
		m.Tokens += s.Tokens
	}
	return WriteManifest(w.dir, &m)
}

// Abort stops writing without a manifest and removes the shards written so
// far, leaving no partial dataset behind.
func (w *Writer) Abort() {
	w.closed = true
	if w.err == nil {
		w.err = errors.New("dataset writer aborted")
	}
	w.abort()
	for _, s := range w.shards {
		os.Remove(filepath.Join(w.dir, s.File))
	}
	w.shards = nil
}

// abort removes a half-written temporary shard.
func (w *Writer) abort() {
	if w.cur != nil {
		w.cur.f.Close()
		os.Remove(w.cur.f.Name())
		w.cur = nil
	}
}

type countingWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

type shardWriter struct {
	name    string
	dir     string
	f       *os.File
	counter *countingWriter
	pw      *parquet.GenericWriter[Row]
	info    ShardInfo
}

func newShardWriter(dir string, index int, meta *Meta, opts WriterOptions) (*shardWriter, error) {
	name := fmt.Sprintf("part-%05d.parquet", index)
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create shard %s: %w", name, err)
	}
	// CreateTemp makes 0600 files; a shard is read by whoever trains on it.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("create shard %s: %w", name, err)
	}
	cw := &countingWriter{w: f, h: sha256.New()}
	wopts := []parquet.WriterOption{
		parquet.Compression(&zstd.Codec{Level: zstd.Level(opts.ZstdLevel)}),
		parquet.PageBufferSize(1 << 20),
		// A small output buffer keeps the byte count (and so the shard bound) exact to 4 KiB.
		parquet.WriteBufferSize(4096),
		parquet.CreatedBy("distill", meta.WriterVersion, ""),
	}
	for _, kv := range meta.keyValues() {
		wopts = append(wopts, parquet.KeyValueMetadata(kv[0], kv[1]))
	}
	// Min/max bounds of text and blob columns would copy whole values into
	// the footer and page headers; they mean nothing there.
	for _, c := range []string{"prompt", "completion", "topk_tail", "topk_ids_lo", "topk_ids_hi", "topk_logprobs", "topk_tail_tempered", "hidden", "provenance"} {
		wopts = append(wopts, parquet.SkipPageBounds(c), parquet.SkipPageStatistics(c))
	}
	return &shardWriter{
		name: name, dir: dir, f: f, counter: cw,
		pw:   parquet.NewGenericWriter[Row](cw, wopts...),
		info: ShardInfo{File: name, Splits: map[string]int64{}},
	}, nil
}

func (s *shardWriter) writeRowGroup(rows []Row) error {
	if _, err := s.pw.Write(rows); err != nil {
		return fmt.Errorf("write shard %s: %w", s.name, err)
	}
	if err := s.pw.Flush(); err != nil {
		return fmt.Errorf("write shard %s: %w", s.name, err)
	}
	for i := range rows {
		s.info.Rows++
		s.info.Tokens += int64(len(rows[i].Tokens))
		s.info.Splits[rows[i].Split]++
	}
	return nil
}

// close finishes the Parquet footer, fsyncs and renames the shard into place.
func (s *shardWriter) close() (ShardInfo, error) {
	tmp := s.f.Name()
	fail := func(err error) (ShardInfo, error) {
		s.f.Close()
		os.Remove(tmp)
		return ShardInfo{}, fmt.Errorf("write shard %s: %w", s.name, err)
	}
	if err := s.pw.Close(); err != nil {
		return fail(err)
	}
	if err := s.f.Sync(); err != nil {
		return fail(err)
	}
	if err := s.f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, s.name)); err != nil {
		os.Remove(tmp)
		return ShardInfo{}, fmt.Errorf("write shard %s: %w", s.name, err)
	}
	if err := atomicfile.SyncDir(s.dir); err != nil {
		return ShardInfo{}, err
	}
	s.info.Bytes = s.counter.n
	s.info.SHA256 = hex.EncodeToString(s.counter.h.Sum(nil))
	return s.info, nil
}

// writeFileAtomic writes path through internal/atomicfile (temp file in the
// same directory, fsync, rename, directory fsync).
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o644)
}
