package infer

import (
	"testing"

	"github.com/distill-ml/distill/model/infer/infertest"
)

// EvalAllHidden must equal EvalAll and HiddenStates run separately.
func TestEvalAllHiddenEqualsSeparatePasses(t *testing.T) {
	sp := infertest.RandomSpec{VocabSize: 300, DModel: 64, NLayers: 3, NHeads: 4, NKVHeads: 2, FFNDim: 96, ContextLength: 64,
		RopeBase: 10000, NormEps: 1e-5, Sigma: 0.05, Seed: 3, Type: "F32"}
	path := infertest.WriteTemp(t, "m.gguf", sp)
	m, err := Load(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	toks := []int32{5, 17, 200, 3, 44, 9, 120, 250, 1, 2, 3, 4}
	layers := []int{0, 2, 4}
	want, err := m.NewSession(64).EvalAll(toks)
	if err != nil {
		t.Fatal(err)
	}
	wantH, err := m.NewSession(64).HiddenStates(toks, layers)
	if err != nil {
		t.Fatal(err)
	}
	got, gotH, err := m.NewSession(64).EvalAllHidden(toks, layers)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d logits, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logit %d: %v vs %v", i, got[i], want[i])
		}
	}
	for l := range layers {
		for i := range wantH[l] {
			if gotH[l][i] != wantH[l][i] {
				t.Fatalf("layer %d value %d: %v vs %v", layers[l], i, gotH[l][i], wantH[l][i])
			}
		}
	}
	if _, _, err := m.NewSession(64).EvalAllHidden(toks, []int{9}); err == nil {
		t.Fatal("layer out of range accepted")
	}
}
