package quant

import (
	"fmt"
	"strconv"
	"strings"
)

// FileType is the encoding of a whole GGUF file: a single type for every
// weight matrix ("pure", as llama-quantize --pure), or llama.cpp's Q4_K_M
// mix. Its names are the --type values of distill export.
type FileType int

// The file types distill writes.
const (
	FileF32 FileType = iota
	FileF16
	FileQ8_0
	FileQ4_0
	FileQ4_K
	FileQ5_K
	FileQ6_K
	FileQ4_K_M
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
	FileQ4_K:   {"q4_k", Q4_K, 14}, // LLAMA_FTYPE_MOSTLY_Q4_K_S: the closest named ftype
	FileQ5_K:   {"q5_k", Q5_K, 16}, // LLAMA_FTYPE_MOSTLY_Q5_K_S
	FileQ6_K:   {"q6_k", Q6_K, 18},
	FileQ4_K_M: {"q4_k_m", Q4_K, 15},
}

// FileTypeNames lists the file type names (the --type values).
func FileTypeNames() []string {
	out := make([]string, len(fileTypes))
	for i, f := range fileTypes {
		out[i] = f.name
	}
	return out
}

// ParseFileType maps a file type name (case-insensitive) to a FileType.
func ParseFileType(s string) (FileType, error) {
	for i, f := range fileTypes {
		if strings.EqualFold(s, f.name) {
			return FileType(i), nil
		}
	}
	return 0, fmt.Errorf("unknown type %q (want one of %s)", s, strings.Join(FileTypeNames(), ", "))
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

// Base is the tensor type of the file's weight matrices (the Q4_K_M mix
// uses others for some; see export).
func (f FileType) Base() Type { return fileTypes[f].base }

// Quantized reports whether the file type quantizes any tensor.
func (f FileType) Quantized() bool { return f != FileF32 && f != FileF16 }
