package export

import (
	"slices"
	"testing"
)

// TestCompareTensorNamesIsLlamaLoaderOrder: llama-quantize writes tensors in
// its loader's weights_map order (weight_name_comparer: the layer number
// sscanf reads from "blk.%d.", -1 outside the blocks, then strcmp), so block
// 10 follows block 2 and the non-block tensors come first, by name. The
// expected order is written out by hand from that comparator.
func TestCompareTensorNamesIsLlamaLoaderOrder(t *testing.T) {
	names := []string{"blk.10.attn_q.weight", "token_embd.weight", "blk.2.ffn_up.weight", "output.weight",
		"blk.2.attn_k.weight", "rope_freqs.weight", "output_norm.weight", "blk.0.ffn_down.weight", "blk.x.weight"}
	slices.SortStableFunc(names, CompareTensorNames)
	want := []string{"blk.x.weight", "output.weight", "output_norm.weight", "rope_freqs.weight", "token_embd.weight",
		"blk.0.ffn_down.weight", "blk.2.attn_k.weight", "blk.2.ffn_up.weight", "blk.10.attn_q.weight"}
	if !slices.Equal(names, want) {
		t.Errorf("order %q, want %q", names, want)
	}
}
