// Package infer is distill's pure-Go inference engine for llama, qwen2 and
// qwen3 GGUF files (the format llama.cpp runs): it maps the file, keeps every weight
// in its stored type (F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, in any
// mix) and multiplies with the quantized dot products of num/kernels/qdot,
// threaded by rows over the shared worker pool.
//
// The forward pass is llama.cpp's llama graph: token embedding; per block
// RMSNorm → Q/K/V projections (+ biases for qwen2; per-head RMSNorm of Q and
// K for qwen3) → RoPE with llama.cpp's normal pairing for llama (adjacent
// elements (2i, 2i+1) of a head rotate by pos·base^(−2i/n_rot), divided by
// rope_freqs.weight when present) or NEOX pairing (i, i+n_rot/2) for qwen →
// causal grouped-query attention over a KV cache → output projection →
// residual, RMSNorm → SwiGLU (silu(gate)·up → down) → residual; final RMSNorm
// and the LM head (output.weight, or token_embd when tied).
//
// Arithmetic follows llama.cpp's CPU backend so that logits agree with it
// (bit for bit for Q8_0/Q5_0/Q4_0/Q4_K prompts in the agreement test):
// activations are quantized per block to Q8_0/Q8_K before the integer dot
// products (rounded to F16 for F16 weights), the KV cache holds F16 keys and
// values (V transposed, one contiguous dot per channel), queries and attention
// probabilities are rounded to F16 before their products. Options.KVF32 keeps
// the cache in F32. Prompt batches of 32+ tokens are the one deliberate
// exception: quantized weights are dequantized in 64-row tiles and multiplied
// by SGEMM with unquantized activations (several times faster, closer to exact
// arithmetic); Options.ExactPrompt turns that off. F32 weights always use
// SGEMM for batches of 8+ tokens.
//
// A Session holds one sequence's KV cache: Eval/EvalAll process a batch of
// tokens at once (prompt processing) or one at a time (decode); Generate
// samples (greedy, temperature, top-k, top-p with a seed) with stop sequences
// and a streaming callback. The cache and the RoPE tables grow with the
// sequence (doubling, in 256-position chunks) up to the session's capacity,
// itself capped by Options.Context (default: llama.context_length up to
// DefaultContext = 4096); Load refuses weights plus Options.Sessions full
// caches that do not fit in available memory (/proc/meminfo MemAvailable).
package infer
