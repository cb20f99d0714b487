package dataset_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/dataset/datasettest"
	"github.com/parquet-go/parquet-go"
)

// writeDataset writes recs into a fresh dataset directory.
func writeDataset(t testing.TB, dir string, meta dataset.Meta, recs []*dataset.Record, opts dataset.WriterOptions) *dataset.Manifest {
	t.Helper()
	return datasettest.Write(t, dir, meta, opts, recs).Manifest
}

func dirBytes(t testing.TB, dir string) int64 {
	var n int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ".parquet" {
			st, _ := os.Stat(filepath.Join(dir, e.Name()))
			n += st.Size()
		}
	}
	return n
}

// klStored is KL(exact || stored) over the K+1 buckets (top-K and tail), in
// nats, for one position; both sides normalized.
func klStored(exactLP []float64, exactTail float64, storedLP []float32, storedTail float32) float64 {
	k := len(exactLP)
	p := make([]float64, k+1)
	q := make([]float64, k+1)
	var zp, zq float64
	for i := 0; i < k; i++ {
		p[i] = math.Exp(exactLP[i])
		q[i] = math.Exp(float64(storedLP[i]))
		zp += p[i]
		zq += q[i]
	}
	p[k], q[k] = exactTail, float64(storedTail)
	zp += p[k]
	zq += q[k]
	kl := 0.0
	for i := range p {
		if p[i] > 0 {
			kl += p[i] / zp * math.Log((p[i]/zp)/(q[i]/zq))
		}
	}
	return kl
}

// TestStorageReport measures bytes/token and the KL error of the stored form.
// By default it runs a small sample; DISTILL_STORAGE_REPORT=1 runs the full
// report recorded in docs/BENCHMARKS.md (go test -run StorageReport -v). It
// fails if the stored form's KL error is not negligible (> 1e-4 nats mean).
func TestStorageReport(t *testing.T) {
	if testing.Short() {
		t.Skip("storage report: not in -short")
	}
	full := os.Getenv("DISTILL_STORAGE_REPORT") == "1"
	rows := 40
	if full {
		rows = 300
	}
	for _, tc := range []struct {
		name string
		cfg  datasettest.Config
	}{
		{"k32_vocab32k", datasettest.Config{Vocab: 32000, K: 32, Rows: rows, PromptLen: 60, CompletionLen: 200, Seed: 1}},
		{"k32_vocab32k_randomids", datasettest.Config{Vocab: 32000, K: 32, Rows: rows, PromptLen: 60, CompletionLen: 200, Seed: 1, RandomIDs: true}},
		{"k32_vocab151k", datasettest.Config{Vocab: 151936, K: 32, Rows: rows, PromptLen: 60, CompletionLen: 200, Seed: 1}},
		{"k32_vocab32k_hidden2x256", datasettest.Config{Vocab: 32000, K: 32, Rows: rows / 3, PromptLen: 60, CompletionLen: 200, Seed: 1, HiddenLayers: []int{6, 12}, HiddenDim: 256}},
		{"text_only", datasettest.Config{Vocab: 32000, Rows: rows, PromptLen: 60, CompletionLen: 200, Seed: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !full && tc.name != "k32_vocab32k" && tc.name != "text_only" {
				t.Skip("full report only with DISTILL_STORAGE_REPORT=1")
			}
			recs, exact := datasettest.Generate(tc.cfg)
			dir := t.TempDir()
			m := writeDataset(t, dir, tc.cfg.Meta(), recs, dataset.WriterOptions{})
			bytes := dirBytes(t, dir)
			var sig int64
			for _, r := range recs {
				sig += int64(r.SignalPositions())
			}
			ds, err := dataset.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			var klSum, klMax float64
			var npos int
			err = ds.Each(func(shard int, row int64, rec *dataset.Record) error {
				ex := exact[row]
				if tc.cfg.K == 0 {
					return nil
				}
				k := tc.cfg.K
				for p := 0; p < rec.SignalPositions(); p++ {
					kl := klStored(ex.Logprobs[p*k:(p+1)*k], ex.Tail[p], rec.TopKLogprobs[p*k:(p+1)*k], rec.TailMass[p])
					klSum += kl
					klMax = math.Max(klMax, kl)
					npos++
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: rows %d tokens %d teacher positions %d, %d bytes: %.1f bytes/token, %.1f bytes/teacher position",
				tc.name, m.Rows, m.Tokens, sig, bytes, float64(bytes)/float64(m.Tokens), float64(bytes)/float64(max(sig, 1)))
			if npos > 0 {
				mean := klSum / float64(npos)
				t.Logf("%s: KL(exact || stored) over top-%d + tail: mean %.3g nats, max %.3g nats", tc.name, tc.cfg.K, mean, klMax)
				if mean > 1e-4 {
					t.Errorf("stored form's KL error %.3g nats is not negligible", mean)
				}
			}
		})
	}
}

// naiveRow is the obvious Parquet layout (float32 logprobs, int32 ids in
// lists), written only to show what the packed schema buys.
type naiveRow struct {
	Tokens   []int32   `parquet:"tokens,list,zstd"`
	TopKIDs  []int32   `parquet:"topk_ids,list,zstd"`
	TopKLps  []float32 `parquet:"topk_logprobs,list,zstd"`
	TailMass []float32 `parquet:"tail,list,zstd"`
	Prompt   string    `parquet:"prompt,zstd"`
	Compl    string    `parquet:"completion,zstd"`
}

func TestStorageNaiveBaseline(t *testing.T) {
	if os.Getenv("DISTILL_STORAGE_REPORT") != "1" {
		t.Skip("report only with DISTILL_STORAGE_REPORT=1")
	}
	cfg := datasettest.Config{Vocab: 32000, K: 32, Rows: 300, PromptLen: 60, CompletionLen: 200, Seed: 1}
	recs, _ := datasettest.Generate(cfg)
	path := filepath.Join(t.TempDir(), "naive.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[naiveRow](f, parquet.Compression(&parquet.Zstd))
	var tokens int64
	for _, r := range recs {
		tokens += int64(len(r.Tokens))
		if _, err := w.Write([]naiveRow{{r.Tokens, r.TopKIDs, r.TopKLogprobs, r.TailMass, r.Prompt, r.Completion}}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	f.Close()
	st, _ := os.Stat(path)
	t.Logf("naive LIST<INT32>/LIST<FLOAT> + zstd layout: %.1f bytes/token", float64(st.Size())/float64(tokens))
}
