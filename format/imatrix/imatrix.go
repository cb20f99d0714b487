// Package imatrix reads and writes llama.cpp importance-matrix files, the
// activation statistics llama-imatrix computes and llama-quantize --imatrix
// consumes: the GGUF format current llama.cpp writes (per weight matrix NAME
// an F32 tensor NAME.in_sum2 {ne0, n_mat} of summed squared input
// activations and NAME.counts {1, n_mat} of how many activation rows were
// summed; imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size) and the
// legacy .dat format (int32 entry count; per entry int32 name length, name,
// int32 ncall, int32 nval, nval floats holding sums/count·ncall; optional
// trailing int32 chunk count, int32 length and dataset name).
package imatrix

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/quant"
)

// GGUF keys of the imatrix format (llama.cpp common/imatrix-loader.h).
const (
	KeyDatasets   = "imatrix.datasets"
	KeyChunkCount = "imatrix.chunk_count"
	KeyChunkSize  = "imatrix.chunk_size"
)

// Entry is one weight matrix's statistics: Sums has n_mat·ne0 values (one
// row per expert matrix; 1 for dense models), Counts one per matrix.
type Entry struct {
	Sums   []float32
	Counts []int64
}

// File is an importance matrix as llama.cpp's common_imatrix_load returns it.
type File struct {
	Entries     map[string]Entry
	Datasets    []string
	ChunkCount  int
	ChunkSize   int
	Legacy      bool // read from the .dat format
	HasMetadata bool // GGUF: datasets, chunk_count and chunk_size present
}

// maxValues bounds a legacy entry (untrusted counts are bounded before allocating).
const maxValues = 1 << 28

// Read loads a GGUF imatrix, or a legacy .dat file when path is not GGUF.
func Read(path string) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("imatrix: %w", err)
	}
	if bytes.HasPrefix(raw, []byte("GGUF")) {
		return readGGUF(path)
	}
	f, err := readLegacy(raw)
	if err != nil {
		return nil, fmt.Errorf("imatrix %s (legacy .dat): %w", path, err)
	}
	return f, nil
}

func readGGUF(path string) (*File, error) {
	g, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imatrix: %w", err)
	}
	defer g.Close()
	f := &File{Entries: map[string]Entry{}}
	_, hasDS := g.KV(KeyDatasets)
	_, hasCC := g.KV(KeyChunkCount)
	_, hasCS := g.KV(KeyChunkSize)
	f.HasMetadata = hasDS && hasCC && hasCS
	if hasDS {
		if f.Datasets, err = g.Strings(KeyDatasets); err != nil {
			return nil, fmt.Errorf("imatrix %s: %w", path, err)
		}
	}
	if hasCC {
		v, err := g.Uint32(KeyChunkCount)
		if err != nil {
			return nil, fmt.Errorf("imatrix %s: %w", path, err)
		}
		f.ChunkCount = int(v)
	}
	if hasCS {
		v, err := g.Uint32(KeyChunkSize)
		if err != nil {
			return nil, fmt.Errorf("imatrix %s: %w", path, err)
		}
		f.ChunkSize = int(v)
	}
	if len(g.Tensors) == 0 {
		return nil, fmt.Errorf("imatrix %s: no data", path)
	}
	sums, counts := map[string]gguf.TensorInfo{}, map[string]gguf.TensorInfo{}
	for _, t := range g.Tensors {
		if n, ok := strings.CutSuffix(t.Name, ".in_sum2"); ok {
			sums[n] = t
		} else if n, ok := strings.CutSuffix(t.Name, ".counts"); ok {
			counts[n] = t
		}
	}
	for name, st := range sums {
		ct, ok := counts[name]
		if !ok {
			return nil, fmt.Errorf("imatrix %s: %s.in_sum2 has no %s.counts", path, name, name)
		}
		if st.Type != quant.F32 || ct.Type != quant.F32 {
			return nil, fmt.Errorf("imatrix %s: sums and counts of %s must be F32, are %s and %s", path, name, st.Type, ct.Type)
		}
		sv, err := floats(g, st.Name)
		if err != nil {
			return nil, fmt.Errorf("imatrix %s: %w", path, err)
		}
		cv, err := floats(g, ct.Name)
		if err != nil {
			return nil, fmt.Errorf("imatrix %s: %w", path, err)
		}
		if len(cv) == 0 || len(sv)%len(cv) != 0 {
			return nil, fmt.Errorf("imatrix %s: %s has %d sums for %d counts", path, name, len(sv), len(cv))
		}
		e := Entry{Sums: sv, Counts: make([]int64, len(cv))}
		for j, c := range cv {
			e.Counts[j] = int64(math.Round(float64(c))) // std::lround
		}
		f.Entries[name] = e
	}
	for name := range counts {
		if _, ok := sums[name]; !ok {
			return nil, fmt.Errorf("imatrix %s: %s.counts has no %s.in_sum2", path, name, name)
		}
	}
	return f, nil
}

func floats(g *gguf.File, name string) ([]float32, error) {
	b, err := g.TensorData(name)
	if err != nil {
		return nil, err
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

func readLegacy(raw []byte) (*File, error) {
	r := bytes.NewReader(raw)
	i32 := func(what string) (int32, error) {
		var v int32
		if err := binary.Read(r, binary.LittleEndian, &v); err != nil {
			return 0, fmt.Errorf("reading %s: %w", what, err)
		}
		return v, nil
	}
	n, err := i32("entry count")
	if err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("no data (%d entries)", n)
	}
	f := &File{Entries: map[string]Entry{}, Legacy: true}
	for i := 0; i < int(n); i++ {
		l, err := i32(fmt.Sprintf("entry %d name length", i+1))
		if err != nil {
			return nil, err
		}
		if l < 0 || int64(l) > int64(r.Len()) {
			return nil, fmt.Errorf("entry %d: name length %d", i+1, l)
		}
		name := make([]byte, l)
		if _, err := io.ReadFull(r, name); err != nil {
			return nil, fmt.Errorf("entry %d name: %w", i+1, err)
		}
		ncall, err := i32(fmt.Sprintf("entry %d (%s) ncall", i+1, name))
		if err != nil {
			return nil, err
		}
		nval, err := i32(fmt.Sprintf("entry %d (%s) value count", i+1, name))
		if err != nil {
			return nil, err
		}
		if nval < 1 || nval > maxValues || int64(nval)*4 > int64(r.Len()) {
			return nil, fmt.Errorf("entry %d (%s): %d values with %d bytes left", i+1, name, nval, r.Len())
		}
		sums := make([]float32, nval)
		if err := binary.Read(r, binary.LittleEndian, sums); err != nil {
			return nil, fmt.Errorf("entry %d (%s) values: %w", i+1, name, err)
		}
		f.Entries[string(name)] = Entry{Sums: sums, Counts: []int64{int64(ncall)}}
	}
	if r.Len() >= 4 { // optional trailer: chunk count, dataset name
		cc, _ := i32("chunk count")
		f.ChunkCount = int(cc)
		if l, err := i32("dataset name length"); err == nil && l > 0 && int64(l) <= int64(r.Len()) {
			ds := make([]byte, l)
			if _, err := io.ReadFull(r, ds); err == nil {
				f.Datasets = append(f.Datasets, strings.TrimRight(string(ds), "\x00"))
			}
		}
	}
	return f, nil
}

// Weights returns the per-column importance of every entry as
// llama-quantize's load_imatrix derives them: GGUF sums divided by each
// matrix's count (1 where the count is 0), legacy values divided by ncall
// (as they are when ncall is 0). A GGUF file without the imatrix.* metadata
// is refused, as llama-quantize refuses it.
func (f *File) Weights() (map[string][]float32, error) {
	if !f.Legacy && !f.HasMetadata {
		return nil, fmt.Errorf("imatrix: missing imatrix metadata (%s, %s, %s)", KeyDatasets, KeyChunkCount, KeyChunkSize)
	}
	out := make(map[string][]float32, len(f.Entries))
	for name, e := range f.Entries {
		w := make([]float32, len(e.Sums))
		if !f.Legacy {
			ne0 := len(e.Sums) / len(e.Counts)
			for j, c := range e.Counts {
				for i := 0; i < ne0; i++ {
					if c > 0 {
						w[j*ne0+i] = e.Sums[j*ne0+i] / float32(c)
					} else {
						w[j*ne0+i] = 1
					}
				}
			}
		} else {
			var ncall int64
			if len(e.Counts) > 0 {
				ncall = e.Counts[0]
			}
			for i, s := range e.Sums {
				if ncall > 0 {
					w[i] = s / float32(ncall)
				} else {
					w[i] = s
				}
			}
		}
		for i, v := range w {
			if v != v || v-v != 0 {
				return nil, fmt.Errorf("imatrix: entry %s holds %v at %d", name, v, i)
			}
		}
		out[name] = w
	}
	return out, nil
}

// Write stores f in the GGUF format (atomically), entries sorted by name.
func Write(path string, f *File) error {
	w := gguf.NewWriter()
	if err := w.Set("general.type", gguf.Of("imatrix")); err != nil {
		return err
	}
	ds := f.Datasets
	if ds == nil {
		ds = []string{}
	}
	for _, kv := range []gguf.KV{
		{Key: KeyDatasets, Value: gguf.ArrayOf(ds)},
		{Key: KeyChunkCount, Value: gguf.Of(uint32(f.ChunkCount))},
		{Key: KeyChunkSize, Value: gguf.Of(uint32(f.ChunkSize))},
	} {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(f.Entries))
	for n := range f.Entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var data [][]float32
	for _, n := range names {
		e := f.Entries[n]
		if len(e.Counts) == 0 || len(e.Sums)%len(e.Counts) != 0 {
			return fmt.Errorf("imatrix: entry %s has %d sums for %d counts", n, len(e.Sums), len(e.Counts))
		}
		if _, err := w.AddTensor(n+".in_sum2", quant.F32, uint64(len(e.Sums)/len(e.Counts)), uint64(len(e.Counts))); err != nil {
			return err
		}
		if _, err := w.AddTensor(n+".counts", quant.F32, 1, uint64(len(e.Counts))); err != nil {
			return err
		}
		c := make([]float32, len(e.Counts))
		for j, v := range e.Counts {
			c[j] = float32(v)
		}
		data = append(data, e.Sums, c)
	}
	return w.WriteFile(path, func(i int, _ gguf.TensorInfo, out io.Writer) error {
		return binary.Write(out, binary.LittleEndian, data[i])
	})
}
