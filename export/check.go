package export

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/model/student"
)

// maxLayers bounds llama.block_count read from a file before it sizes the
// expected tensor set.
const maxLayers = 1 << 16

// checkLlamaTensors refuses a llama, qwen2 or qwen3 GGUF whose tensors do not
// match its <arch>.* hyperparameters: every tensor the architecture needs (the set
// Write writes, output.weight when present) must be there with the dims the
// metadata implies. Extra tensors are allowed (they are copied).
func checkLlamaTensors(f *gguf.File) error {
	get := func(key string, def uint64) (int, error) {
		if _, ok := f.KV(key); !ok && def > 0 {
			return int(def), nil
		}
		u, err := f.Uint(key)
		if err != nil {
			return 0, err
		}
		if u == 0 || u > 1<<24 {
			return 0, fmt.Errorf("key %s = %d out of range [1, %d]", key, u, 1<<24)
		}
		return int(u), nil
	}
	var c student.Config
	arch, err := f.String(gguf.KeyArchitecture)
	if err != nil {
		return err
	}
	if !slices.Contains(student.SupportedArchs, arch) {
		return fmt.Errorf("architecture %q is not supported (supported: %s)", arch, strings.Join(student.SupportedArchs, ", "))
	}
	if arch != student.ArchLlama {
		c.Arch = arch
	}
	key := func(name string) string { return gguf.ArchKey(arch, name) }
	if c.DModel, err = get(key(gguf.HyperEmbeddingLength), 0); err != nil {
		return err
	}
	if c.NLayers, err = get(key(gguf.HyperBlockCount), 0); err != nil {
		return err
	}
	if c.NLayers > maxLayers {
		return fmt.Errorf("%s %d exceeds %d", key(gguf.HyperBlockCount), c.NLayers, maxLayers)
	}
	if c.NHeads, err = get(key(gguf.HyperHeadCount), 0); err != nil {
		return err
	}
	if c.NKVHeads, err = get(key(gguf.HyperHeadCountKV), uint64(c.NHeads)); err != nil {
		return err
	}
	if c.FFNDim, err = get(key(gguf.HyperFeedForwardLength), 0); err != nil {
		return err
	}
	if _, ok := f.KV(key(gguf.HyperKeyLength)); ok {
		if c.HeadDimension, err = get(key(gguf.HyperKeyLength), 0); err != nil {
			return err
		}
	}
	if (c.HeadDimension == 0 && c.DModel%c.NHeads != 0) || c.NHeads%c.NKVHeads != 0 {
		return fmt.Errorf("%s %d, head_count %d, head_count_kv %d: embedding_length must be a multiple of head_count (or key_length set) and head_count of head_count_kv",
			key(gguf.HyperEmbeddingLength), c.DModel, c.NHeads, c.NKVHeads)
	}
	emb, ok := f.Tensor("token_embd.weight")
	if !ok {
		return fmt.Errorf("missing tensor token_embd.weight")
	}
	if len(emb.Dims) != 2 || emb.Dims[1] == 0 || emb.Dims[1] > 1<<24 {
		return fmt.Errorf("tensor token_embd.weight has dims %v, want {embedding_length, vocab}", emb.Dims)
	}
	c.VocabSize = int(emb.Dims[1])
	if _, ok := f.KV(key(gguf.HyperVocabSize)); ok {
		if v, err := f.Uint(key(gguf.HyperVocabSize)); err != nil || int(v) != c.VocabSize {
			return fmt.Errorf("%s %d disagrees with token_embd.weight's %d rows (%v)", key(gguf.HyperVocabSize), v, c.VocabSize, err)
		}
	}
	_, c.UntieEmbed = f.Tensor("output.weight")
	want := shapes(c)
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	var missing []string
	for _, name := range names {
		ti, ok := f.Tensor(name)
		if !ok {
			missing = append(missing, name)
			continue
		}
		shape := want[name]
		dims := make([]uint64, len(shape))
		for i := range shape {
			dims[i] = uint64(shape[len(shape)-1-i])
		}
		if !slices.Equal(ti.Dims, dims) {
			return fmt.Errorf("tensor %s has dims %v; the %s.* metadata (embedding_length %d, head_count %d, head_count_kv %d, feed_forward_length %d) implies %v",
				name, ti.Dims, arch, c.DModel, c.NHeads, c.NKVHeads, c.FFNDim, dims)
		}
	}
	if len(missing) > 0 {
		if len(missing) > 5 {
			missing = append(missing[:5], fmt.Sprintf("… %d more", len(missing)-5))
		}
		return fmt.Errorf("missing tensor %s (%s is %d)", strings.Join(missing, ", "), key(gguf.HyperBlockCount), c.NLayers)
	}
	return nil
}
