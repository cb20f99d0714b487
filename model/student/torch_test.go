package student

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/distill-ml/distill/data/batch/batchtest"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/loss"
)

//go:embed testdata/torch_reference.py
var torchReference string

type torchCase struct {
	name  string
	cfg   Config
	lc    loss.Config
	B, T  int
	K, Dt int
	dense bool // dense teacher logits instead of the sparse top-k
	// starts, when set, packs several rows into each window: the documents
	// of window b start at starts[b] and positions from pad[b] on are
	// padding (batch.RowStart; the reference masks attention block-diagonally
	// and restarts RoPE positions at each document, Hugging Face's
	// position_ids, where distill keeps window positions).
	starts [][]int
	pad    []int
}

// TestAgreesWithPyTorch runs an independent float64 PyTorch implementation of
// the student and the losses on the same weights and batch, and requires
// logits, every parameter gradient and the loss terms to match. Tolerance,
// per tensor: max_i |distill_i − torch_i| ≤ 1e-4·max_i |torch_i| + 1e-7.
func TestAgreesWithPyTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with PyTorch: not in -short")
	}
	base := smallConfig()
	shared := base
	shared.ShareBlocks, shared.UntieEmbed = true, true
	mha := base
	mha.NKVHeads, mha.NLayers = 4, 1
	hidden := []loss.LayerPair{{Student: 1, Teacher: 3}, {Student: 2, Teacher: 6}}
	cases := []torchCase{
		{"gqa-forward-kl-mse-proj", base, loss.Config{Alpha: 0.5, Gamma: 0.3, Temperature: 2, KL: "forward", HiddenMap: hidden, TeacherHiddenDim: 12}, 2, 7, 4, 12, false, nil, nil},
		{"shared-untied-reverse-kl", shared, loss.Config{Alpha: 0.7, Temperature: 1.5, KL: "reverse"}, 2, 6, 3, 0, false, nil, nil},
		{"gqa-jsd-mse-same-width", base, loss.Config{Alpha: 0.4, Gamma: 1, Temperature: 1, KL: "jsd", JSDBeta: 0.3, HiddenMap: []loss.LayerPair{{Student: 0, Teacher: 2}}, TeacherHiddenDim: 16}, 1, 9, 5, 16, false, nil, nil},
		{"mha-ce-only", mha, loss.Config{Alpha: 0, Temperature: 1}, 3, 4, 0, 0, false, nil, nil},
		{"gqa-kl-only", base, loss.Config{Alpha: 1, Temperature: 3, KL: "forward"}, 2, 5, 6, 0, false, nil, nil},
		{"dense-forward", base, loss.Config{Alpha: 0.6, Temperature: 2, KL: "forward"}, 2, 5, 2, 0, true, nil, nil},
		{"dense-reverse", shared, loss.Config{Alpha: 0.6, Temperature: 1, KL: "reverse"}, 1, 6, 2, 0, true, nil, nil},
		{"dense-jsd", base, loss.Config{Alpha: 0.5, Temperature: 1.5, KL: "jsd", JSDBeta: 0.6}, 1, 6, 2, 0, true, nil, nil},
		{"packed-rows-kl-mse", base, loss.Config{Alpha: 0.5, Gamma: 0.3, Temperature: 2, KL: "forward", HiddenMap: hidden, TeacherHiddenDim: 12}, 2, 14, 4, 12, false,
			[][]int{{0, 5}, {0, 4, 9}}, []int{12, 14}},
		{"packed-rows-shared-ce", shared, loss.Config{Alpha: 0, Temperature: 1}, 2, 13, 0, 0, false, [][]int{{0, 3, 4, 10}, {0, 6}}, []int{13, 11}},
	}
	root := t.TempDir()
	type prepared struct {
		c      torchCase
		m      *Model
		dir    string
		logits []float32
		terms  loss.Terms
		grads  [][]float32
	}
	var preps []prepared
	var dirs []string
	for i, c := range cases {
		rng := rand.New(rand.NewSource(int64(100 + i)))
		m, err := New(c.cfg, c.lc, int64(i))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		scramble(m, rng)
		var layers []int
		for _, p := range c.lc.HiddenMap {
			layers = append(layers, p.Teacher)
		}
		b := randomBatch(rng, c.B, c.T, c.cfg.VocabSize, c.K, c.Dt, layers)
		if c.starts != nil {
			b.RowStart = packRows(b, c.starts, c.pad)
		}
		if c.K > 0 && !c.dense {
			batchtest.TemperTail(b, c.cfg.VocabSize, c.lc.Temperature)
		}
		var dense []float32
		if c.dense {
			dense = make([]float32, c.B*c.T*c.cfg.VocabSize)
			for j := range dense {
				dense[j] = float32(2 * rng.NormFloat64())
			}
		}
		terms, err := m.ForwardBackwardDense(b, dense)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		logits, err := m.batchLogits(b)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		dir := filepath.Join(root, c.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		type pj struct {
			Name  string `json:"name"`
			Shape []int  `json:"shape"`
		}
		var ps []pj
		var grads [][]float32
		for j, p := range m.Params() {
			ps = append(ps, pj{p.Name, p.Shape})
			writeRaw(t, filepath.Join(dir, fmt.Sprintf("param_%d.bin", j)), p.Data)
			grads = append(grads, append([]float32(nil), p.Grad...))
		}
		writeRaw(t, filepath.Join(dir, "tokens.bin"), b.Tokens)
		writeRaw(t, filepath.Join(dir, "targets.bin"), b.Targets)
		writeRaw(t, filepath.Join(dir, "mask.bin"), b.LossMask)
		if b.RowStart != nil {
			writeRaw(t, filepath.Join(dir, "row_start.bin"), b.RowStart)
		}
		if c.dense {
			writeRaw(t, filepath.Join(dir, "dense.bin"), dense)
			writeRaw(t, filepath.Join(dir, "valid.bin"), b.TeacherValid)
		} else if c.K > 0 {
			writeRaw(t, filepath.Join(dir, "topk_ids.bin"), b.TopKIDs)
			writeRaw(t, filepath.Join(dir, "topk_logprobs.bin"), b.TopKLogprobs)
			writeRaw(t, filepath.Join(dir, "tail.bin"), b.TailMass)
			writeRaw(t, filepath.Join(dir, "tail_tempered.bin"), b.TailTempered)
			writeRaw(t, filepath.Join(dir, "valid.bin"), b.TeacherValid)
		}
		for j, l := range b.HiddenLayers {
			writeRaw(t, filepath.Join(dir, fmt.Sprintf("hidden_%d.bin", l)), b.Hidden[j])
		}
		js, _ := json.Marshal(map[string]any{"config": c.cfg, "loss": c.lc, "B": c.B, "T": c.T, "K": map[bool]int{true: 0, false: c.K}[c.dense], "hidden_dim": c.Dt, "params": ps})
		if err := os.WriteFile(filepath.Join(dir, "case.json"), js, 0o644); err != nil {
			t.Fatal(err)
		}
		preps = append(preps, prepared{c, m, dir, logits, terms, grads})
		dirs = append(dirs, dir)
	}
	testpeers.RunPython(t, torchReference, nil, dirs...)

	within := func(got, want []float32) (float64, bool) {
		d, scale := maxAbsDiff(got, want)
		return d, d <= 1e-4*scale+1e-7
	}
	rel := func(got, want []float32) float64 {
		d, scale := maxAbsDiff(got, want)
		return d / math.Max(scale, 1e-30)
	}
	for _, p := range preps {
		V, N := p.c.cfg.VocabSize, p.c.B*p.c.T
		ref := readRaw(t, filepath.Join(p.dir, "logits.bin"), N*V)
		if e, ok := within(p.logits, ref); !ok {
			t.Errorf("%s: logits differ from PyTorch by %g", p.c.name, e)
		}
		worstGrad := 0.0
		for j, prm := range p.m.Params() {
			ref := readRaw(t, filepath.Join(p.dir, fmt.Sprintf("grad_%d.bin", j)), len(prm.Data))
			if e, ok := within(p.grads[j], ref); !ok {
				t.Errorf("%s: gradient of %s differs from PyTorch by %g", p.c.name, prm.Name, e)
			}
			worstGrad = math.Max(worstGrad, rel(p.grads[j], ref))
		}
		t.Logf("%s: worst relative error (max|Δ|/max|ref| per tensor): logits %.2g, gradients %.2g", p.c.name, rel(p.logits, ref), worstGrad)
		raw, err := os.ReadFile(filepath.Join(p.dir, "terms.json"))
		if err != nil {
			t.Fatal(err)
		}
		var tt struct{ Total, CE, KL, MSE float64 }
		if err := json.Unmarshal(raw, &tt); err != nil {
			t.Fatal(err)
		}
		for _, x := range []struct {
			name      string
			got, want float64
		}{{"total", p.terms.Total, tt.Total}, {"ce", p.terms.CE, tt.CE}, {"kl", p.terms.KL, tt.KL}, {"mse", p.terms.MSE, tt.MSE}} {
			if math.Abs(x.got-x.want) > 1e-4*math.Max(1, math.Abs(x.want)) {
				t.Errorf("%s: %s = %.7g, PyTorch %.7g", p.c.name, x.name, x.got, x.want)
			}
		}
		t.Logf("%s: total %.6f (torch %.6f) ce %.6f kl %.6f mse %.6f", p.c.name, p.terms.Total, tt.Total, p.terms.CE, p.terms.KL, p.terms.MSE)
	}
}
