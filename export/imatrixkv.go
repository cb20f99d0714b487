package export

import (
	"strings"

	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/imatrix"
)

// ImatrixSource is what llama-quantize --imatrix records in the quantized
// file about the importance matrix it used (the quantize.imatrix.* keys).
type ImatrixSource struct {
	// File is the imatrix path exactly as given on the command line
	// (relative or absolute, not resolved), as llama-quantize records it.
	File string
	// Datasets are the imatrix file's datasets; only the first is recorded.
	Datasets []string
	// Entries is how many entries the imatrix file holds (those naming no
	// tensor of the model included).
	Entries int
	// Chunks is how many chunks the imatrix was computed on; recorded only
	// when > 0.
	Chunks int
}

// ImatrixSourceOf describes the imatrix f, read from path as the user gave
// it. The chunk count passes through llama.cpp's int32 (a GGUF count above
// 2^31 turns negative there and is not recorded).
func ImatrixSourceOf(path string, f *imatrix.File) *ImatrixSource {
	return &ImatrixSource{File: path, Datasets: f.Datasets, Entries: len(f.Entries), Chunks: int(int32(f.ChunkCount))}
}

// imatrixValueMax is the length of llama_model_kv_override's val_str
// (128) less its terminating NUL.
const imatrixValueMax = 127

// KVs are the keys llama-quantize appends, in its order and with its types:
// quantize.imatrix.file (string), quantize.imatrix.dataset (string, the
// first dataset, when there is one), quantize.imatrix.entries_count (u32)
// and quantize.imatrix.chunks_count (u32, when Chunks > 0). Strings pass
// through a 128-byte C buffer: cut at the first NUL, then to 127 bytes
// (even inside a UTF-8 sequence, as strncpy does).
func (s *ImatrixSource) KVs() []gguf.KV {
	cstr := func(v string) string {
		if i := strings.IndexByte(v, 0); i >= 0 {
			v = v[:i]
		}
		return v[:min(len(v), imatrixValueMax)]
	}
	// LLAMA_KV_OVERRIDE_TYPE_INT values are written as u32 of |int64|.
	u32 := func(n int) gguf.Value {
		if n < 0 {
			n = -n
		}
		return gguf.Of(uint32(n))
	}
	kvs := []gguf.KV{{Key: gguf.KeyQuantizeImatrixFile, Value: gguf.Of(cstr(s.File))}}
	if len(s.Datasets) > 0 {
		kvs = append(kvs, gguf.KV{Key: gguf.KeyQuantizeImatrixDataset, Value: gguf.Of(cstr(s.Datasets[0]))})
	}
	kvs = append(kvs, gguf.KV{Key: gguf.KeyQuantizeImatrixEntriesCount, Value: u32(s.Entries)})
	if s.Chunks > 0 {
		kvs = append(kvs, gguf.KV{Key: gguf.KeyQuantizeImatrixChunksCount, Value: u32(s.Chunks)})
	}
	return kvs
}
