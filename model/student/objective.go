package student

import (
	"fmt"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/loss"
)

// ForwardBackwardObjective is ForwardBackwardDense under another objective
// obj for this one call: the loss on sequences the student sampled itself
// (loss.Config.Sampled), whose CE and KL weights and divergence differ from
// the model's loss config. obj must fit the built graph (loss.Config.SameGraph:
// same temperature and hidden-state terms). teacherLogits [B*T*V] or nil
// (the batch's sparse teacher). Total in the result is obj's.
func (m *Model) ForwardBackwardObjective(b *batch.Batch, teacherLogits []float32, obj loss.Config) (loss.Terms, error) {
	if err := obj.Validate(); err != nil {
		return loss.Terms{}, err
	}
	if err := m.lc.SameGraph(obj); err != nil {
		return loss.Terms{}, fmt.Errorf("student: %w", err)
	}
	m.objective = &obj
	defer func() { m.objective = nil }()
	t, err := m.ForwardBackwardDense(b, teacherLogits)
	if err != nil {
		return t, err
	}
	t.Total = obj.Total(t)
	return t, nil
}
