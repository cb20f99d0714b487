package ops

import (
	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/loss"
)

// Feed carries the per-step non-tensor inputs (token ids, targets, loss mask,
// teacher signals) to the ops that read them. The caller sets Batch (and
// optionally DenseTeacher) before running the machine; ops never modify it.
type Feed struct {
	Batch *batch.Batch
	// DenseTeacher, when non-nil, holds dense teacher logits [B*T, V] used by
	// the KL term instead of the sparse top-k.
	DenseTeacher []float32
	// Objective, when non-nil, replaces the loss configuration the LM-head
	// loss was built with for this pass (loss.Config.Sampled: the divergence
	// on a student's own samples). Its temperature and MSE terms must be the
	// built ones' (the caller checks).
	Objective *loss.Config
}
