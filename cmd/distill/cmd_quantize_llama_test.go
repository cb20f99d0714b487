package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/imatrix"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/testpeers"
)

// TestQuantizeMatchesLlamaQuantizeCLI runs llama.cpp's llama-quantize
// program (its tools/quantize sources built against node-llama-cpp's
// libllama) and `distill quantize` with the same arguments on the same F32
// file and requires byte-identical outputs: without --imatrix, with --pure,
// and with --imatrix, where llama-quantize adds the quantize.imatrix.*
// metadata (the path as given, truncated to 127 bytes; the first dataset,
// truncated too; the entry count and the chunk count, as u32; after
// general.quantization_version and general.file_type, which it moves to the
// end) — from a GGUF imatrix and from a legacy .dat, with and without
// datasets and chunks, with a chunk count llama.cpp's int32 turns negative
// and a dataset name holding a NUL.
func TestQuantizeMatchesLlamaQuantizeCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds (first use) and runs llama.cpp's llama-quantize: not in -short")
	}
	bin := testpeers.LlamaSharedTool(t, "llama-quantize")
	dir := t.TempDir()
	src, m := writeImatrixTestModel(t, dir, 5)

	// A directory name long enough that the imatrix path exceeds 127 bytes.
	long := filepath.Join(dir, strings.Repeat("calibration-", 10))
	if err := os.Mkdir(long, 0o755); err != nil {
		t.Fatal(err)
	}
	sums := func(name string, n int, scale float32) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = scale * float32(1+(i*7+3*len(name))%17)
		}
		return s
	}
	entries := map[string]imatrix.Entry{
		// An entry no tensor of the model has still counts in entries_count.
		"blk.9.ffn_up.weight": {Sums: sums("x", 256, 1), Counts: []int64{3}},
	}
	for _, p := range export.PlanShapes(m.Config, export.Options{Type: quant.FileF32}) {
		if len(p.Dims) == 2 && p.Name != "token_embd.weight" {
			entries[p.Name] = imatrix.Entry{Sums: sums(p.Name, int(p.Dims[0]), 3), Counts: []int64{3}}
		}
	}
	// The first dataset is longer than 127 bytes and has a two-byte rune across the cut.
	ds := strings.Repeat("d", 126) + "é-and-more.txt"
	withMeta := filepath.Join(long, "imatrix.gguf")
	if err := imatrix.Write(withMeta, &imatrix.File{Entries: entries, Datasets: []string{ds, "second.txt"}, ChunkCount: 7, ChunkSize: 64}); err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(dir, "bare.imatrix.gguf") // no datasets, no chunks: neither key is written
	if err := imatrix.Write(bare, &imatrix.File{Entries: entries}); err != nil {
		t.Fatal(err)
	}
	// A chunk count above 2^31 (negative in llama.cpp's int32: not recorded)
	// and a dataset with a NUL (a C string ends there).
	odd := filepath.Join(dir, "odd.imatrix.gguf")
	if err := imatrix.Write(odd, &imatrix.File{Entries: entries, Datasets: []string{"calib\x00hidden.txt"}, ChunkCount: 3_000_000_000, ChunkSize: 64}); err != nil {
		t.Fatal(err)
	}
	legacy := filepath.Join(dir, "legacy.dat")
	writeLegacyImatrix(t, legacy, entries, 5, "calib.txt")

	cases := []struct {
		typ   string
		flags []string
	}{
		{"q4_k_m", nil},
		{"q8_0", nil},
		{"q4_k_m", []string{"--pure"}},
		{"q4_k_m", []string{"--imatrix", withMeta}},
		{"q4_k_m", []string{"--pure", "--imatrix", withMeta}},
		{"q6_k", []string{"--imatrix", bare}},
		{"q4_0", []string{"--imatrix", legacy}},
		{"q6_k", []string{"--imatrix", odd}},
	}
	for i, c := range cases {
		name := fmt.Sprintf("%d-%s%s", i, c.typ, strings.ReplaceAll(strings.Join(c.flags, ""), "/", "_"))
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			theirs := filepath.Join(dir, fmt.Sprintf("%d-llama.gguf", i))
			ours := filepath.Join(dir, fmt.Sprintf("%d-distill.gguf", i))
			args := append(append([]string{}, c.flags...), src, theirs, strings.ToUpper(c.typ), "2")
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				t.Fatalf("llama-quantize %v: %v\n%s", args, err, out)
			}
			dargs := append(append([]string{"quantize", "--type", c.typ}, c.flags...), src, ours)
			if code, _, stderr := runCLI(t, dargs...); code != 0 {
				t.Fatalf("distill %v: exit %d: %s", dargs, code, stderr)
			}
			if slices.Contains(c.flags, withMeta) { // the path and the dataset are cut at 127 bytes
				f, err := gguf.Open(theirs)
				if err != nil {
					t.Fatal(err)
				}
				p, _ := f.String(gguf.KeyQuantizeImatrixFile)
				d, _ := f.String(gguf.KeyQuantizeImatrixDataset)
				f.Close()
				if len(withMeta) <= 127 || p != withMeta[:127] || d != ds[:127] {
					t.Fatalf("llama-quantize recorded file %q and dataset %q (want the first 127 bytes of %q and %q)", p, d, withMeta, ds)
				}
			}
			a, b := mustRead(t, ours), mustRead(t, theirs)
			if !bytes.Equal(a, b) {
				t.Errorf("distill %v differs from llama-quantize %v (%d and %d bytes)%s", dargs, args, len(a), len(b), ggufKVDiff(t, ours, theirs))
			}
		})
	}
}

// writeLegacyImatrix writes entries in llama.cpp's legacy .dat format:
// int32 count; per entry int32 name length, name, int32 ncall, int32 nval,
// nval floats (sums/count·ncall); then int32 chunks, int32 length, dataset.
func writeLegacyImatrix(t *testing.T, path string, entries map[string]imatrix.Entry, chunks int32, dataset string) {
	t.Helper()
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	le(int32(len(entries)))
	for name, e := range entries {
		le(int32(len(name)))
		b.WriteString(name)
		le(int32(e.Counts[0]))
		le(int32(len(e.Sums)))
		le(e.Sums)
	}
	le(chunks)
	le(int32(len(dataset)))
	b.WriteString(dataset)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ggufKVDiff describes where two GGUF files' metadata differ (keys in order,
// types and values), or that only the tensor data does.
func ggufKVDiff(t *testing.T, oursPath, theirsPath string) string {
	t.Helper()
	ours, err := gguf.Open(oursPath)
	if err != nil {
		return ": ours unreadable: " + err.Error()
	}
	defer ours.Close()
	theirs, err := gguf.Open(theirsPath)
	if err != nil {
		return ": llama-quantize's unreadable: " + err.Error()
	}
	defer theirs.Close()
	var d []string
	for i := 0; i < max(len(ours.KVs), len(theirs.KVs)); i++ {
		var o, l string
		if i < len(ours.KVs) {
			o = fmt.Sprintf("%s %v = %.80s", ours.KVs[i].Key, ours.KVs[i].Value.Type(), ours.KVs[i].Value)
		}
		if i < len(theirs.KVs) {
			l = fmt.Sprintf("%s %v = %.80s", theirs.KVs[i].Key, theirs.KVs[i].Value.Type(), theirs.KVs[i].Value)
		}
		if o != l {
			d = append(d, fmt.Sprintf("KV %d: ours %q, llama-quantize's %q", i, o, l))
		}
	}
	for i := 0; i < max(len(ours.Tensors), len(theirs.Tensors)); i++ {
		var o, l string
		if i < len(ours.Tensors) {
			o = fmt.Sprintf("%s %s @%d", ours.Tensors[i].Name, ours.Tensors[i].Type, ours.Tensors[i].Offset)
		}
		if i < len(theirs.Tensors) {
			l = fmt.Sprintf("%s %s @%d", theirs.Tensors[i].Name, theirs.Tensors[i].Type, theirs.Tensors[i].Offset)
		}
		if o != l {
			d = append(d, fmt.Sprintf("tensor %d: ours %s, llama-quantize's %s", i, o, l))
		} else if a, _ := ours.TensorData(ours.Tensors[i].Name); !bytes.Equal(a, mustTensor(theirs, theirs.Tensors[i].Name)) {
			d = append(d, fmt.Sprintf("tensor %d (%s): data differ", i, o))
		}
		if len(d) > 20 {
			break
		}
	}
	if len(d) == 0 {
		return ": metadata and tensors equal; the layout differs"
	}
	return ":\n" + strings.Join(d, "\n")
}

func mustTensor(f *gguf.File, name string) []byte {
	b, _ := f.TensorData(name)
	return b
}
