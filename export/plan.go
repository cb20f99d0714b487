package export

import (
	"cmp"
	"math"
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

// Mix is what llama-quantize (src/llama-quant.cpp at de3ff81) knows about a
// llama model when it chooses each tensor's type: the file type, --pure, the
// block count, whether the output is tied to token_embd (output.weight
// absent), the GQA ratio n_head/n_head_kv and whether an importance matrix
// is given.
type Mix struct {
	Type       quant.FileType
	Pure       bool
	NLayers    int
	Tied       bool
	GQA        int
	HasImatrix bool
}

// TensorType chooses the ggml type of one tensor (name: GGUF tensor name,
// dims: ggml dims, row length first) as llama_tensor_get_type does for a
// llama model without experts:
//
//   - 1-D tensors and norms stay F32; F32/F16 files change nothing else.
//   - The output — and token_embd when tied, which llama.cpp quantizes as the
//     output — gets Q8_0 when its rows are not a multiple of the base type's
//     block, else Q6_K (unless the base is Q8_0).
//   - attn_v, ffn_down and attn_output follow the mix of the file type
//     (use_more_bits layers, the first eighth of ffn_down, ...); with an
//     importance matrix Q4_0 files give the first eighth of ffn_down
//     Q4_1, and IQ4_NL/IQ4_XS files stop giving it Q5_K.
//   - --pure skips both rules above: every quantizable tensor gets the base.
//   - A type whose block does not divide the row length falls back as
//     tensor_type_fallback does (Q4_K→Q5_0, Q5_K→Q5_1, Q6_K→Q8_0,
//     IQ4_XS→IQ4_NL, and F16
//     when a 32-element block does not fit either).
//
// Layer indices are llama.cpp's counters, which for a llama model's
// layer-sorted tensors equal the N of "blk.N.".
func (m Mix) TensorType(name string, dims []uint64) quant.Type {
	t, _ := m.Choose(name, dims)
	return t
}

// Choose is TensorType that also returns the type the mix wanted before the
// shape fallback (equal to t when there was none).
func (m Mix) Choose(name string, dims []uint64) (t, wanted quant.Type) {
	if !quantizable(name, dims) {
		return quant.F32, quant.F32
	}
	ft := m.Type
	wanted = ft.Base()
	if !ft.Quantized() {
		return wanted, wanted
	}
	if !m.Pure {
		wanted = m.mixType(wanted, name, dims)
	}
	return fallback(wanted, dims[0]), wanted
}

// mixType is llama_tensor_get_type_impl for the llama architecture without
// experts (the cases that cannot occur for it are left out).
func (m Mix) mixType(t quant.Type, name string, dims []uint64) quant.Type {
	ft := m.Type
	layer, _ := layerOf(name)
	n := m.NLayers
	switch {
	case name == "output.weight" || (m.Tied && name == "token_embd.weight"):
		if dims[0]%uint64(t.BlockSize()) != 0 {
			return quant.Q8_0
		}
		if t != quant.Q8_0 {
			return quant.Q6_K
		}
		return t
	case name == "token_embd.weight":
		return t
	case strings.HasSuffix(name, ".attn_v.weight"):
		switch {
		case ft == quant.FileQ2_K:
			if m.GQA >= 4 {
				return quant.Q4_K
			}
			return quant.Q3_K
		case ft == quant.FileQ3_K_M:
			if layer < 2 {
				return quant.Q5_K
			}
			return quant.Q4_K
		case (ft == quant.FileQ4_K_M || ft == quant.FileQ5_K_M) && useMoreBits(layer, n):
			return quant.Q6_K
		case ft == quant.FileQ4_K_S && layer < 4:
			return quant.Q5_K
		case (ft == quant.FileIQ4_NL || ft == quant.FileIQ4_XS) && m.GQA >= 4:
			return quant.Q5_K
		}
	case strings.HasSuffix(name, ".ffn_down.weight"):
		switch {
		case ft == quant.FileQ2_K:
			return quant.Q3_K
		case ft == quant.FileQ3_K_M:
			if layer < n/16 {
				return quant.Q5_K
			}
			return quant.Q4_K
		case ft == quant.FileQ4_K_M:
			if useMoreBits(layer, n) {
				return quant.Q6_K
			}
		case ft == quant.FileQ5_K_M && useMoreBits(layer, n):
			return quant.Q6_K
		case ft == quant.FileQ4_K_S && layer < n/8:
			return quant.Q5_K
		case (ft == quant.FileIQ4_NL || ft == quant.FileIQ4_XS) && layer < n/8 && !m.HasImatrix:
			return quant.Q5_K
		case ft == quant.FileQ4_0 && layer < n/8 && m.HasImatrix:
			// llama.cpp's guard for the first ffn_down layers, with an imatrix only.
			return quant.Q4_1
		}
	case strings.HasSuffix(name, ".attn_output.weight"):
		switch ft {
		case quant.FileQ2_K:
			return quant.Q3_K
		case quant.FileQ3_K_M:
			return quant.Q4_K
		}
	}
	return t
}

// fallback is llama.cpp's tensor_type_fallback for the types we produce.
func fallback(t quant.Type, ncols uint64) quant.Type {
	if ncols%uint64(t.BlockSize()) == 0 {
		return t
	}
	switch t {
	case quant.Q2_K, quant.Q3_K:
		t = quant.Q4_0
	case quant.Q4_K:
		t = quant.Q5_0
	case quant.Q5_K:
		t = quant.Q5_1
	case quant.Q6_K:
		t = quant.Q8_0
	case quant.IQ4_XS:
		t = quant.IQ4_NL
	}
	if ncols%uint64(t.BlockSize()) != 0 {
		t = quant.F16
	}
	return t
}

// CompareTensorNames orders tensors as llama-quantize writes them (its
// model loader's weights_map, ordered by weight_name_comparer): tensors
// outside the blocks first, then block by block (the N of a "blk.N."
// prefix), each group by name in byte order.
func CompareTensorNames(a, b string) int {
	if la, lb := blockOf(a), blockOf(b); la != lb {
		return cmp.Compare(la, lb)
	}
	return strings.Compare(a, b)
}

// blockOf is what sscanf(name, "blk.%d.", &layer) leaves in layer, which
// starts at -1: the decimal number after "blk." (optional sign, leading
// spaces skipped), whatever follows it.
func blockOf(name string) int64 {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return -1
	}
	rest = strings.TrimLeft(rest, " \t\n\v\f\r")
	neg := false
	if rest != "" && (rest[0] == '+' || rest[0] == '-') {
		neg, rest = rest[0] == '-', rest[1:]
	}
	n, digits := int64(0), 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' && n < math.MaxInt32 {
		n = 10*n + int64(rest[digits]-'0')
		digits++
	}
	if digits == 0 {
		return -1
	}
	if neg {
		n = -n
	}
	return n
}
