package export

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/distill-ml/distill/format/quant"
)

// FileType is the requested encoding of a whole file: a single type for every
// weight matrix ("pure", as llama-quantize --pure), or llama.cpp's Q4_K_M mix.
type FileType int

const (
	F32 FileType = iota
	F16
	Q8_0
	Q4_0
	Q4_K
	Q5_K
	Q6_K
	Q4_K_M
)

var fileTypes = []struct {
	name  string
	base  quant.Type
	ggufT uint32 // general.file_type (llama_ftype)
}{
	F32:    {"f32", quant.F32, 0},
	F16:    {"f16", quant.F16, 1},
	Q8_0:   {"q8_0", quant.Q8_0, 7},
	Q4_0:   {"q4_0", quant.Q4_0, 2},
	Q4_K:   {"q4_k", quant.Q4_K, 14}, // LLAMA_FTYPE_MOSTLY_Q4_K_S: the closest named ftype
	Q5_K:   {"q5_k", quant.Q5_K, 16}, // LLAMA_FTYPE_MOSTLY_Q5_K_S
	Q6_K:   {"q6_k", quant.Q6_K, 18},
	Q4_K_M: {"q4_k_m", quant.Q4_K, 15},
}

// FileTypeNames lists the accepted --type values.
func FileTypeNames() []string {
	out := make([]string, len(fileTypes))
	for i, f := range fileTypes {
		out[i] = f.name
	}
	return out
}

// ParseFileType maps a --type value (case-insensitive) to a FileType.
func ParseFileType(s string) (FileType, error) {
	for i, f := range fileTypes {
		if strings.EqualFold(s, f.name) {
			return FileType(i), nil
		}
	}
	return 0, fmt.Errorf("unknown type %q (want one of %s)", s, strings.Join(FileTypeNames(), ", "))
}

func (f FileType) String() string {
	if int(f) >= 0 && int(f) < len(fileTypes) {
		return fileTypes[f].name
	}
	return "filetype(" + strconv.Itoa(int(f)) + ")"
}

// GGUFFileType is the general.file_type value (llama.cpp's llama_ftype).
func (f FileType) GGUFFileType() uint32 { return fileTypes[f].ggufT }

// Quantized reports whether the file type quantizes any tensor.
func (f FileType) Quantized() bool { return f != F32 && f != F16 }

// quantizable is llama.cpp's tensor_allows_quantization for llama files: 2-D
// (or higher) tensors named *weight that are not norms.
func quantizable(name string, dims []uint64) bool {
	return len(dims) >= 2 && strings.HasSuffix(name, "weight") && !strings.Contains(name, "_norm.weight")
}

// layerOf parses N from "blk.N.".
func layerOf(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil && n >= 0
}

// useMoreBits is llama.cpp's use_more_bits: the first and last eighth of the
// layers and every third layer in between get more bits.
func useMoreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

// TensorType chooses the ggml type of one tensor the way llama.cpp's
// llama-quantize does (src/llama-quant.cpp at de3ff81) for a llama model
// without experts: name is the GGUF tensor name, dims its ggml dims (row length
// first), nLayers the file's block_count and tied whether output.weight is
// absent (the output then reuses token_embd).
//
// Non-quantizable tensors (1-D, norms) stay F32. Pure file types give every
// other tensor the base type. Q4_K_M gives the output (or the tied
// token_embd) Q6_K — Q8_0 if its rows are not a multiple of 256 —, attn_v and
// ffn_down on use_more_bits layers Q6_K, and the rest Q4_K. Finally a type
// whose block does not divide the row length falls back as llama.cpp does:
// Q4_K→Q5_0, Q5_K→Q5_1, Q6_K→Q8_0, and → F16 when a 32-element block does
// not fit either.
func TensorType(ft FileType, name string, dims []uint64, nLayers int, tied bool) quant.Type {
	if !quantizable(name, dims) {
		return quant.F32
	}
	t := fileTypes[ft].base
	if ft == F32 || ft == F16 {
		return t
	}
	if ft == Q4_K_M {
		nx := dims[0]
		switch {
		case name == "output.weight" || (tied && name == "token_embd.weight"):
			if nx%uint64(t.BlockSize()) != 0 {
				t = quant.Q8_0
			} else {
				t = quant.Q6_K
			}
		case strings.HasSuffix(name, ".attn_v.weight"), strings.HasSuffix(name, ".ffn_down.weight"):
			if i, ok := layerOf(name); ok && useMoreBits(i, nLayers) {
				t = quant.Q6_K
			}
		}
	}
	return fallback(t, dims[0])
}

// fallback is llama.cpp's tensor_type_fallback for the types we produce.
func fallback(t quant.Type, ncols uint64) quant.Type {
	if ncols%uint64(t.BlockSize()) == 0 {
		return t
	}
	switch t {
	case quant.Q4_K:
		t = quant.Q5_0
	case quant.Q5_K:
		t = quant.Q5_1
	case quant.Q6_K:
		t = quant.Q8_0
	}
	if ncols%uint64(t.BlockSize()) != 0 {
		t = quant.F16
	}
	return t
}
