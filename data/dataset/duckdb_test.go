package dataset_test

import (
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/dataset/datasettest"
	"github.com/distill-ml/distill/internal/testpeers"
)

// duckdbReader reads a distill dataset with DuckDB and decodes the packed
// top-k columns from the layout documented in package dataset — written from
// the documentation, independently of the Go decoder.
const duckdbReader = `
import { DuckDBConnection } from '@duckdb/node-api';
const dir = process.argv[2];
const c = await DuckDBConnection.create();
const glob = dir + '/*.parquet';
const count = (await c.runAndReadAll("select count(*)::INTEGER as n, sum(len(tokens))::INTEGER as t from read_parquet('" + glob + "')")).getRowObjectsJS()[0];
const kv = (await c.runAndReadAll("select decode(key) as k, decode(value) as v from parquet_kv_metadata('" + glob + "') where decode(key) like 'distill.%'")).getRowObjectsJS();
const rows = (await c.runAndReadAll("select id, split, source, prompt, completion, tokens, prompt_len, topk_tail, topk_ids_lo, topk_ids_hi, topk_logprobs, topk_tail_tempered, octet_length(hidden)::INTEGER as hidden_bytes from read_parquet('" + glob + "') order by filename, file_row_number")).getRowObjectsJS();
const meta = Object.fromEntries(kv.map(r => [r.k, r.v]));
const K = Number(meta['distill.topk']);
function uvarints(buf) {
  const out = []; let v = 0, shift = 0;
  for (const b of buf) { v += (b & 0x7f) * 2 ** shift; shift += 7; if (b < 0x80) { out.push(v); v = 0; shift = 0; } }
  return out;
}
function half(h) {
  const s = h >> 15 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}
const out = rows.map(r => {
  const n = r.tokens.length - r.prompt_len;
  const hi = uvarints(r.topk_ids_hi), codes = uvarints(r.topk_logprobs);
  const ids = [], lps = [], tail = [], tailT = [];
  for (let p = 0; p < n && r.topk_ids_lo.length; p++) {
    let acc = 0;
    for (let j = 0; j < K; j++) {
      const i = p * K + j;
      ids.push(r.topk_ids_lo[i] + hi[i] * 256);
      acc += codes[i];
      lps.push(-acc / 64);
    }
    tail.push(half(r.topk_tail[2 * p] | (r.topk_tail[2 * p + 1] << 8)));
    if (r.topk_tail_tempered.length) tailT.push(half(r.topk_tail_tempered[2 * p] | (r.topk_tail_tempered[2 * p + 1] << 8)));
  }
  return { id: r.id, split: r.split, source: r.source, prompt: r.prompt, completion: r.completion,
           tokens: r.tokens, prompt_len: r.prompt_len, ids, lps, tail, tail_tempered: tailT, hidden_bytes: r.hidden_bytes };
});
console.log(JSON.stringify({ count: count.n, tokens: count.t, meta, rows: out }));
`

func TestDuckDBReadsDataset(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with DuckDB: not in -short")
	}
	cfg := datasettest.Config{Vocab: 40000, K: 8, Rows: 25, PromptLen: 5, CompletionLen: 12, Seed: 3,
		HiddenLayers: []int{1}, HiddenDim: 4, Splits: []string{"train", "validation"}, TailTemperature: 2}
	recs, _ := datasettest.Generate(cfg)
	dir := filepath.Join(t.TempDir(), "ds")
	m := writeDataset(t, dir, cfg.Meta(), recs, dataset.WriterOptions{MaxShardBytes: 8 << 10, RowGroupBytes: 2 << 10})
	if len(m.Shards) < 2 {
		t.Fatalf("want several shards, got %d", len(m.Shards))
	}
	raw := testpeers.RunNode(t, "@duckdb/node-api", duckdbReader, nil, dir)
	var got struct {
		Count, Tokens int
		Meta          map[string]string
		Rows          []struct {
			ID, Split, Source, Prompt, Completion string
			Tokens                                []int32
			PromptLen                             int `json:"prompt_len"`
			IDs                                   []int32
			Lps, Tail                             []float64
			TailTempered                          []float64 `json:"tail_tempered"`
			HiddenBytes                           int       `json:"hidden_bytes"`
		}
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if got.Count != len(recs) || int64(got.Tokens) != m.Tokens || len(got.Rows) != len(recs) {
		t.Fatalf("DuckDB sees %d rows %d tokens, wrote %d rows %d tokens", got.Count, got.Tokens, len(recs), m.Tokens)
	}
	if got.Meta["distill.schema_version"] != "1" || got.Meta["distill.topk"] != "8" || got.Meta["distill.tail_temperature"] != "2" || got.Meta["distill.tokenizer_hash"] != cfg.Meta().TokenizerHash {
		t.Fatalf("metadata as DuckDB reads it: %v", got.Meta)
	}
	for i, r := range got.Rows {
		w := recs[i]
		if r.ID != dataset.RowID(w.Source, w.Prompt) || r.Split != w.Split || r.Source != w.Source || r.Prompt != w.Prompt ||
			r.Completion != w.Completion || r.PromptLen != w.PromptLen || !reflect.DeepEqual(r.Tokens, w.Tokens) {
			t.Fatalf("row %d differs as DuckDB reads it", i)
		}
		if !reflect.DeepEqual(r.IDs, w.TopKIDs) {
			t.Fatalf("row %d: top-k ids %v, wrote %v", i, r.IDs, w.TopKIDs)
		}
		for j, lp := range w.TopKLogprobs {
			if math.Abs(r.Lps[j]-float64(lp)) > 1.0/128+1e-9 {
				t.Fatalf("row %d logprob %d: DuckDB-decoded %g, wrote %g", i, j, r.Lps[j], lp)
			}
		}
		for j, tm := range w.TailMass {
			if math.Abs(r.Tail[j]-float64(tm)) > float64(tm)/2048+6e-8 {
				t.Fatalf("row %d tail %d: DuckDB-decoded %g, wrote %g", i, j, r.Tail[j], tm)
			}
		}
		if len(r.TailTempered) != len(w.TailTempered) {
			t.Fatalf("row %d: DuckDB decodes %d tempered tails, wrote %d", i, len(r.TailTempered), len(w.TailTempered))
		}
		for j, q := range w.TailTempered {
			if math.Abs(r.TailTempered[j]-float64(q)) > float64(q)/2048+6e-8 {
				t.Fatalf("row %d tempered tail %d: DuckDB-decoded %g, wrote %g", i, j, r.TailTempered[j], q)
			}
		}
		if r.HiddenBytes != 2*w.SignalPositions()*4 {
			t.Fatalf("row %d: hidden %d bytes", i, r.HiddenBytes)
		}
	}
}
