package train

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/dataset/datasettest"
	"github.com/distill-ml/distill/data/loader"
)

// writeTeacherDataset writes a one-shard dataset with teacher top-1 signals
// over a 16-token vocabulary (rows of 5 to 13 tokens, prompt 2).
func writeTeacherDataset(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "kd")
	var recs []*dataset.Record
	for r, n := range []int{5, 7, 9, 11, 13, 6, 8, 10, 11} {
		rec := &dataset.Record{Split: "train", Source: "s", Prompt: fmt.Sprint(r), PromptLen: 2}
		for i := 0; i < n; i++ {
			rec.Tokens = append(rec.Tokens, int32((r+i)%16))
		}
		for i := 2; i < n; i++ {
			rec.TopKIDs = append(rec.TopKIDs, rec.Tokens[i])
			rec.TopKLogprobs = append(rec.TopKLogprobs, -0.25)
			rec.TailMass = append(rec.TailMass, 0.2)
		}
		recs = append(recs, rec)
	}
	datasettest.Write(t, dir, dataset.Meta{TokenizerHash: "sha256:test", VocabSize: 16, Teacher: "t", TopK: 1}, dataset.WriterOptions{}, recs)
	return dir
}

// The training config's default packing keeps the rows of a dataset with
// teacher signals whole; an explicit concat is honoured and warns on the
// training log.
func TestDefaultPackingKeepsTeacherRowsWhole(t *testing.T) {
	dir := writeTeacherDataset(t)
	cfg := mustDefaults()
	cfg.Model, cfg.Data.Train, cfg.Data.Validation = "tiny", dir, dir
	cfg.Data.ValidationSplit = "validation"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the default config: %v", err)
	}
	for _, tc := range []struct {
		packing string
		want    loader.Packing
		warns   bool
	}{{cfg.Data.Packing, loader.PackWhole, false}, {"concat", loader.PackConcat, true}, {"whole", loader.PackWhole, false}} {
		var log bytes.Buffer
		l, err := DatasetData{}.TrainLoader(dir, LoaderOptions{BatchSize: 2, SeqLen: 16, Seed: 1, Split: "train", Packing: tc.packing, Log: &log})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 12; i++ {
			if _, err := l.Next(); err != nil {
				t.Fatal(err)
			}
		}
		dl := l.(*datasetLoader).l
		if dl.Packing() != tc.want {
			t.Fatalf("packing %q: in effect %s, want %s", tc.packing, dl.Packing(), tc.want)
		}
		if st := dl.Stats(); (st.FullContextFraction() == 1) != (tc.want == loader.PackWhole) {
			t.Fatalf("packing %q: %.3f of the supervised positions see their whole row (%+v)", tc.packing, st.FullContextFraction(), st)
		}
		if strings.Contains(log.String(), "warning") != tc.warns {
			t.Fatalf("packing %q: log %q", tc.packing, log.String())
		}
	}
}

// Prepare gives the training log to the training loader only (the held-out
// loader reads the same kind of data: its warnings would repeat).
func TestPreparePassesPackingAndLog(t *testing.T) {
	tokPath, hash := writeByteTokenizer(t)
	cfg := prepConfig()
	cfg.OutDir = t.TempDir()
	cfg.Data.Packing = "concat"
	d := &fakeData{info: DatasetInfo{TokenizerHash: hash, VocabSize: 256}, tokPath: tokPath}
	var log bytes.Buffer
	if _, err := Prepare(cfg, d, BuildStudent, &log); err != nil {
		t.Fatal(err)
	}
	if d.trainOpts.Packing != "concat" || d.trainOpts.Log != &log || d.valOpts.Packing != "concat" || d.valOpts.Log != nil {
		t.Fatalf("train loader options %+v, validation %+v", d.trainOpts, d.valOpts)
	}
}
