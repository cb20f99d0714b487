package quant

import (
	"fmt"
	"strconv"
	"strings"
)

// FileType is the encoding of a whole GGUF file, named as llama-quantize
// names it (its --type values, lower-cased): a base tensor type plus
// llama.cpp's per-tensor mix rules (which export applies unless --pure).
type FileType int

// The file types distill writes, in llama-quantize's listing order (the
// IQ4 types last).
const (
	FileF32 FileType = iota
	FileF16
	FileQ8_0
	FileQ4_0
	FileQ6_K
	FileQ5_K_M
	FileQ5_K_S
	FileQ4_K_M
	FileQ4_K_S
	FileQ3_K_M
	FileQ3_K_S
	FileQ2_K
	FileIQ4_NL
	FileIQ4_XS
)

var fileTypes = []struct {
	name  string
	base  Type
	ftype uint32 // general.file_type (llama_ftype)
}{
	FileF32:    {"f32", F32, 0},
	FileF16:    {"f16", F16, 1},
	FileQ8_0:   {"q8_0", Q8_0, 7},
	FileQ4_0:   {"q4_0", Q4_0, 2},
	FileQ6_K:   {"q6_k", Q6_K, 18},
	FileQ5_K_M: {"q5_k_m", Q5_K, 17},
	FileQ5_K_S: {"q5_k_s", Q5_K, 16},
	FileQ4_K_M: {"q4_k_m", Q4_K, 15},
	FileQ4_K_S: {"q4_k_s", Q4_K, 14},
	FileQ3_K_M: {"q3_k_m", Q3_K, 12},
	FileQ3_K_S: {"q3_k_s", Q3_K, 11},
	FileQ2_K:   {"q2_k", Q2_K, 10},
	FileIQ4_NL: {"iq4_nl", IQ4_NL, 25},
	FileIQ4_XS: {"iq4_xs", IQ4_XS, 30},
}

// fileTypeAliases are llama-quantize's aliases: its Q4_K is Q4_K_M, not
// "every tensor Q4_K" (that is q4_k_m with --pure).
var fileTypeAliases = map[string]FileType{"q3_k": FileQ3_K_M, "q4_k": FileQ4_K_M, "q5_k": FileQ5_K_M}

// FileTypeNames lists the file type names (the --type values), without aliases.
func FileTypeNames() []string {
	out := make([]string, len(fileTypes))
	for i, f := range fileTypes {
		out[i] = f.name
	}
	return out
}

// ParseFileType maps a file type name or llama-quantize alias
// (case-insensitive: "Q4_K_M", "q4_k") to a FileType.
func ParseFileType(s string) (FileType, error) {
	for i, f := range fileTypes {
		if strings.EqualFold(s, f.name) {
			return FileType(i), nil
		}
	}
	if ft, ok := fileTypeAliases[strings.ToLower(s)]; ok {
		return ft, nil
	}
	return 0, fmt.Errorf("unknown type %q (want one of %s; q3_k, q4_k and q5_k are aliases of the _m types as in llama-quantize)",
		s, strings.Join(FileTypeNames(), ", "))
}

// FileTypeOfGGUF maps a general.file_type value to the FileType that writes
// it, or false for a value distill does not write.
func FileTypeOfGGUF(ftype uint64) (FileType, bool) {
	for i, f := range fileTypes {
		if uint64(f.ftype) == ftype {
			return FileType(i), true
		}
	}
	return 0, false
}

// Valid reports whether f is one of the file types above.
func (f FileType) Valid() bool { return f >= 0 && int(f) < len(fileTypes) }

func (f FileType) String() string {
	if f.Valid() {
		return fileTypes[f].name
	}
	return "filetype(" + strconv.Itoa(int(f)) + ")"
}

// GGUFFileType is the general.file_type value (llama.cpp's llama_ftype).
func (f FileType) GGUFFileType() uint32 { return fileTypes[f].ftype }

// Base is llama.cpp's default tensor type for the file type
// (llama_ftype_get_default_type); the mixes use others for some tensors (see
// export.Mix).
func (f FileType) Base() Type { return fileTypes[f].base }

// Quantized reports whether the file type quantizes any tensor.
func (f FileType) Quantized() bool { return f != FileF32 && f != FileF16 }
