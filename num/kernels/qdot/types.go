// Package qdot holds the runtime's quantized and half-precision dot products:
// weights stored in ggml's block formats (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K,
// Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, F16, F32) against activations quantized per block to 8 bits the way
// llama.cpp does for its vec_dot (Q8_0 for the 32-element block types, Q8_K
// for the 256-element K-quants), plus matrix-vector and small matrix-matrix
// (prompt batch) products multi-threaded by rows over the shared worker pool.
//
// Every dot product has three implementations, chosen once at start-up from
// the CPU features (golang.org/x/sys/cpu) or forced with DISTILL_QDOT=go|avx2|
// avx512: "avx512" (AVX-512 F/BW/VL/VNNI assembly, with multi-row kernels
// that share each activation block between 2–4 weight rows; for Q4_K and
// Q5_K it uses the AVX2 kernels, faster on Zen 4), "avx2"
// (AVX2+FMA+F16C assembly) and the portable "go". All three return the same
// float32 bits for the quantized types: integer partial sums in the same
// eight int32 lanes, per-block FMAs into the same eight float lanes, the same
// final horizontal sum — llama.cpp's order, so that the runtime's logits
// equal llama.cpp's. Tests run every implementation the CPU has.
//
// Block layouts (little-endian, as in ggml's ggml-common.h; "f16" is IEEE half):
//
//	Q8_0  34 B / 32 el:  d f16, qs [32]int8                  x = d·q
//	Q4_0  18 B / 32 el:  d f16, qs [16]u8 (el j: low nibble, el 16+j: high) x = d·(q−8)
//	Q5_0  22 B / 32 el:  d f16, qh u32 (bit e = 5th bit of el e), qs [16]u8  x = d·(q−16)
//	Q4_K 144 B / 256 el: d f16, dmin f16, scales [12]u8 (8 six-bit scales and mins), qs [128]u8
//	Q5_K 176 B / 256 el: d, dmin, scales [12], qh [32]u8, qs [128]u8
//	Q6_K 210 B / 256 el: ql [128]u8, qh [64]u8, scales [16]int8, d f16   x = d·sc·(q−32)
//	Q8_K 292 B / 256 el: d f32, qs [256]int8, bsums [16]int16 (activations only)
package qdot

import "fmt"

// Type is a ggml tensor type id, as stored in GGUF tensor infos. This is the
// one owner of the ids and their block geometry; format/quant re-exports it.
type Type uint32

// ggml type ids (ggml/include/ggml.h). Ids 4, 5 and 31-33, 36-38 were removed
// from ggml and are rejected as unknown.
const (
	F32     Type = 0
	F16     Type = 1
	Q4_0    Type = 2
	Q4_1    Type = 3
	Q5_0    Type = 6
	Q5_1    Type = 7
	Q8_0    Type = 8
	Q8_1    Type = 9
	Q2_K    Type = 10
	Q3_K    Type = 11
	Q4_K    Type = 12
	Q5_K    Type = 13
	Q6_K    Type = 14
	Q8_K    Type = 15
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	IQ1_M   Type = 29
	BF16    Type = 30
	TQ1_0   Type = 34
	TQ2_0   Type = 35
	MXFP4   Type = 39
	NVFP4   Type = 40
	Q1_0    Type = 41
	Q2_0    Type = 42

	typeEnd = 43 // one past the largest id in typeTable
)

// Block sizes in elements.
const (
	QK  = 32  // elements per block of Q8_0, Q4_0, Q5_0
	QKK = 256 // elements per super-block of the K-quants and Q8_K
)

// Block sizes in bytes.
const (
	BytesQ8_0 = 34
	BytesQ4_0 = 18
	BytesQ4_1 = 20
	BytesQ5_0 = 22
	BytesQ5_1 = 24
	BytesQ8_1 = 36
	BytesQ2_K = 84
	BytesQ3_K = 110
	BytesQ4_K = 144
	BytesQ5_K = 176
	BytesQ6_K = 210
	BytesQ8_K = 292

	BytesIQ4_NL = 18
	BytesIQ4_XS = 136
)

type traits struct {
	name      string // ggml's type name; "" for an unknown id
	blockSize int    // elements per block
	typeSize  int    // bytes per block
}

// typeTable holds the block geometry of every type ggml (llama.cpp de3ff81)
// can store in a GGUF file, so that any such file's tensor sizes can be
// computed, including types no kernel here handles (see Supported).
var typeTable = [typeEnd]traits{
	F32: {"F32", 1, 4}, F16: {"F16", 1, 2}, BF16: {"BF16", 1, 2}, F64: {"F64", 1, 8},
	I8: {"I8", 1, 1}, I16: {"I16", 1, 2}, I32: {"I32", 1, 4}, I64: {"I64", 1, 8},
	Q4_0: {"Q4_0", QK, BytesQ4_0}, Q4_1: {"Q4_1", QK, BytesQ4_1}, Q5_0: {"Q5_0", QK, BytesQ5_0}, Q5_1: {"Q5_1", QK, BytesQ5_1},
	Q8_0: {"Q8_0", QK, BytesQ8_0}, Q8_1: {"Q8_1", QK, BytesQ8_1},
	Q2_K: {"Q2_K", QKK, BytesQ2_K}, Q3_K: {"Q3_K", QKK, BytesQ3_K}, Q4_K: {"Q4_K", QKK, BytesQ4_K},
	Q5_K: {"Q5_K", QKK, BytesQ5_K}, Q6_K: {"Q6_K", QKK, BytesQ6_K}, Q8_K: {"Q8_K", QKK, BytesQ8_K},
	IQ2_XXS: {"IQ2_XXS", 256, 66}, IQ2_XS: {"IQ2_XS", 256, 74}, IQ3_XXS: {"IQ3_XXS", 256, 98},
	IQ1_S: {"IQ1_S", 256, 50}, IQ4_NL: {"IQ4_NL", QK, BytesIQ4_NL}, IQ3_S: {"IQ3_S", 256, 110},
	IQ2_S: {"IQ2_S", 256, 82}, IQ4_XS: {"IQ4_XS", QKK, BytesIQ4_XS}, IQ1_M: {"IQ1_M", 256, 56},
	TQ1_0: {"TQ1_0", 256, 54}, TQ2_0: {"TQ2_0", 256, 66},
	MXFP4: {"MXFP4", 32, 17}, NVFP4: {"NVFP4", 64, 36}, Q1_0: {"Q1_0", 128, 18}, Q2_0: {"Q2_0", 64, 18},
}

// traits returns t's row of typeTable; the zero traits for an unknown id.
func (t Type) traits() traits {
	if t < typeEnd {
		return typeTable[t]
	}
	return traits{}
}

// Known reports whether t is a ggml type id with known block geometry.
func (t Type) Known() bool { return t.traits().name != "" }

// String is ggml's type name (e.g. "Q4_K"), or "type(N)" for unknown ids.
func (t Type) String() string {
	if tr := t.traits(); tr.name != "" {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize is the number of elements per block (1 for plain types); 0 if unknown.
func (t Type) BlockSize() int { return t.traits().blockSize }

// TypeSize is the number of bytes per block; 0 if unknown.
func (t Type) TypeSize() int { return t.traits().typeSize }

// RowSize is the byte size of a row of n elements, or an error when n is not
// a multiple of the block size or the type is unknown.
func (t Type) RowSize(n int) (int, error) {
	tr := t.traits()
	if tr.name == "" {
		return 0, fmt.Errorf("unknown ggml type %d", uint32(t))
	}
	if n < 0 || n%tr.blockSize != 0 {
		return 0, fmt.Errorf("%s: row length %d is not a multiple of the block size %d", tr.name, n, tr.blockSize)
	}
	return n / tr.blockSize * tr.typeSize, nil
}

// ParseType maps a ggml type name (case-insensitive, e.g. "q4_k") to its id.
func ParseType(name string) (Type, error) {
	for t, tr := range typeTable {
		if tr.name != "" && equalFold(tr.name, name) {
			return Type(t), nil
		}
	}
	return 0, fmt.Errorf("unknown ggml type name %q", name)
}

// equalFold is ASCII-only strings.EqualFold.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Supported reports whether t can be a weight type of a Matrix here.
func (t Type) Supported() bool {
	switch t {
	case F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS:
		return true
	}
	return false
}

// RowBytes is the storage size of a row of n elements, or an error when n is
// not a whole number of blocks or t is neither a weight type here (Supported)
// nor an activation type (Q8_1, Q8_K).
func RowBytes(t Type, n int) (int, error) {
	if !t.Supported() && t != Q8_1 && t != Q8_K {
		return 0, fmt.Errorf("unsupported tensor type %s", t)
	}
	be := t.BlockSize()
	if n < 0 || n%be != 0 {
		return 0, fmt.Errorf("row length %d is not a multiple of the %s block size %d", n, t, be)
	}
	return n / be * t.TypeSize(), nil
}

// VecDotType is the activation format the dot product of weight type t uses
// (llama.cpp's vec_dot_type): Q8_0 for the 32-element block types (Q8_1
// for Q4_1 and Q5_1), Q8_K for the K-quants and IQ4_XS, F32 for F32 and F16 weights (F16 rows
// are dotted with F32 activations directly).
func VecDotType(t Type) Type {
	switch t {
	case Q4_0, Q5_0, Q8_0, IQ4_NL:
		return Q8_0
	case Q4_1, Q5_1:
		return Q8_1
	case Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS:
		return Q8_K
	}
	return F32
}
