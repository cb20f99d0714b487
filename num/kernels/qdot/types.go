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

// Type is a ggml tensor type id (the numbers GGUF files store).
type Type uint32

// The ggml type ids this package understands.
const (
	F32  Type = 0
	F16  Type = 1
	Q4_0 Type = 2
	Q4_1 Type = 3
	Q5_0 Type = 6
	Q5_1 Type = 7
	Q8_0 Type = 8
	Q8_1 Type = 9
	Q2_K Type = 10
	Q3_K Type = 11
	Q4_K Type = 12
	Q5_K Type = 13
	Q6_K Type = 14
	Q8_K Type = 15

	IQ4_NL Type = 20
	IQ4_XS Type = 23
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

// String is ggml's type name.
func (t Type) String() string {
	switch t {
	case F32:
		return "F32"
	case F16:
		return "F16"
	case Q4_0:
		return "Q4_0"
	case Q4_1:
		return "Q4_1"
	case IQ4_NL:
		return "IQ4_NL"
	case IQ4_XS:
		return "IQ4_XS"
	case Q5_0:
		return "Q5_0"
	case Q5_1:
		return "Q5_1"
	case Q8_1:
		return "Q8_1"
	case Q2_K:
		return "Q2_K"
	case Q3_K:
		return "Q3_K"
	case Q8_0:
		return "Q8_0"
	case Q4_K:
		return "Q4_K"
	case Q5_K:
		return "Q5_K"
	case Q6_K:
		return "Q6_K"
	case Q8_K:
		return "Q8_K"
	}
	return fmt.Sprintf("ggml_type(%d)", uint32(t))
}

// Supported reports whether t can be a weight type here.
func (t Type) Supported() bool {
	switch t {
	case F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS:
		return true
	}
	return false
}

// BlockElems is the number of elements per block of t (1 for F32/F16).
func (t Type) BlockElems() int {
	switch t {
	case F32, F16:
		return 1
	case Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, IQ4_NL:
		return QK
	case Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, IQ4_XS:
		return QKK
	}
	return 0
}

// BlockBytes is the number of bytes per block of t.
func (t Type) BlockBytes() int {
	switch t {
	case F32:
		return 4
	case F16:
		return 2
	case Q4_0:
		return BytesQ4_0
	case Q4_1:
		return BytesQ4_1
	case IQ4_NL:
		return BytesIQ4_NL
	case IQ4_XS:
		return BytesIQ4_XS
	case Q5_0:
		return BytesQ5_0
	case Q5_1:
		return BytesQ5_1
	case Q8_0:
		return BytesQ8_0
	case Q8_1:
		return BytesQ8_1
	case Q2_K:
		return BytesQ2_K
	case Q3_K:
		return BytesQ3_K
	case Q4_K:
		return BytesQ4_K
	case Q5_K:
		return BytesQ5_K
	case Q6_K:
		return BytesQ6_K
	case Q8_K:
		return BytesQ8_K
	}
	return 0
}

// RowBytes is the storage size of a row of n elements, or an error when n is
// not a whole number of blocks or t is unknown.
func RowBytes(t Type, n int) (int, error) {
	be := t.BlockElems()
	if be == 0 {
		return 0, fmt.Errorf("unsupported tensor type %s", t)
	}
	if n < 0 || n%be != 0 {
		return 0, fmt.Errorf("row length %d is not a multiple of the %s block size %d", n, t, be)
	}
	return n / be * t.BlockBytes(), nil
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
