package rtbench

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"

	"github.com/distill-ml/distill/model/infer/infertest"
)

// Shapes are the model shapes the runtime is benchmarked on, random weights:
// the student's `tiny` preset (d 256, 8 layers, 4/2 heads, FFN 688, vocabulary
// 4096) and MobileLLM-125M (30 layers, d 576, 9/3 heads, FFN 1536, vocabulary
// 32000, tied embeddings).
func Shapes() map[string]infertest.RandomSpec {
	tiny := infertest.RandomSpec{VocabSize: 4096, DModel: 256, NLayers: 8, NHeads: 4, NKVHeads: 2, FFNDim: 688,
		ContextLength: 1024, RopeBase: 10000, NormEps: 1e-5, Sigma: 0.05, EmbedSigma: 0.3, Seed: 1}
	return map[string]infertest.RandomSpec{"tiny": tiny, "mobilellm-125m": infertest.MobileLLM125M()}
}

// ShapeNames lists Shapes' keys, sorted.
func ShapeNames() []string {
	var names []string
	for k := range Shapes() {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// WriteModel returns the path of the random model of shape and file type typ
// (F32, F16, Q8_0, Q4_0, Q4_K, Q6_K, Q4_K_M, ...) in dir, writing it first
// unless a file for the same spec is already there. The name carries a hash
// of the spec, so a changed shape never reuses a stale file; the file is
// written under a temporary name and renamed, so an interrupted run never
// leaves a truncated model behind.
func WriteModel(dir, shape, typ string) (string, error) {
	sp, ok := Shapes()[shape]
	if !ok {
		return "", fmt.Errorf("unknown shape %q (known: %v)", shape, ShapeNames())
	}
	sp.Type = typ
	h := fnv.New32a()
	fmt.Fprintf(h, "%+v", sp)
	path := filepath.Join(dir, fmt.Sprintf("%s-%s-%08x.gguf", shape, typ, h.Sum32()))
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("model dir: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*.gguf")
	if err != nil {
		return "", fmt.Errorf("write model %s: %w", path, err)
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	if err := infertest.WriteRandomModel(tmp, sp); err != nil {
		return "", fmt.Errorf("write random model %s %s: %w", shape, typ, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write model %s: %w", path, err)
	}
	return path, nil
}
