package train

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/dataset/datasettest"
)

// writeEpochDataset writes a one-shard text dataset over the fake model's
// 16-token vocabulary: 9 rows of 5 to 13 tokens, 80 tokens in all, so that
// an epoch of 2×8 concat windows is exactly 5 batches.
func writeEpochDataset(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ds")
	var recs []*dataset.Record
	for r, n := range []int{5, 7, 9, 11, 13, 6, 8, 10, 11} {
		rec := &dataset.Record{Split: "train", Source: "s", Prompt: fmt.Sprint(r), PromptLen: 1}
		tok := int32(r % 16)
		for i := 0; i < n; i++ {
			rec.Tokens = append(rec.Tokens, tok)
			tok = (3*tok + 1) % 16
		}
		recs = append(recs, rec)
	}
	datasettest.Write(t, dir, dataset.Meta{TokenizerHash: "sha256:test", VocabSize: 16, Teacher: "none"}, dataset.WriterOptions{}, recs)
	return dir
}

// Training on the real dataset loader for 4 epochs straight equals stopping
// exactly at the end of epoch 0, just after it, or in the middle of epoch 1,
// and resuming into a fresh model and loader: every loss and weight bit.
func TestResumeAcrossEpochsIsBitIdentical(t *testing.T) {
	dir := writeEpochDataset(t)
	cfg := testConfig(t.TempDir(), 20) // 20 updates of one batch: 4 epochs
	opts := LoaderOptions{BatchSize: cfg.Train.BatchSize, SeqLen: cfg.Train.SeqLen, Seed: cfg.Train.Seed, Split: "train", Packing: "concat"}
	setup := func(cfg Config, modelSeed uint64) (Setup, *fakeModel) {
		s, m := testSetup(cfg, modelSeed)
		l, err := DatasetData{}.TrainLoader(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		s.Train = l
		return s, m
	}
	straight, sm := setup(cfg, 1)
	resA, err := Run(context.Background(), straight)
	if err != nil {
		t.Fatal(err)
	}
	for _, stop := range []int{5, 6, 8} {
		c := cfg
		c.OutDir = t.TempDir()
		first, _ := setup(c, 1)
		second, rm := setup(c, 777)
		what := fmt.Sprintf("stop %d", stop)
		resB1, resB2 := runStoppedThenResumed(t, what, first, second, stop)
		requireSameAsStraight(t, what, resA, resB1, resB2, sm, rm)
	}
}
