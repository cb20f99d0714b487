package loss

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
