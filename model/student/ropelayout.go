package student

import "fmt"

// The student rotates RoPE pairs (2i, 2i+1) of each head ("interleaved",
// llama.cpp's LLAMA_ROPE_TYPE_NORM); Hugging Face rotates pairs (i, i+hd/2)
// ("rotate half", llama.cpp's NEOX). The two are the same model up to a
// permutation of the rows of every head of Q and K (weights, biases and the
// per-head q_norm/k_norm weights): interleaved row h·hd + 2i + k is rotate-half
// row h·hd + k·hd/2 + i (k ∈ {0, 1}). llama.cpp's convert_hf_to_gguf.py applies
// the same permutation to llama checkpoints.

// RotateHalfToInterleaved reorders the rows of a rotate-half (Hugging Face)
// Q or K tensor into the student's interleaved order. w is row-major
// [heads·headDim, cols] (cols 1 for a bias or a norm weight); the result is a
// new slice of the same shape.
func RotateHalfToInterleaved(w []float32, heads, headDim, cols int) ([]float32, error) {
	return permuteHeadRows(w, heads, headDim, cols, false)
}

// InterleavedToRotateHalf is the inverse of RotateHalfToInterleaved.
func InterleavedToRotateHalf(w []float32, heads, headDim, cols int) ([]float32, error) {
	return permuteHeadRows(w, heads, headDim, cols, true)
}

func permuteHeadRows(w []float32, heads, headDim, cols int, inverse bool) ([]float32, error) {
	if heads <= 0 || headDim <= 0 || headDim%2 != 0 || cols <= 0 || len(w) != heads*headDim*cols {
		return nil, fmt.Errorf("rope layout: %d values for %d heads × %d (even) × %d columns", len(w), heads, headDim, cols)
	}
	out := make([]float32, len(w))
	half := headDim / 2
	for h := 0; h < heads; h++ {
		for i := 0; i < half; i++ {
			for k := 0; k < 2; k++ {
				inter := h*headDim + 2*i + k  // row in the student's order
				rot := h*headDim + k*half + i // row in Hugging Face's order
				src, dst := rot, inter
				if inverse {
					src, dst = inter, rot
				}
				copy(out[dst*cols:(dst+1)*cols], w[src*cols:(src+1)*cols])
			}
		}
	}
	return out, nil
}
