package dataset_test

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/dataset/datasettest"
	"github.com/distill-ml/distill/num/f16"
)

func TestRoundTrip(t *testing.T) {
	cfg := datasettest.Config{Vocab: 5000, K: 8, Rows: 120, PromptLen: 10, CompletionLen: 30, Seed: 7,
		HiddenLayers: []int{2, 5}, HiddenDim: 16, Splits: []string{"train", "validation"}, TailTemperature: 2}
	recs, _ := datasettest.Generate(cfg)
	// A text-only row (no teacher signals) and an extreme logprob are allowed too.
	recs = append(recs, &dataset.Record{Split: "train", Source: "text", Prompt: "", Completion: "plain",
		Tokens: []int32{1, 2, 3}, PromptLen: 0})
	recs[0].TopKLogprobs[cfg.K-1] = -1e6 // clamps to the largest code
	dir := t.TempDir()
	opts := dataset.WriterOptions{MaxShardBytes: 64 << 10, RowGroupBytes: 16 << 10}
	m := writeDataset(t, dir, cfg.Meta(), recs, opts)
	if len(m.Shards) < 3 {
		t.Fatalf("want several bounded shards, got %d", len(m.Shards))
	}
	var rows, tokens int64
	for _, s := range m.Shards {
		st, err := os.Stat(filepath.Join(dir, s.File))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != s.Bytes || st.Size() > opts.MaxShardBytes+2*opts.RowGroupBytes {
			t.Errorf("shard %s: %d bytes (manifest %d), bound %d", s.File, st.Size(), s.Bytes, opts.MaxShardBytes+2*opts.RowGroupBytes)
		}
		rows += s.Rows
		tokens += s.Tokens
	}
	if rows != int64(len(recs)) || m.Rows != rows || m.Tokens != tokens {
		t.Fatalf("manifest rows %d tokens %d, shards %d/%d, records %d", m.Rows, m.Tokens, rows, tokens, len(recs))
	}
	if m.Meta.TokenizerHash != cfg.Meta().TokenizerHash || m.Meta.Temperature != 1 || m.Meta.TeacherSettings["top_p"] != "1" || m.Meta.TailTemperature != 2 {
		t.Fatalf("meta not preserved: %+v", m.Meta)
	}
	if probs := dataset.Validate(dir, dataset.ValidateOptions{TokenizerHash: cfg.Meta().TokenizerHash, VocabSize: cfg.Vocab}); len(probs) != 0 {
		t.Fatalf("valid dataset has problems: %v", probs)
	}
	ds, err := dataset.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	err = ds.Each(func(shard int, row int64, got *dataset.Record) error {
		want := recs[i]
		i++
		if got.ID != dataset.RecordID(want.Source, want.Prompt, want.Completion) || got.Split != want.Split || got.Source != want.Source ||
			got.Teacher != want.Teacher || got.Prompt != want.Prompt || got.Completion != want.Completion ||
			got.PromptLen != want.PromptLen || got.Provenance != want.Provenance || !reflect.DeepEqual(got.Tokens, want.Tokens) {
			t.Fatalf("record %d: text fields differ:\n got %+v\nwant %+v", i-1, got, want)
		}
		if !reflect.DeepEqual(got.TopKIDs, want.TopKIDs) {
			t.Fatalf("record %d: top-k ids differ", i-1)
		}
		for j, lp := range want.TopKLogprobs {
			// Documented decoding: -round(-lp·64)/64, with codes clamped to 2^20.
			exp := -math.Min(math.Round(-float64(lp)*64), 1<<20) / 64
			if float64(got.TopKLogprobs[j]) != exp {
				t.Fatalf("record %d logprob %d: got %g want %g (from %g)", i-1, j, got.TopKLogprobs[j], exp, lp)
			}
		}
		for j, tm := range want.TailMass {
			if d := math.Abs(float64(got.TailMass[j] - tm)); d > float64(tm)/2048+6e-8 {
				t.Fatalf("record %d tail %d: got %g want %g", i-1, j, got.TailMass[j], tm)
			}
		}
		if len(got.TailTempered) != len(want.TailTempered) {
			t.Fatalf("record %d: %d tempered tails, want %d", i-1, len(got.TailTempered), len(want.TailTempered))
		}
		for j, q := range want.TailTempered {
			if d := math.Abs(float64(got.TailTempered[j] - q)); d > float64(q)/2048+6e-8 {
				t.Fatalf("record %d tempered tail %d: got %g want %g", i-1, j, got.TailTempered[j], q)
			}
		}
		if len(got.Hidden) != len(want.Hidden) {
			t.Fatalf("record %d: %d hidden layers, want %d", i-1, len(got.Hidden), len(want.Hidden))
		}
		for l := range want.Hidden {
			for j, h := range want.Hidden[l] {
				if got.Hidden[l][j] != f16.Float32(f16.Float16(h)) {
					t.Fatalf("record %d hidden %d/%d: got %g want %g", i-1, l, j, got.Hidden[l][j], h)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != len(recs) {
		t.Fatalf("read %d records, wrote %d", i, len(recs))
	}
}

func TestWriterRejectsBadRecords(t *testing.T) {
	cfg := datasettest.Config{Vocab: 100, K: 2, Rows: 1, PromptLen: 2, CompletionLen: 2, Seed: 1}
	good := func() *dataset.Record {
		return &dataset.Record{Split: "train", Source: "s", Prompt: "p", Tokens: []int32{1, 2, 3}, PromptLen: 1,
			TopKIDs: []int32{3, 4, 5, 6}, TopKLogprobs: []float32{-0.1, -3, -0.2, -2.5}, TailMass: []float32{0.05, 0.03}}
	}
	cases := map[string]func(r *dataset.Record){
		"field tokens position 1: id 100 outside vocab":      func(r *dataset.Record) { r.Tokens[1] = 100 },
		"field topk_ids position 1 rank 0: id -1":            func(r *dataset.Record) { r.TopKIDs[2] = -1 },
		"field topk_logprobs position 0 rank 1: NaN":         func(r *dataset.Record) { r.TopKLogprobs[1] = float32(math.NaN()) },
		"field topk_logprobs position 1 rank 1: -0.1 > -0.2": func(r *dataset.Record) { r.TopKLogprobs[3] = -0.1 },
		"field topk_logprobs position 0 rank 0: 0.5":         func(r *dataset.Record) { r.TopKLogprobs[0] = 0.5 },
		"field topk_tail position 1: 1.5 outside":            func(r *dataset.Record) { r.TailMass[1] = 1.5 },
		"field topk_ids: 3 values":                           func(r *dataset.Record) { r.TopKIDs = r.TopKIDs[:3] },
		"field prompt_len: 4 outside":                        func(r *dataset.Record) { r.PromptLen = 4 },
		"field prompt_len: a row with teacher signals":       func(r *dataset.Record) { r.PromptLen = 0 },
		"field id":           func(r *dataset.Record) { r.ID = "abc" },
		"field split: empty": func(r *dataset.Record) { r.Split = "" },
	}
	w, err := dataset.Create(t.TempDir(), cfg.Meta(), dataset.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write(good()); err != nil {
		t.Fatal(err)
	}
	for want, mutate := range cases {
		r := good()
		mutate(r)
		err := w.Write(r)
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestMergeDeduplicates(t *testing.T) {
	cfg := datasettest.Config{Vocab: 3000, K: 4, Rows: 30, PromptLen: 4, CompletionLen: 8, Seed: 11, HiddenLayers: []int{0}, HiddenDim: 2}
	recs, _ := datasettest.Generate(cfg)
	a, b, out := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "merged")
	var progress [][2]int
	writeDataset(t, a, cfg.Meta(), recs[:20], dataset.WriterOptions{})
	writeDataset(t, b, cfg.Meta(), recs[10:], dataset.WriterOptions{MaxShardBytes: 2 << 10, RowGroupBytes: 1 << 10})
	st, err := dataset.Merge(out, []string{a, b}, dataset.MergeOptions{Progress: func(done, total int) { progress = append(progress, [2]int{done, total}) }})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 30 || st.Duplicates != 10 {
		t.Fatalf("merge stats %+v, want 30 rows, 10 duplicates", st)
	}
	if n := len(progress); n == 0 || progress[n-1][0] != progress[n-1][1] || n != progress[n-1][1] {
		t.Fatalf("merge progress %v", progress)
	}
	if probs := dataset.Validate(out, dataset.ValidateOptions{}); len(probs) > 0 {
		t.Fatal(probs)
	}
	// The merged rows are the originals, in input order, bit for bit.
	var wantRows []*dataset.Record
	da, _ := dataset.Open(a)
	db, _ := dataset.Open(b)
	for _, d := range []*dataset.Dataset{da, db} {
		d.Each(func(_ int, _ int64, r *dataset.Record) error { wantRows = append(wantRows, r); return nil })
	}
	wantRows = append(wantRows[:20], wantRows[30:]...)
	dm, _ := dataset.Open(out)
	i := 0
	dm.Each(func(_ int, _ int64, r *dataset.Record) error {
		if !reflect.DeepEqual(r, wantRows[i]) {
			t.Fatalf("merged row %d differs", i)
		}
		i++
		return nil
	})
	other := cfg
	other.K = 5
	c := t.TempDir()
	recs2, _ := datasettest.Generate(other)
	writeDataset(t, c, other.Meta(), recs2[:2], dataset.WriterOptions{})
	if _, err := dataset.Merge(filepath.Join(t.TempDir(), "m2"), []string{a, c}, dataset.MergeOptions{}); err == nil || !strings.Contains(err.Error(), "topk 4 vs 5") {
		t.Fatalf("merging incompatible datasets: %v", err)
	}
}

// TestReadAllRowsStayValid: rows returned by ReadAll must not alias buffers
// the Parquet reader reuses for later pages.
func TestReadAllRowsStayValid(t *testing.T) {
	cfg := datasettest.Config{Vocab: 32000, K: 16, Rows: 150, PromptLen: 20, CompletionLen: 80, Seed: 5, HiddenLayers: []int{1}, HiddenDim: 8}
	recs, _ := datasettest.Generate(cfg)
	dir := t.TempDir()
	m := writeDataset(t, dir, cfg.Meta(), recs, dataset.WriterOptions{RowGroupBytes: 64 << 10})
	if len(m.Shards) != 1 {
		t.Fatalf("want one shard with many row groups, got %d shards", len(m.Shards))
	}
	ds, _ := dataset.Open(dir)
	sr, err := ds.OpenShard(0)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := sr.Next() // one row through Next, the rest through ReadAll
	firstRec, err := dataset.DecodeRecord(first, &sr.Meta)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := sr.ReadAll(nil)
	sr.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(recs)-1 {
		t.Fatalf("ReadAll returned %d rows, want %d", len(rows), len(recs)-1)
	}
	got := []*dataset.Record{firstRec}
	for i := range rows {
		r, err := dataset.DecodeRecord(&rows[i], &sr.Meta)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	for i, r := range got {
		if !reflect.DeepEqual(r.Tokens, recs[i].Tokens) || !reflect.DeepEqual(r.TopKIDs, recs[i].TopKIDs) || r.Prompt != recs[i].Prompt {
			t.Fatalf("row %d changed after later reads", i)
		}
	}
}

// TestWriterIsDeterministic: the same records give byte-identical shards
// (and so the same manifest hashes), which makes datasets reproducible.
func TestWriterIsDeterministic(t *testing.T) {
	cfg := datasettest.Config{Vocab: 3000, K: 4, Rows: 40, PromptLen: 4, CompletionLen: 8, Seed: 2, HiddenLayers: []int{1}, HiddenDim: 2}
	recs, _ := datasettest.Generate(cfg)
	opts := dataset.WriterOptions{MaxShardBytes: 4 << 10, RowGroupBytes: 1 << 10}
	a := writeDataset(t, t.TempDir(), cfg.Meta(), recs, opts)
	b := writeDataset(t, t.TempDir(), cfg.Meta(), recs, opts)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("two writes of the same records differ:\n%+v\n%+v", a.Shards, b.Shards)
	}
}
