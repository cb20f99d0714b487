package export

import (
	"strconv"
	"strings"

	"github.com/distill-ml/distill/format/quant"
)

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
func TensorType(ft quant.FileType, name string, dims []uint64, nLayers int, tied bool) quant.Type {
	if !quantizable(name, dims) {
		return quant.F32
	}
	t := ft.Base()
	if ft == quant.FileF32 || ft == quant.FileF16 {
		return t
	}
	if ft == quant.FileQ4_K_M {
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
