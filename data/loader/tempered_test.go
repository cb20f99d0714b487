package loader_test

import (
	"fmt"
	"testing"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/dataset/datasettest"
	"github.com/distill-ml/distill/data/loader"
)

// TestTemperedTailFollowsItsPosition: a dataset with a tempered tail fills
// batch.TailTempered (at the dataset's TailTemperature) with the value stored
// for the same target as the rest of the teacher signal; a dataset without
// one leaves it nil. Packing is concat so rows continue across windows and
// every stored position reaches a batch.
func TestTemperedTailFollowsItsPosition(t *testing.T) {
	lengths, prompts := []int{30, 9, 50, 17}, []int{3, 0, 5, 2}
	for _, temp := range []float64{0, 2} {
		meta := dataset.Meta{TokenizerHash: "h", VocabSize: vocab, Teacher: "t", TopK: K, TailTemperature: temp}
		var recs []*dataset.Record
		for r, n := range lengths {
			pl := prompts[r]
			rec := &dataset.Record{Split: "train", Source: "s", Prompt: fmt.Sprint(r), PromptLen: pl}
			for i := 0; i < n; i++ {
				rec.Tokens = append(rec.Tokens, tok(r, i))
			}
			for j := pl; pl > 0 && j < n; j++ {
				rec.TopKIDs = append(rec.TopKIDs, tok(r, j), 99999, 99998)
				rec.TopKLogprobs = append(rec.TopKLogprobs, -1, -2, -3)
				rec.TailMass = append(rec.TailMass, 0.25)
				if temp > 0 {
					// Exact in float16: encodes the target index j.
					rec.TailTempered = append(rec.TailTempered, 0.25+float32(j)/1024)
				}
			}
			recs = append(recs, rec)
		}
		ds := datasettest.Write(t, t.TempDir(), meta, dataset.WriterOptions{MaxShardBytes: 4 << 10, RowGroupBytes: 2 << 10}, recs)
		l, err := loader.New(ds, loader.Config{BatchSize: 2, Context: 16, Seed: 3, OnePass: true, Packing: loader.PackConcat})
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, b := range collect(t, l, 1000) {
			if temp == 0 {
				if b.TailTempered != nil || b.TailTemperature != 0 {
					t.Fatalf("no tempered tail stored, batch has %d at %g", len(b.TailTempered), b.TailTemperature)
				}
				continue
			}
			if len(b.TailTempered) != b.B*b.T || b.TailTemperature != temp {
				t.Fatalf("batch tempered tail: %d values at %g", len(b.TailTempered), b.TailTemperature)
			}
			for q := range b.TailTempered {
				if b.TeacherValid[q] == 0 {
					continue
				}
				j := int(b.TopKIDs[q*K]) % 200 // the target index, from the top-1 id
				if want := 0.25 + float32(j)/1024; b.TailTempered[q] != want {
					t.Fatalf("position %d (target %d): tempered tail %g, want %g", q, j, b.TailTempered[q], want)
				}
				checked++
			}
		}
		if temp > 0 && checked < 80 {
			t.Fatalf("only %d teacher positions checked", checked)
		}
	}
}
