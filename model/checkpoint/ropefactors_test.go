package checkpoint

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/student"
)

// TestLlama3FromConverterFactors: the factors llama.cpp's converter
// computes (PyTorch, float32) for real Llama 3.x settings — 3.2-1B/3B
// (head 64, θ 500000, factor 32), 3.1-8B (head 128, factor 8) — and for the
// test models' tiny one determine rope_scaling again (lo = 1): our float32
// regeneration is bit-identical to the converter's, so a Hugging Face export
// of a student imported from such a GGUF states the model's own
// rope_scaling. Factors no llama3 parameters give are refused, naming the
// tensor and index.
func TestLlama3FromConverterFactors(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the PyTorch reference: not in -short")
	}
	cases := []struct {
		name  string
		hd    int
		theta float64
		rs    student.RopeScaling
	}{
		{"llama-3.2-1b", 64, 500000, student.RopeScaling{Type: "llama3", Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalContext: 8192}},
		{"llama-3.1-8b", 128, 500000, student.RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalContext: 8192}},
		{"tiny", 8, 100, student.RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalContext: 32}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, _ := json.Marshal(map[string]any{"hidden_size": tc.hd * 4, "num_attention_heads": 4, "head_dim": tc.hd,
				"rope_theta": tc.theta, "rope_scaling": map[string]any{"rope_type": "llama3", "factor": tc.rs.Factor,
					"low_freq_factor": tc.rs.LowFreqFactor, "high_freq_factor": tc.rs.HighFreqFactor,
					"original_max_position_embeddings": tc.rs.OriginalContext}})
			if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
				t.Fatal(err)
			}
			var ref []float64
			if err := json.Unmarshal(testpeers.RunPython(t, hfReferenceScript(t), nil, "ropefreqs", dir), &ref); err != nil {
				t.Fatal(err)
			}
			factors := make([]float32, len(ref))
			for i, v := range ref {
				factors[i] = float32(v)
			}
			for i, g := range converterRopeFactors(tc.theta, tc.hd, tc.rs) {
				if math.Float32bits(g) != math.Float32bits(factors[i]) {
					t.Fatalf("factor %d: ours %v, the converter's %v", i, g, factors[i])
				}
			}
			c := student.Config{VocabSize: 10, DModel: tc.hd * 4, NLayers: 1, NHeads: 4, NKVHeads: 4, FFNDim: 8,
				ContextLength: 16, RopeBase: tc.theta, NormEps: 1e-5, RopeFactors: student.NewRopeFactors(factors)}
			got, err := llama3FromFactors(c)
			if err != nil || got != tc.rs {
				t.Fatalf("recovered %+v (%v), want %+v", got, err, tc.rs)
			}
			// A factor off by one ulp is refused.
			k := 0
			for factors[k] == 1 || factors[k] == float32(tc.rs.Factor) {
				k++ // the first interpolated pair
			}
			factors[k] = math.Nextafter32(factors[k], 0)
			c.RopeFactors = student.NewRopeFactors(factors)
			if _, err := llama3FromFactors(c); err == nil || !strings.Contains(err.Error(), "rope_freqs.weight") || !strings.Contains(err.Error(), "first differing index") {
				t.Errorf("perturbed factor %d: %v", k, err)
			}
		})
	}
}
