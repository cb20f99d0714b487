package loader_test

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/dataset/datasettest"
	"github.com/distill-ml/distill/data/loader"
)

const (
	vocab = 100000
	K     = 3
	D     = 2
)

// tok encodes (row, index) in a token id so tests can tell where a token came from.
func tok(row, i int) int32 { return int32(row*200 + i) }

// buildDataset writes rows whose teacher top-1 for target j is tokens[j],
// whose logprobs and hidden states encode j, so alignment can be checked.
func buildDataset(t testing.TB, lengths, promptLens []int, splits []string) *dataset.Dataset {
	t.Helper()
	return buildDatasetShards(t, lengths, promptLens, splits, 4<<10)
}

// buildDatasetShards is buildDataset with shards closed at maxShardBytes
// (1<<30 gives one shard).
func buildDatasetShards(t testing.TB, lengths, promptLens []int, splits []string, maxShardBytes int64) *dataset.Dataset {
	t.Helper()
	meta := dataset.Meta{TokenizerHash: "h", VocabSize: vocab, Teacher: "t", TopK: K, HiddenLayers: []int{4, 9}, HiddenDim: D}
	var recs []*dataset.Record
	for r, n := range lengths {
		pl := promptLens[r]
		rec := &dataset.Record{Split: splits[r%len(splits)], Source: "s", Prompt: fmt.Sprint(r), PromptLen: pl}
		for i := 0; i < n; i++ {
			rec.Tokens = append(rec.Tokens, tok(r, i))
		}
		if pl > 0 { // rows with a prompt carry teacher signals; others are text-only
			sig := n - pl
			rec.Hidden = [][]float32{make([]float32, sig*D), make([]float32, sig*D)}
			for s := 0; s < sig; s++ {
				j := pl + s
				rec.TopKIDs = append(rec.TopKIDs, tok(r, j), 99999, 99998)
				rec.TopKLogprobs = append(rec.TopKLogprobs, -float32(j)/64, -float32(j+1)/64, -float32(j+300)/64)
				rec.TailMass = append(rec.TailMass, 0.5)
				rec.Hidden[0][s*D], rec.Hidden[0][s*D+1] = float32(j), float32(r)
				rec.Hidden[1][s*D], rec.Hidden[1][s*D+1] = -float32(j), float32(r)
			}
		}
		recs = append(recs, rec)
	}
	return datasettest.Write(t, t.TempDir(), meta, dataset.WriterOptions{MaxShardBytes: maxShardBytes, RowGroupBytes: 2 << 10}, recs)
}

func testRows() (lengths, prompts []int) {
	for r := 0; r < 60; r++ {
		lengths = append(lengths, 3+(r*37)%70)
		prompts = append(prompts, (r*11)%3) // 0 (text-only), 1 or 2
	}
	lengths[5] = 150 // longer than the context
	return
}

func collect(t *testing.T, l *loader.Loader, n int) []batch.Batch {
	t.Helper()
	var out []batch.Batch
	for i := 0; i < n; i++ {
		var b batch.Batch
		err := l.Next(&b)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Validate(vocab); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestAlignmentAndCoverage(t *testing.T) {
	lengths, prompts := testRows()
	ds := buildDataset(t, lengths, prompts, []string{"train"})
	for _, packing := range []loader.Packing{loader.PackConcat, loader.PackWhole} {
		t.Run(string(packing), func(t *testing.T) {
			l, err := loader.New(ds, loader.Config{BatchSize: 3, Context: 64, Seed: 1, Packing: packing, Hidden: true, OnePass: true})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[[2]int]int{}
			var padding int
			for _, b := range collect(t, l, 1000) {
				for q := 0; q < b.B*b.T; q++ {
					r, i := int(b.Tokens[q])/200, int(b.Tokens[q])%200
					if b.LossMask[q] == 0 {
						if b.Tokens[q] == 0 && b.Targets[q] == 0 {
							padding++
						}
						if b.TeacherValid[q] != 0 {
							t.Fatalf("position %d: teacher valid without loss mask", q)
						}
						continue
					}
					j := i + 1
					if b.Targets[q] != tok(r, j) || j >= lengths[r] || j < prompts[r] {
						t.Fatalf("position %d: token (%d,%d) target %d, row length %d prompt %d", q, r, i, b.Targets[q], lengths[r], prompts[r])
					}
					seen[[2]int{r, j}]++
					if prompts[r] == 0 {
						if b.TeacherValid[q] != 0 {
							t.Fatalf("text-only row %d has teacher signal", r)
						}
						continue
					}
					if b.TeacherValid[q] != 1 || b.TopKIDs[q*K] != tok(r, j) || b.TopKLogprobs[q*K] != -float32(j)/64 ||
						b.TopKLogprobs[q*K+2] != -float32(j+300)/64 || b.TailMass[q] != 0.5 {
						t.Fatalf("position %d (row %d target %d): teacher ids %v logprobs %v tail %g", q, r, j, b.TopKIDs[q*K:q*K+K], b.TopKLogprobs[q*K:q*K+K], b.TailMass[q])
					}
					if b.Hidden[0][q*D] != float32(j) || b.Hidden[0][q*D+1] != float32(r) || b.Hidden[1][q*D] != -float32(j) {
						t.Fatalf("position %d (row %d target %d): hidden %v %v", q, r, j, b.Hidden[0][q*D:q*D+D], b.Hidden[1][q*D:q*D+D])
					}
				}
			}
			// Every completion target of every row is trained exactly once per
			// epoch (targets come from the row, so none is lost at the end of
			// a window), except, with whole packing, the targets before the
			// last T tokens of a row longer than T (row 5), never trained.
			for r, n := range lengths {
				for j := max(prompts[r], 1); j < n; j++ {
					want := 1
					if packing == loader.PackWhole && j < n-64+1 {
						want = 0
					}
					if seen[[2]int{r, j}] != want {
						t.Fatalf("row %d target %d seen %d times, want %d", r, j, seen[[2]int{r, j}], want)
					}
				}
			}
			if packing == loader.PackWhole && padding == 0 {
				t.Fatal("whole-row packing produced no padding")
			}
			t.Logf("%s: %d padding positions", packing, padding)
		})
	}
}

func TestWholePackingKeepsRowsTogether(t *testing.T) {
	lengths, prompts := testRows()
	ds := buildDataset(t, lengths, prompts, []string{"train"})
	const T = 64
	l, _ := loader.New(ds, loader.Config{BatchSize: 2, Context: T, Seed: 3, Packing: loader.PackWhole, OnePass: true})
	for _, b := range collect(t, l, 1000) {
		for w := 0; w < b.B; w++ {
			first := b.Tokens[w*T]
			r, i := int(first)/200, int(first)%200
			if i != 0 && lengths[r] <= T {
				t.Fatalf("window starts inside row %d (index %d) of length %d <= T", r, i, lengths[r])
			}
		}
	}
}

func TestDeterministicShuffle(t *testing.T) {
	lengths, prompts := testRows()
	ds := buildDataset(t, lengths, prompts, []string{"train", "validation"})
	run := func(seed uint64, split string) []batch.Batch {
		l, err := loader.New(ds, loader.Config{BatchSize: 2, Context: 32, Seed: seed, Split: split})
		if err != nil {
			t.Fatal(err)
		}
		return collect(t, l, 40)
	}
	a, b, c := run(5, "train"), run(5, "train"), run(6, "train")
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different batches")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave identical batches")
	}
	for _, bt := range run(5, "validation") {
		for _, tk := range bt.Tokens {
			if r := int(tk) / 200; tk != 0 && r%2 != 1 {
				t.Fatalf("validation batch holds row %d of split train", r)
			}
		}
	}
}

func TestResumeIsExact(t *testing.T) {
	lengths, prompts := testRows()
	ds := buildDataset(t, lengths, prompts, []string{"train"})
	for _, packing := range []loader.Packing{loader.PackConcat, loader.PackWhole} {
		cfg := loader.Config{BatchSize: 2, Context: 48, Seed: 9, Packing: packing, Hidden: true}
		straight, _ := loader.New(ds, cfg)
		noPrefetch := cfg
		noPrefetch.NoPrefetch = true
		serial, _ := loader.New(ds, noPrefetch)
		if !reflect.DeepEqual(collect(t, serial, 90), collect(t, straight, 90)) {
			t.Fatalf("%s: prefetching changes the batches", packing)
		}
		straight, _ = loader.New(ds, cfg)
		// ~2.5 epochs, so resume points fall in several epochs and shards.
		want := collect(t, straight, 90)
		if straight.Epoch() < 2 {
			t.Fatalf("test should cross epochs, at epoch %d", straight.Epoch())
		}
		for _, cut := range []int{0, 1, 7, 29, 30, 31, 55, 89} {
			resumed, _ := resumeAfter(t, ds, cfg, cut)
			got := collect(t, resumed, len(want)-cut)
			if !reflect.DeepEqual(got, want[cut:]) {
				t.Fatalf("%s: resuming after batch %d diverges from the straight run", packing, cut)
			}
			if resumed.State() != straight.State() {
				t.Fatalf("%s: final state %+v, straight %+v", packing, resumed.State(), straight.State())
			}
		}
	}
	other, _ := loader.New(ds, loader.Config{BatchSize: 2, Context: 47, Seed: 9})
	l, _ := loader.New(ds, loader.Config{BatchSize: 2, Context: 48, Seed: 9})
	if err := other.Restore(l.State()); err == nil {
		t.Fatal("restoring a state from another config succeeded")
	}
}

func TestConfigErrors(t *testing.T) {
	lengths, prompts := testRows()
	ds := buildDataset(t, lengths[:5], prompts[:5], []string{"train"})
	for _, cfg := range []loader.Config{
		{BatchSize: 0, Context: 8},
		{BatchSize: 1, Context: 0},
		{BatchSize: 1, Context: 8, Packing: "zigzag"},
		{BatchSize: 1, Context: 8, Split: "nope"},
	} {
		if _, err := loader.New(ds, cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	if _, err := loader.New(ds, loader.Config{BatchSize: 1, Context: 8}); err != nil {
		t.Fatal(err)
	}
	_ = errors.New
}
