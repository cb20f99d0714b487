package dataset

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// temperedMeta is testMeta with a tail tempered at 2.
func temperedMeta() Meta {
	m := testMeta()
	m.TailTemperature = 2
	return m
}

// temperedRow is goodRow with its tails tempered at 2 as for a 1000-token
// vocabulary whose tail mass is spread evenly over the 998 other tokens.
func temperedRow(t *testing.T, meta *Meta, prompt string) Row {
	t.Helper()
	lps := [][2]float64{{-0.05, -3.5}, {-0.1, -2.5}}
	rec := &Record{Split: "train", Source: "src", Prompt: prompt, Completion: "c", Tokens: []int32{1, 2, 300, 4}, PromptLen: 2,
		TopKIDs: []int32{300, 5, 4, 700}, TopKLogprobs: []float32{-0.05, -3.5, -0.1, -2.5}, Hidden: [][]float32{{1, 2, 3, 4}}}
	for _, p := range lps {
		r := 1 - math.Exp(p[0]) - math.Exp(p[1])
		rest := 998 * math.Sqrt(r/998)
		rec.TailMass = append(rec.TailMass, float32(r))
		rec.TailTempered = append(rec.TailTempered, float32(rest/(math.Exp(p[0]/2)+math.Exp(p[1]/2)+rest)))
	}
	row, err := EncodeRecord(rec, meta)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

func TestTemperedTailRoundTripAndValidate(t *testing.T) {
	meta := temperedMeta()
	rows := []Row{temperedRow(t, &meta, "a"), temperedRow(t, &meta, "b")}
	dir := writeRawDataset(t, meta, rows)
	if probs := Validate(dir, ValidateOptions{}); len(probs) != 0 {
		t.Fatal(probs)
	}
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Meta().TailTemperature != 2 {
		t.Fatalf("manifest tail_temperature %g", ds.Meta().TailTemperature)
	}
	sr, err := ds.OpenShard(0)
	if err != nil {
		t.Fatal(err)
	}
	if sr.Meta.TailTemperature != 2 {
		t.Fatalf("shard metadata tail_temperature %g", sr.Meta.TailTemperature)
	}
	all, err := sr.ReadAll(nil) // the columnar path
	sr.Close()
	if err != nil || len(all) != 2 || string(all[1].TopKTailTempered) != string(rows[1].TopKTailTempered) {
		t.Fatalf("ReadAll: %v, %d rows", err, len(all))
	}
	err = ds.Each(func(_ int, _ int64, rec *Record) error {
		if len(rec.TailTempered) != 2 {
			t.Fatalf("decoded %d tempered tails", len(rec.TailTempered))
		}
		for p, q := range rec.TailTempered {
			// Independent decoding of the stored float16 (package doc).
			h := binary.LittleEndian.Uint16(rows[0].TopKTailTempered[2*p:])
			want := math.Ldexp(1+float64(h&0x3ff)/1024, int(h>>10&0x1f)-15)
			if float64(q) != want || !(q > rec.TailMass[p]) {
				t.Fatalf("position %d: tempered tail %g, stored %g, tail %g", p, q, want, rec.TailMass[p])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestValidateTemperedTailProblems(t *testing.T) {
	const shard = "part-00000.parquet"
	tempered, plain := temperedMeta(), testMeta()
	half := func(v uint16) []byte {
		return binary.LittleEndian.AppendUint16(binary.LittleEndian.AppendUint16(nil, v), v)
	}
	cases := []struct {
		name, field, msg string
		meta             Meta
		mutate           func(r *Row)
	}{
		{"missing", "topk_tail_tempered", "0 bytes, want 2 × 2 positions (the dataset's tail_temperature is 2)", tempered, func(r *Row) { r.TopKTailTempered = nil }},
		{"short", "topk_tail_tempered", "2 bytes, want 2 × 2 positions", tempered, func(r *Row) { r.TopKTailTempered = r.TopKTailTempered[:2] }},
		{"undeclared", "topk_tail_tempered", "the dataset declares no tail_temperature", plain, func(r *Row) { r.TopKTailTempered = half(0x3800) }},
		{"NaN", "topk_tail_tempered", "position 0: tempered tail NaN outside [0, 1]", tempered, func(r *Row) { r.TopKTailTempered = half(0x7e00) }},
		{"above 1", "topk_tail_tempered", "position 0: tempered tail 1.5 outside [0, 1]", tempered, func(r *Row) { r.TopKTailTempered = half(0x3e00) }},
		{"below the tail at T>1", "topk_tail_tempered", "cannot shrink it", tempered, func(r *Row) { r.TopKTailTempered = half(0x2000) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tempered
			rows := []Row{temperedRow(t, &src, "a"), temperedRow(t, &src, "b"), temperedRow(t, &src, "c")}
			if tc.meta.TailTemperature == 0 {
				for i := range rows {
					rows[i].TopKTailTempered = nil
				}
			}
			tc.mutate(&rows[1])
			dir := writeRawDataset(t, tc.meta, rows)
			probs := Validate(dir, ValidateOptions{})
			expectProblem(t, probs, shard, 1, tc.field, tc.msg)
			for _, p := range probs {
				if p.Row != 1 {
					t.Errorf("problem outside the corrupted row: %v", p)
				}
			}
		})
	}
}

func TestWriterChecksTemperedTail(t *testing.T) {
	tempered, plain := temperedMeta(), testMeta()
	base := func() *Record {
		return &Record{Split: "train", Source: "src", Prompt: "p", Tokens: []int32{1, 2, 3}, PromptLen: 2,
			TopKIDs: []int32{3, 4}, TopKLogprobs: []float32{-0.1, -3}, TailMass: []float32{0.05}, TailTempered: []float32{0.2},
			Hidden: [][]float32{{1, 2}}}
	}
	for _, c := range []struct {
		name   string
		meta   Meta
		mutate func(r *Record)
		want   string
	}{
		{"missing", tempered, func(r *Record) { r.TailTempered = nil }, "field topk_tail_tempered: missing; the dataset stores the tail tempered at 2"},
		{"undeclared", plain, func(r *Record) {}, "field topk_tail_tempered: present but the dataset declares no tail_temperature"},
		{"length", tempered, func(r *Record) { r.TailTempered = []float32{0.2, 0.3} }, "field topk_tail_tempered: 2 values, want 1"},
		{"range", tempered, func(r *Record) { r.TailTempered[0] = 1.25 }, "field topk_tail_tempered position 0: 1.25 outside [0, 1]"},
	} {
		r := base()
		c.mutate(r)
		if _, err := EncodeRecord(r, &c.meta); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := EncodeRecord(base(), &tempered); err != nil {
		t.Fatal(err)
	}
	bad := tempered
	bad.TopK, bad.HiddenLayers, bad.HiddenDim = 0, nil, 0
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "tail_temperature 2 without top-k") {
		t.Fatalf("meta with a tail temperature and no top-k: %v", err)
	}
	bad = tempered
	bad.TailTemperature = -1
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "tail_temperature -1 outside") {
		t.Fatalf("negative tail temperature: %v", err)
	}
}

// oldSchema is the row layout before the optional topk_tail_tempered
// column: schema v1 without it.
func oldSchema() *parquet.Schema {
	group := parquet.Group{}
	for _, f := range schemaV1.Fields() {
		if f.Name() != "topk_tail_tempered" {
			group[f.Name()] = f
		}
	}
	return parquet.NewSchema("Row", group)
}

// TestShardWithoutTemperedTailColumnReads: shards written before the
// column existed read (row by row and columnar), decode and validate.
func TestShardWithoutTemperedTailColumnReads(t *testing.T) {
	meta := testMeta()
	rows := []Row{goodRow(t, &meta, "a"), goodRow(t, &meta, "b")}
	dir := t.TempDir()
	path := filepath.Join(dir, "part-00000.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := []parquet.WriterOption{parquet.Compression(&zstd.Codec{Level: zstd.SpeedFastest})}
	for _, kv := range meta.keyValues() {
		opts = append(opts, parquet.KeyValueMetadata(kv[0], kv[1]))
	}
	w := parquet.NewGenericWriter[Row](f, append(opts, oldSchema())...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sr, err := OpenShard(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(sr.pf.Schema().Columns()) != len(expectedColumns)-1 {
		t.Fatalf("the old shard has %d columns", len(sr.pf.Schema().Columns()))
	}
	for i := range rows {
		r, err := sr.Next()
		if err != nil {
			t.Fatal(err)
		}
		if string(r.TopKTail) != string(rows[i].TopKTail) || len(r.TopKTailTempered) != 0 {
			t.Fatalf("row %d read back wrong: %+v", i, r)
		}
		if _, err := DecodeRecord(r, &sr.Meta); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sr.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last row: %v", err)
	}
	sr.Close()
	sr, _ = OpenShard(path)
	all, err := sr.ReadAll(nil)
	sr.Close()
	if err != nil || len(all) != 2 || string(all[1].TopKLogprobs) != string(rows[1].TopKLogprobs) {
		t.Fatalf("columnar read of an old shard: %v", err)
	}
}

func TestMergeRefusesDifferentTailTemperature(t *testing.T) {
	a := writeRawDataset(t, temperedMeta(), nil)
	m := testMeta()
	b := writeRawDataset(t, m, nil)
	if _, err := Merge(filepath.Join(t.TempDir(), "m"), []string{a, b}, MergeOptions{}); err == nil || !strings.Contains(err.Error(), "tail_temperature 2 vs 0") {
		t.Fatalf("merging datasets with different tail temperatures: %v", err)
	}
}
