package quant

import "github.com/distill-ml/distill/num/kernels/qdot"

// Type is a ggml tensor type id, as stored in GGUF tensor infos. Its ids,
// names and block geometry are owned by the leaf qdot (Known, String,
// BlockSize, TypeSize, RowSize); this package re-exports them.
type Type = qdot.Type

// ggml type ids (ggml/include/ggml.h), re-exported from qdot.
const (
	F32     = qdot.F32
	F16     = qdot.F16
	Q4_0    = qdot.Q4_0
	Q4_1    = qdot.Q4_1
	Q5_0    = qdot.Q5_0
	Q5_1    = qdot.Q5_1
	Q8_0    = qdot.Q8_0
	Q8_1    = qdot.Q8_1
	Q2_K    = qdot.Q2_K
	Q3_K    = qdot.Q3_K
	Q4_K    = qdot.Q4_K
	Q5_K    = qdot.Q5_K
	Q6_K    = qdot.Q6_K
	Q8_K    = qdot.Q8_K
	IQ2_XXS = qdot.IQ2_XXS
	IQ2_XS  = qdot.IQ2_XS
	IQ3_XXS = qdot.IQ3_XXS
	IQ1_S   = qdot.IQ1_S
	IQ4_NL  = qdot.IQ4_NL
	IQ3_S   = qdot.IQ3_S
	IQ2_S   = qdot.IQ2_S
	IQ4_XS  = qdot.IQ4_XS
	I8      = qdot.I8
	I16     = qdot.I16
	I32     = qdot.I32
	I64     = qdot.I64
	F64     = qdot.F64
	IQ1_M   = qdot.IQ1_M
	BF16    = qdot.BF16
	TQ1_0   = qdot.TQ1_0
	TQ2_0   = qdot.TQ2_0
	MXFP4   = qdot.MXFP4
	NVFP4   = qdot.NVFP4
	Q1_0    = qdot.Q1_0
	Q2_0    = qdot.Q2_0
)

// QK_K is the super-block length of the k-quants (Q4_K, Q5_K, Q6_K).
const QK_K = qdot.QKK

// ParseType maps a ggml type name (case-insensitive, e.g. "q4_k") to its id.
func ParseType(name string) (Type, error) { return qdot.ParseType(name) }
