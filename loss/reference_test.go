package loss

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// referenceFile holds expected values computed once by PyTorch (float64) for
// fixed inputs; testdata/gen_reference.py writes it and says how to
// regenerate it.
type referenceFile struct {
	Generator string          `json:"generator"`
	CEWeight  float32         `json:"ce_weight"`
	KLWeight  float32         `json:"kl_weight"`
	Cases     []referenceCase `json:"cases"`
}

type referenceCase struct {
	Name        string    `json:"name"`
	Temperature float64   `json:"temperature"`
	KL          string    `json:"kl"`
	JSDBeta     float64   `json:"jsd_beta"`
	Z           []float32 `json:"z"` // [V] student logits
	Target      int32     `json:"target"`
	Teacher     *struct {
		IDs      []int32   `json:"ids"`      // [k]
		Logprobs []float32 `json:"logprobs"` // [k]
		Tail     float32   `json:"tail"`
		TailT    float32   `json:"tail_t"`
		Dense    []float32 `json:"dense"` // [V] teacher logits
	} `json:"teacher"`
	Want struct {
		CE   float64   `json:"ce"`
		KL   float64   `json:"kl"`   // T²·D
		Grad []float64 `json:"grad"` // [V] ∂(ce_weight·CE + kl_weight·KL)/∂z
	} `json:"want"`
}

// TestRowMatchesStoredPyTorchReference pins CE, T²·KL and the logit gradient
// of Row to values PyTorch computed (testdata/reference.json), for every
// divergence with a sparse teacher (top-k + tail at T = 1, tempered tail at
// T = 2 and 0.5) and a dense one, at T = 1 and T = 2, so the KL is checked
// where PyTorch is not installed. Tolerance: float32 logits and exponentials
// against float64, |Δ| ≤ 1e-5·(1+|want|) for values, 1e-6 + 1e-4·max|want|
// per gradient entry.
func TestRowMatchesStoredPyTorchReference(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "reference.json"))
	if err != nil {
		t.Fatalf("%v (regenerate with loss/testdata/gen_reference.py)", err)
	}
	var ref referenceFile
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatalf("testdata/reference.json: %v", err)
	}
	// The fixture must cover what the test claims, even after a regeneration.
	covered := map[string]bool{}
	for _, c := range ref.Cases {
		kind := "none"
		if c.Teacher != nil && c.Teacher.Dense != nil {
			kind = "dense"
		} else if c.Teacher != nil {
			kind = "sparse"
		}
		covered[kind+"-"+c.KL+"-"+formatT(c.Temperature)] = true
	}
	for _, teacher := range []string{"sparse", "dense"} {
		for _, kl := range []string{KLForward, KLReverse, KLJSD} {
			for _, T := range []float64{1, 2} {
				if k := teacher + "-" + kl + "-" + formatT(T); !covered[k] {
					t.Errorf("reference.json has no case %s", k)
				}
			}
		}
	}
	for _, c := range ref.Cases {
		cfg := Config{Alpha: 0.5, Temperature: c.Temperature, KL: c.KL, JSDBeta: c.JSDBeta}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		var teacher *RowTeacher
		if tc := c.Teacher; tc != nil {
			teacher = &RowTeacher{IDs: tc.IDs, Logprobs: tc.Logprobs, Tail: tc.Tail, TailT: tc.TailT, HasTailT: true, Dense: tc.Dense}
		}
		var sc Scratch
		r := cfg.Row(append([]float32(nil), c.Z...), c.Target, teacher, ref.CEWeight, ref.KLWeight, false, &sc)
		if d := math.Abs(r.CE - c.Want.CE); !(d <= 1e-5*(1+math.Abs(c.Want.CE))) {
			t.Errorf("%s: CE %.9g, PyTorch %.9g", c.Name, r.CE, c.Want.CE)
		}
		if d := math.Abs(r.KL - c.Want.KL); !(d <= 1e-5*(1+math.Abs(c.Want.KL))) {
			t.Errorf("%s: T²·KL %.9g, PyTorch %.9g", c.Name, r.KL, c.Want.KL)
		}
		g := append([]float32(nil), c.Z...)
		cfg.Row(g, c.Target, teacher, ref.CEWeight, ref.KLWeight, true, &sc)
		if len(c.Want.Grad) != len(g) {
			t.Fatalf("%s: reference gradient has %d values for %d logits", c.Name, len(c.Want.Grad), len(g))
		}
		var scale float64
		for _, w := range c.Want.Grad {
			scale = math.Max(scale, math.Abs(w))
		}
		for j, w := range c.Want.Grad {
			if d := math.Abs(float64(g[j]) - w); !(d <= 1e-6+1e-4*scale) {
				t.Errorf("%s: dz[%d] = %.9g, PyTorch %.9g", c.Name, j, g[j], w)
			}
		}
	}
}

func formatT(T float64) string {
	b, _ := json.Marshal(T)
	return string(b)
}
