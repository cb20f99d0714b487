// Package quant re-exports ggml's tensor types (ids, names, block geometry;
// owned by the leaf num/kernels/qdot) and holds row
// quantizers/dequantizers for F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL and IQ4_XS
// that are bit-exact with ggml's reference (`_ref`) quantizers in
// ggml-quants.c, the code llama-quantize runs when no importance matrix is
// given. Blocks are little-endian byte images of ggml's block structs.
package quant
