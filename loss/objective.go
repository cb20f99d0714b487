package loss

import "fmt"

// Weights are the coefficients of the objective's terms:
// Total = KL·α + CE·(1−α) + MSE·γ. The T² scale of the KL belongs to the KL
// term itself (Row returns T²·D), not to its weight.
type Weights struct {
	CE, KL, MSE float64 // 1−α, α, γ
}

// Weights returns the term weights of the objective.
func (c Config) Weights() Weights {
	return Weights{CE: 1 - c.Alpha, KL: c.Alpha, MSE: c.Gamma}
}

// Total is the objective of the terms t: α·KL + (1−α)·CE + γ·MSE.
func (c Config) Total(t Terms) float64 {
	w := c.Weights()
	return w.KL*t.KL + w.CE*t.CE + w.MSE*t.MSE
}

// RowWeights are the weights of one loss position's CE and KL in the batch
// objective: CE and KL are means over the batch weighted by the loss mask, so
// a position of mask value mask weighs (1−α)·mask/ceMass in CE and
// α·mask/klMass in KL, where ceMass is the mask sum over loss positions and
// klMass the mask sum over those with a teacher. A position without a teacher
// has KL weight 0. Row takes these as its ceW and klW.
func (c Config) RowWeights(mask float32, ceMass, klMass float64, hasTeacher bool) (ceW, klW float32) {
	w := c.Weights()
	m := float64(mask)
	if ceMass > 0 {
		ceW = float32(w.CE * m / ceMass)
	}
	if hasTeacher && klMass > 0 {
		klW = float32(w.KL * m / klMass)
	}
	return ceW, klW
}

// HiddenPairWeight is the weight of one hidden_map pair's masked MSE in the
// objective: the MSE term is the mean over the pairs, so γ/len(HiddenMap)
// (0 without pairs).
func (c Config) HiddenPairWeight() float64 {
	if len(c.HiddenMap) == 0 {
		return 0
	}
	return c.Weights().MSE / float64(len(c.HiddenMap))
}

// Sampled is the objective on sequences the student sampled itself
// (on-policy distillation, as in GKD and MiniLLM): the divergence kind
// (KLForward, KLReverse or KLJSD with weight beta) at every sampled position,
// with no cross-entropy — the sampled tokens are the student's own choices,
// not labels. Temperature and the hidden-state MSE are c's, so the same
// model graph evaluates it (model/ops' Feed.Objective).
func (c Config) Sampled(kind string, beta float64) Config {
	s := c
	s.Alpha, s.KL, s.JSDBeta = 1, kind, beta
	if kind != KLJSD {
		s.JSDBeta = 0
	}
	return s
}

// SameGraph reports whether o can replace c in a model graph built for c:
// the temperature and the hidden-state terms agree (only the weights of CE
// and KL and the divergence may differ).
func (c Config) SameGraph(o Config) error {
	if c.Temperature != o.Temperature || c.Gamma != o.Gamma || c.TeacherHiddenDim != o.TeacherHiddenDim || len(c.HiddenMap) != len(o.HiddenMap) {
		return fmt.Errorf("objective differs from the built one in temperature or hidden-state terms (T %g vs %g, gamma %g vs %g)", o.Temperature, c.Temperature, o.Gamma, c.Gamma)
	}
	for i := range c.HiddenMap {
		if c.HiddenMap[i] != o.HiddenMap[i] {
			return fmt.Errorf("objective hidden_map[%d] differs from the built one", i)
		}
	}
	return nil
}
