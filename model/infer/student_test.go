package infer

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/student"
)

// TestAgreesWithTrainingForward exports a randomly initialised Gorgonia
// student as an F32 GGUF and checks that this runtime's logits equal the
// training graph's forward pass within 1e-4 (relative to the largest logit),
// for a plain and a block-shared (MobileLLM-LS) student.
func TestAgreesWithTrainingForward(t *testing.T) {
	for _, share := range []bool{false, true} {
		cfg := student.Config{VocabSize: 320, DModel: 64, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 160,
			ContextLength: 64, RopeBase: 10000, NormEps: 1e-5, ShareBlocks: share}
		sm, err := student.New(cfg, loss.Config{Alpha: 0, Temperature: 1}, 11)
		if err != nil {
			t.Fatal(err)
		}
		voc, err := export.SyntheticVocab(cfg.VocabSize)
		if err != nil {
			t.Fatal(err)
		}
		em := &export.Model{Config: cfg, Vocab: voc, Tensors: map[string][]float32{}, Name: "student-test", Version: "0"}
		for _, p := range sm.Params() {
			if !strings.HasPrefix(p.Name, "distill.") {
				em.Tensors[p.Name] = p.Data
			}
		}
		path := filepath.Join(t.TempDir(), "student.gguf")
		if err := export.Write(path, em, export.Options{Type: quant.FileF32}); err != nil {
			t.Fatal(err)
		}
		m, err := Load(path, Options{KVF32: true})
		if err != nil {
			t.Fatal(err)
		}
		if want := cfg.AppliedLayers(); m.Hyper.NLayers != want {
			t.Fatalf("share=%v: runtime sees %d layers, want %d", share, m.Hyper.NLayers, want)
		}
		tokens := []int32{5, 17, 300, 2, 99, 141, 7, 7, 250, 64, 1, 319}
		want, err := sm.Logits(tokens, 1, len(tokens))
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.NewSession(64).EvalAll(tokens)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d logits, training forward gave %d", len(got), len(want))
		}
		d, sc := maxAbsDiff(got, want)
		if d > 1e-4*sc || math.IsNaN(d) {
			t.Fatalf("share=%v: max |Δlogit| %.3g, %.3g of max |logit| %.3g (tolerance 1e-4)", share, d, d/sc, sc)
		}
		t.Logf("share=%v: max |Δlogit| %.3g (%.2g relative)", share, d, d/sc)
		m.Close()
	}
}
