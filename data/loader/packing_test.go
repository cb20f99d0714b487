package loader_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/dataset/datasettest"
	"github.com/distill-ml/distill/data/loader"
)

// buildTextDataset writes a dataset without teacher signals (top-k 0, no
// hidden states) with tokens encoded like buildDataset's.
func buildTextDataset(t *testing.T, lengths []int) *dataset.Dataset {
	t.Helper()
	var recs []*dataset.Record
	for r, n := range lengths {
		rec := &dataset.Record{Split: "train", Source: "s", Prompt: fmt.Sprint(r)}
		for i := 0; i < n; i++ {
			rec.Tokens = append(rec.Tokens, tok(r, i))
		}
		recs = append(recs, rec)
	}
	return datasettest.Write(t, t.TempDir(), dataset.Meta{TokenizerHash: "h", VocabSize: vocab, Teacher: "none"}, dataset.WriterOptions{}, recs)
}

// contextCounts recounts, from the batches alone, what loader.Stats reports
// about the supervised positions: a position holding token i of row r sees
// the row from token `from` on, where the row's run of consecutive tokens in
// its window begins.
func contextCounts(bs []batch.Batch, prompts []int) (s loader.Stats) {
	for _, b := range bs {
		for q := range b.Tokens {
			if b.LossMask[q] == 0 {
				continue
			}
			ws := q / b.T * b.T
			p := q
			for p > ws && b.Tokens[p-1] == b.Tokens[p]-1 {
				p--
			}
			r, i := int(b.Tokens[q])/200, int(b.Tokens[q])%200
			from := i - (q - p)
			pl := 0
			if prompts != nil {
				pl = prompts[r]
			}
			s.Supervised++
			if from == 0 {
				s.FullContext++
			}
			if pl > 0 && from > 0 {
				s.PromptCut++
			}
			if pl > 0 && from >= pl {
				s.NoPrompt++
			}
		}
	}
	return s
}

// windowStartsAtRows fails the test unless every window starts at the first token of a
// row (or with padding).
func windowStartsAtRows(t *testing.T, bs []batch.Batch) {
	t.Helper()
	for k, b := range bs {
		for w := 0; w < b.B; w++ {
			if first := b.Tokens[w*b.T]; first%200 != 0 {
				t.Fatalf("batch %d window %d starts inside row %d (token %d)", k, w, first/200, first%200)
			}
		}
	}
}

// Without an explicit packing, a dataset with teacher signals packs whole:
// every supervised position sees its whole row, the context the teacher's
// signals were computed on. A text-only dataset keeps concat.
func TestAutoPackingKeepsTeacherRowsWhole(t *testing.T) {
	lengths, prompts := testRows()
	lengths[5] = 40 // every row fits in the window
	ds := buildDataset(t, lengths, prompts, []string{"train"})
	var log bytes.Buffer
	l, err := loader.New(ds, loader.Config{BatchSize: 2, Context: 80, Seed: 4, Hidden: true, OnePass: true, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if l.Packing() != loader.PackWhole {
		t.Fatalf("auto packing of a dataset with teacher signals: %s", l.Packing())
	}
	bs := collect(t, l, 1000)
	windowStartsAtRows(t, bs)
	want := contextCounts(bs, prompts)
	st := l.Stats()
	if st.Supervised == 0 || st.FullContextFraction() != 1 || st.Supervised != want.Supervised || st.FullContext != want.FullContext || st.PromptCut != 0 {
		t.Fatalf("stats %+v, recounted from the batches %+v", st, want)
	}
	if log.Len() != 0 {
		t.Fatalf("warnings for rows that fit:\n%s", log.String())
	}

	text := buildTextDataset(t, lengths)
	l, err = loader.New(text, loader.Config{BatchSize: 2, Context: 80, Seed: 4, Packing: loader.PackAuto, OnePass: true, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if l.Packing() != loader.PackConcat {
		t.Fatalf("auto packing of a text-only dataset: %s", l.Packing())
	}
	bs = collect(t, l, 1000)
	if st, want := l.Stats(), contextCounts(bs, nil); st.Supervised != want.Supervised || st.FullContext != want.FullContext || st.FullContextFraction() == 1 {
		t.Fatalf("text-only concat: stats %+v, recounted %+v", st, want)
	}
	if log.Len() != 0 {
		t.Fatalf("warnings for a text-only dataset:\n%s", log.String())
	}
}

// An explicit concat on a dataset with teacher signals is honoured, with one
// warning naming how much of the prompt context it cuts; the Stats agree with
// a recount from the batches.
func TestExplicitConcatOnTeacherDataWarnsOnce(t *testing.T) {
	lengths, prompts := testRows()
	ds := buildDataset(t, lengths, prompts, []string{"train"})
	var log bytes.Buffer
	l, err := loader.New(ds, loader.Config{BatchSize: 2, Context: 48, Seed: 4, Packing: loader.PackConcat, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	nb := 3 * totalTokens(lengths) / 96 // 3 epochs
	bs := collect(t, l, nb)
	want := contextCounts(bs, prompts)
	st := l.Stats()
	if st.Supervised != want.Supervised || st.FullContext != want.FullContext || st.PromptCut != want.PromptCut || st.NoPrompt != want.NoPrompt {
		t.Fatalf("stats %+v, recounted from the batches %+v", st, want)
	}
	if st.PromptCut == 0 || st.NoPrompt == 0 {
		t.Fatalf("concat packing of these rows should cut prompts: %+v", st)
	}
	out := log.String()
	if strings.Count(out, "warning") != 1 || !strings.Contains(out, "concat") || !strings.Contains(out, "% of the supervised positions") || !strings.Contains(out, "whole") {
		t.Fatalf("want one warning about concat packing, got:\n%s", out)
	}
}

// With whole packing a row longer than the window is trained on its end: the
// last T tokens in a window of their own (its completion and as much of the
// prompt as fits); the targets before them are dropped and counted, and one
// warning names how many rows are too long and the longest.
func TestWholePackingKeepsTheEndOfLongRows(t *testing.T) {
	lengths, prompts := testRows()
	const T = 80                     // longer than testRows' rows but these three:
	lengths[5], prompts[5] = 150, 2  // the completion is longer than T: its start goes too
	lengths[7], prompts[7] = 110, 40 // the completion fits, the start of the prompt goes
	lengths[9], prompts[9] = 81, 1   // one token too long: only its first target goes
	ds := buildDataset(t, lengths, prompts, []string{"train"})
	var log bytes.Buffer
	cfg := loader.Config{BatchSize: 2, Context: T, Seed: 8, Packing: loader.PackWhole, Hidden: true, OnePass: true, Log: &log}
	l, err := loader.New(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	bs := collect(t, l, 1000)
	seen := map[[2]int]int{}
	for _, b := range bs {
		for q := range b.Tokens {
			if b.LossMask[q] == 1 {
				seen[[2]int{int(b.Tokens[q]) / 200, int(b.Tokens[q])%200 + 1}]++
			}
		}
		for w := 0; w < b.B; w++ {
			first := b.Tokens[w*T]
			if r, i := int(first)/200, int(first)%200; i != 0 && i != lengths[r]-T {
				t.Fatalf("window starts at token %d of row %d (length %d)", i, r, lengths[r])
			}
		}
	}
	var dropped int64
	for r, n := range lengths {
		for j := max(prompts[r], 1); j < n; j++ {
			wantSeen := 1
			if j < n-T+1 {
				wantSeen = 0
				dropped++
			}
			if seen[[2]int{r, j}] != wantSeen {
				t.Fatalf("row %d (length %d prompt %d) target %d trained %d times in an epoch, want %d", r, n, prompts[r], j, seen[[2]int{r, j}], wantSeen)
			}
		}
	}
	st := l.Stats()
	want := contextCounts(bs, prompts)
	if st.Dropped != dropped || st.LongRows != 3 || st.LongestRow != 150 || st.FullContext != want.FullContext || st.PromptCut != want.PromptCut {
		t.Fatalf("stats %+v; want %d dropped targets, 3 long rows, longest 150, recounted %+v", st, dropped, want)
	}
	out := log.String()
	if strings.Count(out, "warning") != 1 || !strings.Contains(out, "3 rows") || !strings.Contains(out, "150 tokens") || !strings.Contains(out, "last 80 tokens") {
		t.Fatalf("want one warning naming 3 rows and 150 tokens, got:\n%s", out)
	}
	// Cycling through epochs still warns once.
	log.Reset()
	cfg.OnePass = false
	l, _ = loader.New(ds, cfg)
	collect(t, l, 4*len(bs))
	if l.Epoch() < 3 || strings.Count(log.String(), "warning") != 1 {
		t.Fatalf("after %d epochs, want one warning, got:\n%s", l.Epoch(), log.String())
	}
}

// Every batch says where each position's row starts in its window
// (batch.RowStart), recounted from the tokens alone: a row's tokens form a run
// of consecutive ids (tok), a row continued from the previous window (concat)
// starts at 0, and padding (token 0 after the data, never part of a run)
// starts at its own position. With whole packing a window holds several rows,
// so a wrong or missing RowStart lets a row attend to the rows before it.
func TestBatchesMarkRowStarts(t *testing.T) {
	lengths, prompts := testRows()
	for _, c := range []struct {
		name string
		ds   *dataset.Dataset
		pack loader.Packing
	}{
		{"whole", buildDataset(t, lengths, prompts, []string{"train"}), loader.PackWhole},
		{"concat", buildTextDataset(t, lengths), loader.PackConcat},
	} {
		l, err := loader.New(c.ds, loader.Config{BatchSize: 3, Context: 80, Seed: 9, Packing: c.pack, OnePass: true})
		if err != nil {
			t.Fatal(err)
		}
		bs := collect(t, l, 1000)
		several := 0
		for k, b := range bs {
			if len(b.RowStart) != b.B*b.T {
				t.Fatalf("%s: batch %d has %d row starts, want %d", c.name, k, len(b.RowStart), b.B*b.T)
			}
			for q := range b.Tokens {
				ws := q / b.T * b.T
				p := q
				for p > ws && b.Tokens[p-1] == b.Tokens[p]-1 {
					p--
				}
				if want := int32(p - ws); b.RowStart[q] != want {
					t.Fatalf("%s: batch %d window %d position %d (token %d): row start %d, want %d", c.name, k, q/b.T, q-ws, b.Tokens[q], b.RowStart[q], want)
				}
				if q > ws && b.RowStart[q] == int32(q-ws) && b.Tokens[q]%200 == 0 && b.Tokens[q] != 0 {
					several++ // a second (or later) row of a window starts here
				}
			}
		}
		if several == 0 {
			t.Fatalf("%s: no window holds two rows: the test checks nothing", c.name)
		}
	}
}
