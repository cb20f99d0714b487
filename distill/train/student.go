package train

import (
	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/student"
)

// StudentModel adapts *student.Model to Model.
type StudentModel struct {
	M      *student.Model
	params []Param
}

// NewStudentModel builds the student (fresh weights from seed) for training.
func NewStudentModel(s student.Config, lc loss.Config, seed int64) (*StudentModel, error) {
	m, err := student.New(s, lc, seed)
	if err != nil {
		return nil, err
	}
	return WrapStudent(m), nil
}

// WrapStudent adapts an existing student model.
func WrapStudent(m *student.Model) *StudentModel {
	sm := &StudentModel{M: m}
	for _, p := range m.Params() {
		sm.params = append(sm.params, Param{Name: p.Name, Shape: p.Shape, Data: p.Data, Grad: p.Grad, Decay: p.Decay})
	}
	return sm
}

// Params lists the student's tensors; Data and Grad alias the model's buffers.
func (s *StudentModel) Params() []Param { return s.params }

// ForwardBackward runs the training pass.
func (s *StudentModel) ForwardBackward(b *batch.Batch) (loss.Terms, error) {
	return s.M.ForwardBackward(b)
}

// Evaluate runs the evaluation pass.
func (s *StudentModel) Evaluate(b *batch.Batch) (loss.Terms, loss.Metrics, error) {
	return s.M.Evaluate(b)
}
