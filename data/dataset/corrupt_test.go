package dataset

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

func testMeta() Meta {
	return Meta{SchemaVersion: SchemaVersion, TokenizerHash: "sha256:tok", VocabSize: 1000, Teacher: "t",
		Temperature: 1, PolicyHash: "p", WriterVersion: "test", TopK: 2, LogprobScale: LogprobScale,
		HiddenLayers: []int{3}, HiddenDim: 2}
}

// goodRow returns a valid row with 2 prompt and 2 completion tokens.
func goodRow(t *testing.T, meta *Meta, prompt string) Row {
	t.Helper()
	rec := &Record{Split: "train", Source: "src", Prompt: prompt, Completion: "c", Tokens: []int32{1, 2, 300, 4}, PromptLen: 2,
		TopKIDs: []int32{300, 5, 4, 700}, TopKLogprobs: []float32{-0.05, -3.5, -0.1, -2.5}, TailMass: []float32{0.92, 0.06},
		Hidden: [][]float32{{1, 2, 3, 4}}}
	rec.TailMass[0] = float32(1 - math.Exp(-0.05) - math.Exp(-3.5))
	rec.TailMass[1] = float32(1 - math.Exp(-0.1) - math.Exp(-2.5))
	row, err := EncodeRecord(rec, meta)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

// writeRawDataset writes rows as-is (bypassing the writer's checks) into one
// shard with a matching manifest, and returns the directory.
func writeRawDataset(t *testing.T, meta Meta, rows []Row) string {
	t.Helper()
	dir := t.TempDir()
	sw, err := newShardWriter(dir, 0, &meta, WriterOptions{ZstdLevel: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.writeRowGroup(rows); err != nil {
		t.Fatal(err)
	}
	info, err := sw.close()
	if err != nil {
		t.Fatal(err)
	}
	m := Manifest{Meta: meta, Shards: []ShardInfo{info}, Rows: info.Rows, Tokens: info.Tokens}
	if err := WriteManifest(dir, &m); err != nil {
		t.Fatal(err)
	}
	return dir
}

func expectProblem(t *testing.T, probs []Problem, shard string, row int64, field, msg string) {
	t.Helper()
	for _, p := range probs {
		if p.Shard == shard && p.Row == row && p.Field == field && strings.Contains(p.Msg, msg) {
			return
		}
	}
	t.Errorf("no problem {shard %q row %d field %q msg ~%q} in %v", shard, row, field, msg, probs)
}

func TestValidateRowProblems(t *testing.T) {
	meta := testMeta()
	const shard = "part-00000.parquet"
	cases := []struct {
		name, field, msg string
		mutate           func(r *Row)
	}{
		{"bad id", "id", "is not the id", func(r *Row) { r.ID = "0000" }},
		{"token outside vocab", "tokens", "position 3: id 1000 outside vocab 1000", func(r *Row) { r.Tokens[3] = 1000 }},
		{"prompt_len too large", "prompt_len", "9 outside [0, 4]", func(r *Row) { r.PromptLen = 9 }},
		{"topk id outside vocab", "topk_ids_lo", "position 1 rank 1: id 1212 outside vocab", func(r *Row) { r.TopKIDsHi[3] = 4 }},
		{"duplicate topk id", "topk_ids_lo", "id 300 appears twice", func(r *Row) { r.TopKIDsLo[1], r.TopKIDsHi[1] = r.TopKIDsLo[0], r.TopKIDsHi[0] }},
		{"tail NaN", "topk_tail", "position 0: tail mass NaN", func(r *Row) { binary.LittleEndian.PutUint16(r.TopKTail, 0x7e00) }},
		{"tail > 1", "topk_tail", "position 1: tail mass 1.5", func(r *Row) { binary.LittleEndian.PutUint16(r.TopKTail[2:], 0x3e00) }},
		{"mass not 1", "topk_logprobs", "position 0: top-2 probabilities plus tail mass sum to", func(r *Row) { r.TopKLogprobs[0] = 0 }},
		{"truncated logprob plane", "topk_logprobs", "cannot hold 4 varints", func(r *Row) { r.TopKLogprobs = r.TopKLogprobs[:3] }},
		{"bad varint", "topk_ids_hi", "bad varint", func(r *Row) { r.TopKIDsHi = []byte{0x80, 0x80, 0x80, 0x80} }},
		{"short low-id plane", "topk_ids_lo", "3 bytes, want 2 positions × k 2", func(r *Row) { r.TopKIDsLo = r.TopKIDsLo[:3] }},
		{"trailing bytes", "topk_logprobs", "1 trailing bytes", func(r *Row) { r.TopKLogprobs = append(r.TopKLogprobs, 0) }},
		{"hidden size", "hidden", "6 bytes, want 1 layers × 2 positions × dim 2", func(r *Row) { r.Hidden = r.Hidden[:6] }},
		{"hidden inf", "hidden", "layer 3 position 1: +Inf is not finite", func(r *Row) { binary.LittleEndian.PutUint16(r.Hidden[4:], 0x7c00) }},
		{"hidden missing", "hidden", "must carry both", func(r *Row) { r.Hidden = nil }},
		{"teacher missing", "teacher", "empty for a row with teacher signals", func(r *Row) { r.Teacher = "" }},
		{"teacher without prompt", "prompt_len", "0, but the row has teacher signals", func(r *Row) {
			r.PromptLen = 0
			r.TopKTail, r.TopKIDsLo, r.TopKIDsHi, r.TopKLogprobs, r.Hidden = nil, nil, nil, nil, nil
			r.TopKTail = []byte{0, 0}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows := []Row{goodRow(t, &meta, "a"), goodRow(t, &meta, "b"), goodRow(t, &meta, "c")}
			tc.mutate(&rows[1])
			dir := writeRawDataset(t, meta, rows)
			probs := Validate(dir, ValidateOptions{})
			expectProblem(t, probs, shard, 1, tc.field, tc.msg)
			for _, p := range probs {
				if p.Row != 1 {
					t.Errorf("problem outside the corrupted row: %v", p)
				}
			}
		})
	}
	t.Run("duplicate row id", func(t *testing.T) {
		dir := writeRawDataset(t, meta, []Row{goodRow(t, &meta, "a"), goodRow(t, &meta, "a")})
		expectProblem(t, Validate(dir, ValidateOptions{}), shard, 1, "id", "duplicate of shard part-00000.parquet row 0")
	})
	t.Run("valid", func(t *testing.T) {
		dir := writeRawDataset(t, meta, []Row{goodRow(t, &meta, "a"), goodRow(t, &meta, "b")})
		if probs := Validate(dir, ValidateOptions{TokenizerHash: "sha256:tok", VocabSize: 1000}); len(probs) != 0 {
			t.Fatal(probs)
		}
		expectProblem(t, Validate(dir, ValidateOptions{TokenizerHash: "sha256:other"}), "", -1, "meta.tokenizer_hash", `tokenized with "sha256:tok", expected "sha256:other"`)
		expectProblem(t, Validate(dir, ValidateOptions{VocabSize: 300}), shard, 0, "tokens", "id 300 outside vocab 300")
	})
}

func TestValidateFileProblems(t *testing.T) {
	meta := testMeta()
	const shard = "part-00000.parquet"
	fresh := func(t *testing.T) (string, string) {
		dir := writeRawDataset(t, meta, []Row{goodRow(t, &meta, "a"), goodRow(t, &meta, "b")})
		return dir, filepath.Join(dir, shard)
	}
	t.Run("truncated", func(t *testing.T) {
		dir, path := fresh(t)
		b, _ := os.ReadFile(path)
		os.WriteFile(path, b[:len(b)/2], 0o644)
		probs := Validate(dir, ValidateOptions{})
		expectProblem(t, probs, shard, -1, "bytes", "manifest says")
		expectProblem(t, probs, shard, -1, "sha256", "manifest says")
		expectProblem(t, probs, shard, -1, "", "truncated")
	})
	t.Run("flipped byte", func(t *testing.T) {
		dir, path := fresh(t)
		b, _ := os.ReadFile(path)
		b[len(b)/3] ^= 0x55
		os.WriteFile(path, b, 0o644)
		expectProblem(t, Validate(dir, ValidateOptions{}), shard, -1, "sha256", "manifest says")
	})
	t.Run("missing shard", func(t *testing.T) {
		dir, path := fresh(t)
		os.Remove(path)
		expectProblem(t, Validate(dir, ValidateOptions{}), shard, -1, "", "no such file")
	})
	t.Run("unlisted and temp files", func(t *testing.T) {
		dir, path := fresh(t)
		b, _ := os.ReadFile(path)
		os.WriteFile(filepath.Join(dir, "part-00001.parquet"), b, 0o644)
		os.WriteFile(filepath.Join(dir, ".part-00002.parquet.tmp-123"), b[:10], 0o644)
		probs := Validate(dir, ValidateOptions{})
		expectProblem(t, probs, "part-00001.parquet", -1, "", "not listed")
		expectProblem(t, probs, ".part-00002.parquet.tmp-123", -1, "", "leftover temporary file")
	})
	t.Run("manifest unknown key", func(t *testing.T) {
		dir, _ := fresh(t)
		b, _ := os.ReadFile(filepath.Join(dir, ManifestName))
		var m map[string]any
		json.Unmarshal(b, &m)
		m["extra"] = 1
		b, _ = json.Marshal(m)
		os.WriteFile(filepath.Join(dir, ManifestName), b, 0o644)
		expectProblem(t, Validate(dir, ValidateOptions{}), "", -1, ManifestName, `unknown field "extra"`)
	})
	t.Run("wrong schema version", func(t *testing.T) {
		m2 := meta
		m2.SchemaVersion = 2
		dir := t.TempDir()
		sw, err := newShardWriter(dir, 0, &m2, WriterOptions{ZstdLevel: 1})
		if err != nil {
			t.Fatal(err)
		}
		sw.writeRowGroup([]Row{goodRow(t, &meta, "a")})
		info, _ := sw.close()
		WriteManifest(dir, &Manifest{Meta: meta, Shards: []ShardInfo{info}, Rows: 1, Tokens: 4})
		expectProblem(t, Validate(dir, ValidateOptions{}), shard, -1, "", `distill.schema_version: version "2"`)
	})
	t.Run("wrong schema", func(t *testing.T) {
		type otherRow struct {
			ID     string  `parquet:"id"`
			Split  string  `parquet:"split"`
			Tokens []int64 `parquet:"tokens,list"`
		}
		dir := t.TempDir()
		path := filepath.Join(dir, shard)
		f, _ := os.Create(path)
		var opts []parquet.WriterOption
		for _, kv := range meta.keyValues() {
			opts = append(opts, parquet.KeyValueMetadata(kv[0], kv[1]))
		}
		w := parquet.NewGenericWriter[otherRow](f, opts...)
		w.Write([]otherRow{{ID: "x", Split: "train", Tokens: []int64{1}}})
		w.Close()
		f.Close()
		_, err := OpenShard(path)
		if err == nil || !strings.Contains(err.Error(), "column tokens.list.element: type INT64, want INT32") ||
			!strings.Contains(err.Error(), "column topk_logprobs: missing") || !strings.Contains(err.Error(), shard) {
			t.Fatalf("got %v", err)
		}
	})
}
