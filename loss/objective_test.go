package loss

import (
	"math"
	"testing"
)

// TestObjectiveWeights: the package owns every weight of
// Total = α·KL + (1−α)·CE + γ·MSE — per term, per loss position (mask-weighted
// means over the batch) and per hidden_map pair (MSE is their mean). The
// expected values are worked by hand from the formula.
func TestObjectiveWeights(t *testing.T) {
	c := Config{Alpha: 0.25, Gamma: 0.5, Temperature: 2,
		HiddenMap: []LayerPair{{1, 2}, {3, 4}}, TeacherHiddenDim: 8}
	if got := c.Total(Terms{CE: 2, KL: 4, MSE: 6}); got != 0.25*4+0.75*2+0.5*6 {
		t.Fatalf("Total = %g, want 5.5", got)
	}
	if w := c.Weights(); w != (Weights{CE: 0.75, KL: 0.25, MSE: 0.5}) {
		t.Fatalf("Weights = %+v", w)
	}
	if w := c.HiddenPairWeight(); w != 0.25 {
		t.Fatalf("HiddenPairWeight = %g, want γ/2 = 0.25", w)
	}
	// A position of mask 2 in a batch of mask mass 8 (5 of it with a teacher).
	ceW, klW := c.RowWeights(2, 8, 5, true)
	if math.Abs(float64(ceW)-0.75*2/8) > 1e-7 || math.Abs(float64(klW)-0.25*2/5) > 1e-7 {
		t.Fatalf("RowWeights = %g, %g, want 0.1875, 0.1", ceW, klW)
	}
	if _, klW := c.RowWeights(2, 8, 5, false); klW != 0 {
		t.Fatalf("a position without a teacher has KL weight %g", klW)
	}
	if w := (Config{Temperature: 1}).HiddenPairWeight(); w != 0 {
		t.Fatalf("no hidden_map: pair weight %g", w)
	}
}
