package student

import (
	"math/rand"
	"testing"
	"unsafe"

	"gorgonia.org/tensor"

	"github.com/distill-ml/distill/data/batch/batchtest"
	"github.com/distill-ml/distill/loss"
)

// heldBytes sums the distinct buffers the executor's values live in after a
// run (op outputs and gradient sums, weights excluded), each counted once.
func heldBytes(gr *graph, weights []*weight) int64 {
	skip := map[unsafe.Pointer]bool{}
	for _, w := range weights {
		skip[unsafe.Pointer(&w.data[0])] = true
	}
	seen := map[unsafe.Pointer]bool{}
	var n int64
	for _, st := range gr.exec.steps {
		d, ok := gr.exec.slots[st.out].(*tensor.Dense)
		if !ok || d.Dtype() != tensor.Float32 || d.Size() == 0 {
			continue
		}
		f := d.Float32s()
		p := unsafe.Pointer(&f[0])
		if seen[p] || skip[p] {
			continue
		}
		seen[p] = true
		n += int64(4 * len(f))
	}
	return n
}

// TestRecomputeGradientsIdentical: with activation recomputation per block
// the loss terms, every gradient and the logits are bit-identical to the
// plain order's, over several steps, for llama (tied head, shared blocks,
// the hidden-state MSE through a projection at an inner layer), qwen2 (Q/K/V
// biases, untied) and qwen3 (q/k norm, head_dim ≠ d_model/heads), on packed
// rows; and the buffers the step keeps shrink from every block's to one
// block's.
func TestRecomputeGradientsIdentical(t *testing.T) {
	base := Config{VocabSize: 97, DModel: 32, NLayers: 4, NHeads: 4, NKVHeads: 2, FFNDim: 48,
		ContextLength: 32, RopeBase: 10000, NormEps: 1e-5}
	llama, qwen2, qwen3 := base, base, base
	llama.ShareBlocks = true
	qwen2.Arch, qwen2.UntieEmbed = ArchQwen2, true
	qwen3.Arch, qwen3.HeadDimension = ArchQwen3, 12
	cases := []struct {
		name string
		cfg  Config
		lc   loss.Config
	}{
		{"llama-shared-mse", llama, loss.Config{Alpha: 0.5, Temperature: 2, Gamma: 0.3,
			HiddenMap: []loss.LayerPair{{Student: 3, Teacher: 2}, {Student: 8, Teacher: 5}, {Student: 0, Teacher: 1}}, TeacherHiddenDim: 24}},
		{"qwen2", qwen2, loss.Config{Alpha: 0.5, Temperature: 2}},
		{"qwen3", qwen3, loss.Config{Alpha: 0.7, Temperature: 1, Gamma: 0.2,
			HiddenMap: []loss.LayerPair{{Student: 2, Teacher: 2}}, TeacherHiddenDim: 32}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			layers := []int{}
			for _, p := range tc.lc.HiddenMap {
				layers = append(layers, p.Teacher)
			}
			run := func(recompute bool) (terms []loss.Terms, grads [][]float32, held int64) {
				m, err := New(tc.cfg, tc.lc, 5)
				if err != nil {
					t.Fatal(err)
				}
				m.SetRecompute(recompute)
				rng := rand.New(rand.NewSource(8))
				scramble(m, rng)
				for step := 0; step < 2; step++ {
					b := randomBatch(rng, 3, 32, tc.cfg.VocabSize, 4, tc.lc.TeacherHiddenDim, layers)
					if tc.lc.Temperature != 1 {
						batchtest.TemperTail(b, tc.cfg.VocabSize, tc.lc.Temperature)
					}
					b.RowStart = packRows(b, [][]int{{0, 11, 12}, {0}, {0, 20}}, []int{30, 32, 32})
					var tm, ev loss.Terms
					tm, ev, grads = sgdStep(t, m, b, 0.05, grads)
					terms = append(terms, tm, ev)
				}
				lg, err := m.Logits(make([]int32, 2*16), 2, 16)
				if err != nil {
					t.Fatal(err)
				}
				grads = append(grads, lg)
				gr := m.graphs[graphKey{modeTrain, 3, 32}]
				return terms, grads, heldBytes(gr, m.weights)
			}
			t1, g1, full := run(false)
			t2, g2, rec := run(true)
			for i := range t1 {
				if t1[i] != t2[i] {
					t.Fatalf("terms %d: plain %+v, recompute %+v", i, t1[i], t2[i])
				}
			}
			requireSameBits(t, "plain then recompute", g1, g2)
			// 4 applied layers (8 with shared blocks): one block's
			// internals instead of all of them.
			t.Logf("held buffers: plain %d B, recompute %d B", full, rec)
			if rec*2 > full {
				t.Errorf("recompute keeps %d B of buffers, plain %d B: want at most half", rec, full)
			}
		})
	}
}
