package loader_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/dataset/datasettest"
	"github.com/distill-ml/distill/data/loader"
	"github.com/distill-ml/distill/internal/sysmem"
	"github.com/distill-ml/distill/internal/testpeers"
)

// benchDataset writes a synthetic k=32 dataset (~80k tokens) once per benchmark.
func benchDataset(b *testing.B, hidden bool) *dataset.Dataset {
	b.Helper()
	cfg := datasettest.Config{Vocab: 32000, K: 32, Rows: 300, PromptLen: 60, CompletionLen: 200, Seed: 1}
	if hidden {
		cfg.Rows = 100
		cfg.HiddenLayers, cfg.HiddenDim = []int{6, 12}, 256
	}
	recs, _ := datasettest.Generate(cfg)
	dir := filepath.Join(b.TempDir(), "ds")
	ds := datasettest.Write(b, dir, cfg.Meta(), dataset.WriterOptions{MaxShardBytes: 4 << 20, RowGroupBytes: 1 << 20}, recs)
	var bytes int64
	for _, s := range ds.Manifest.Shards {
		st, _ := os.Stat(filepath.Join(dir, s.File))
		bytes += st.Size()
	}
	b.Logf("dataset: %d rows, %d tokens, %d shards, %.1f bytes/token", ds.Manifest.Rows, ds.Manifest.Tokens, len(ds.Manifest.Shards), float64(bytes)/float64(ds.Manifest.Tokens))
	return ds
}

// BenchmarkLoader measures end-to-end loader throughput (Parquet read, zstd,
// top-k decode, shuffle, packing) in batch positions per second. Each
// iteration is one batch of 8×512 positions; shards are re-read every epoch.
// Run on one core: go test ./data/loader -run '^$' -bench Loader -cpu 1
func BenchmarkLoader(b *testing.B) {
	for _, tc := range []struct {
		name   string
		hidden bool
	}{{"k32", false}, {"k32_hidden2x256", true}} {
		b.Run(tc.name, func(b *testing.B) {
			ds := benchDataset(b, tc.hidden)
			l, err := loader.New(ds, loader.Config{BatchSize: 8, Context: 512, Seed: 1, Hidden: tc.hidden})
			if err != nil {
				b.Fatal(err)
			}
			var bt batch.Batch
			cpu0 := sysmem.CPUTime().Seconds()
			b.ResetTimer()
			for b.Loop() {
				if err := l.Next(&bt); err != nil {
					b.Fatal(err)
				}
			}
			cpu := sysmem.CPUTime().Seconds() - cpu0
			// Wall-clock rate, and the rate per CPU-second of this process
			// (with -cpu 1 that is one core's work, GC included), which stays
			// meaningful when other jobs share the machine.
			b.ReportMetric(float64(b.N*8*512)/b.Elapsed().Seconds(), "tokens/s")
			b.ReportMetric(float64(b.N*8*512)/cpu, "tokens/cpu-s")
		})
	}
}

// duckdbScan times full scans of a dataset in DuckDB (one thread), touching
// every column: the Parquet read a peer does for the same bytes.
const duckdbScan = `
import { DuckDBConnection } from '@duckdb/node-api';
const [dir, reps] = [process.argv[2], Number(process.argv[3])];
const c = await DuckDBConnection.create();
await c.run("SET threads = 1");
const q = "select sum(len(tokens))::BIGINT as t, sum(octet_length(topk_ids_lo) + octet_length(topk_ids_hi) + octet_length(topk_logprobs) + octet_length(topk_tail) + octet_length(hidden) + length(prompt) + length(completion))::BIGINT as b from read_parquet('" + dir + "/*.parquet')";
await c.runAndReadAll(q); // warm up
const t0 = performance.now(), c0 = process.cpuUsage();
let r;
for (let i = 0; i < reps; i++) r = (await c.runAndReadAll(q)).getRowObjectsJS()[0];
const cu = process.cpuUsage(c0);
console.log(JSON.stringify({ ms: (performance.now() - t0) / reps, cpu_ms: (cu.user + cu.system) / 1000 / reps, tokens: Number(r.t) }));
`

// BenchmarkScanVsDuckDB compares reading a whole k=32 dataset with the
// distill reader (Parquet + zstd + row reconstruction, then decoding every
// top-k entry) against DuckDB scanning the same files on one thread.
// Run: go test ./data/loader -run '^$' -bench ScanVsDuckDB -cpu 1 -benchtime 5x
func BenchmarkScanVsDuckDB(b *testing.B) {
	ds := benchDataset(b, false)
	tokens := float64(ds.Manifest.Tokens)
	for _, decode := range []bool{false, true} {
		name := map[bool]string{false: "distill_read", true: "distill_read_decode"}[decode]
		b.Run(name, func(b *testing.B) {
			cpu0 := sysmem.CPUTime().Seconds()
			for b.Loop() {
				scanDistill(b, ds, decode)
			}
			b.ReportMetric(tokens*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
			b.ReportMetric(tokens*float64(b.N)/(sysmem.CPUTime().Seconds()-cpu0), "tokens/cpu-s")
		})
	}
	b.Run("duckdb", func(b *testing.B) {
		var ms, cpuMs float64
		for b.Loop() {
			out := testpeers.RunNode(b, "@duckdb/node-api", duckdbScan, nil, ds.Dir, "5")
			var r struct {
				Ms     float64 `json:"ms"`
				CPUMs  float64 `json:"cpu_ms"`
				Tokens float64 `json:"tokens"`
			}
			if err := json.Unmarshal(out, &r); err != nil {
				b.Fatal(err)
			}
			if r.Tokens != tokens {
				b.Fatalf("DuckDB counted %g tokens, manifest %g", r.Tokens, tokens)
			}
			ms += r.Ms
			cpuMs += r.CPUMs
		}
		b.ReportMetric(tokens*float64(b.N)/(ms/1000), "tokens/s")
		b.ReportMetric(tokens*float64(b.N)/(cpuMs/1000), "tokens/cpu-s")
	})
}

func scanDistill(b *testing.B, ds *dataset.Dataset, decode bool) {
	k := ds.Meta().TopK
	ids := make([]int32, k)
	lps := make([]float32, k)
	for i := range ds.Manifest.Shards {
		sr, err := ds.OpenShard(i)
		if err != nil {
			b.Fatal(err)
		}
		rows, err := sr.ReadAll(nil)
		sr.Close()
		if err != nil {
			b.Fatal(err)
		}
		if !decode {
			continue
		}
		for r := range rows {
			n := len(rows[r].Tokens) - int(rows[r].PromptLen)
			c, err := dataset.NewTopKCursor(&rows[r], n, ds.Meta())
			if err != nil {
				b.Fatal(err)
			}
			for p := 0; p < n; p++ {
				if _, err := c.Next(ids, lps); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
