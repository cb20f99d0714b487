package onpolicy

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/model/student"
)

// The runtime sampler (the student exported to F32, prompts prefilled into
// their own caches and decoded together) continues prompts as the student's
// own graph does: greedy completions of prompts of different lengths agree
// token for token, including a stop at EOS and the per-prompt limits.
func TestRuntimeSamplerContinuesAsTheStudent(t *testing.T) {
	cfg := student.Config{VocabSize: 40, DModel: 32, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 64,
		ContextLength: 32, RopeBase: 10000, NormEps: 1e-5}
	m, err := student.New(cfg, loss.Config{Temperature: 1}, 7)
	if err != nil {
		t.Fatal(err)
	}
	prompts := [][]int32{{1, 2, 3}, {4}, {5, 6, 7, 8, 9, 10}}
	limits := []int{8, 12, 5}
	greedy := func() *infer.Sampler { return infer.NewSampler(infer.SamplerConfig{}) }
	want, _, err := NewStudentSampler(m, cfg.VocabSize, 3, 24).Sample(prompts, slices.Clone(limits), greedy(), -1)
	if err != nil {
		t.Fatal(err)
	}
	rs := NewRuntimeSampler(filepath.Join(t.TempDir(), "s.gguf"), quant.FileF32)
	defer rs.Close()
	if err := rs.Refresh(m.Params(), cfg); err != nil {
		t.Fatal(err)
	}
	got, forwards, err := rs.Sample(prompts, slices.Clone(limits), greedy(), -1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range prompts {
		if len(want[i]) != limits[i] || !slices.Equal(got[i], want[i]) {
			t.Fatalf("prompt %d: runtime %v, student %v", i, got[i], want[i])
		}
	}
	// 3 prefills, then one batched step per token after the first, up to the longest limit.
	if forwards != 3+12-1 {
		t.Fatalf("%d forwards, want %d", forwards, 3+12-1)
	}
	// EOS ends a completion (kept as its last token).
	eos := want[1][2]
	got, _, err = rs.Sample(prompts[1:2], []int{12}, greedy(), eos)
	if err != nil {
		t.Fatal(err)
	}
	if end := slices.Index(want[1], eos); !slices.Equal(got[0], want[1][:end+1]) {
		t.Fatalf("with EOS %d: %v, want %v", eos, got[0], want[1][:end+1])
	}
}
