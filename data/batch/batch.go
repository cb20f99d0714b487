// Package batch defines the training batch that flows from the data loader
// (data/loader) into the student's forward/backward pass (model/student) and
// the distillation losses (loss). It is a plain-data leaf package so that the
// producer and the consumers share one definition.
//
// Positions are flattened row-major over [B, T]: position p = b*T + t.
// Targets[p] is the token the model must predict after reading the tokens of
// its document in window b up to Tokens[p]; the teacher signal at p describes
// that same prediction.
//
// # Documents
//
// A window (one of the B rows of length T) may hold several dataset rows
// packed end to end ("documents"). RowStart[p] is the window index t0 of the
// first token of the document position p belongs to, so the student's
// attention lets position p read positions [b*T+RowStart[p], p] of its
// window only (a block-diagonal causal "document mask", as Hugging Face's
// per-row position ids / varlen attention): a packed row never sees the rows
// before it, as the teacher (which scored each row alone) and the golden set
// (one prompt per sequence) never do. Padding positions start their own
// document (RowStart[p] = t), which is the cheapest: they read only
// themselves. A row continued from the previous window (concat packing)
// starts at 0. RowStart nil means one document per window (RowStart[p] = 0
// everywhere): right only for producers whose windows each hold one row.
package batch

import "fmt"

// Batch is one packed training batch.
type Batch struct {
	B, T int // rows, context length

	Tokens   []int32   // [B*T] input token ids
	Targets  []int32   // [B*T] next-token ids (undefined where LossMask is 0)
	LossMask []float32 // [B*T] 1 where CE/KL/MSE count (completion tokens), 0 for prompt and padding
	// RowStart is the window index t0 (0 ≤ t0 ≤ t) of the first token of the
	// document position p = b*T + t belongs to [B*T]; nil: one document per
	// window (see the package doc).
	RowStart []int32

	// Sparse teacher distribution for the prediction at each position, K entries,
	// sorted by logprob descending. K is 0 when the dataset stores no logprobs.
	K            int
	TopKIDs      []int32   // [B*T*K]
	TopKLogprobs []float32 // [B*T*K], natural-log probabilities, <= 0
	TailMass     []float32 // [B*T], teacher probability outside the top-K, in [0, 1]
	// TailTempered is the teacher's tail mass tempered at TailTemperature,
	// Σ_{j∉top-K} p_j^{1/T} / Σ_j p_j^{1/T} [B*T]; nil (and TailTemperature
	// 0) when the dataset stores none.
	TailTempered    []float32
	TailTemperature float64
	TeacherValid    []float32 // [B*T] 1 where the row carries a teacher distribution (CE-only rows: 0)

	// Teacher hidden states for chosen teacher layers, float32 after decoding.
	HiddenLayers []int       // teacher layer indices, len L
	HiddenDim    int         // teacher width
	Hidden       [][]float32 // [L][B*T*HiddenDim]
}

// Validate checks internal consistency of lengths. Cheap; call at the
// boundary where a batch enters a model.
func (b *Batch) Validate(vocab int) error {
	n := b.B * b.T
	if b.B <= 0 || b.T <= 0 {
		return fmt.Errorf("batch: bad shape B=%d T=%d", b.B, b.T)
	}
	if len(b.Tokens) != n || len(b.Targets) != n || len(b.LossMask) != n {
		return fmt.Errorf("batch: lengths tokens=%d targets=%d mask=%d, want %d", len(b.Tokens), len(b.Targets), len(b.LossMask), n)
	}
	if b.RowStart != nil {
		if len(b.RowStart) != n {
			return fmt.Errorf("batch: row starts of %d positions, want %d", len(b.RowStart), n)
		}
		// A document is a run of positions: p continues the document of
		// p-1 or starts one of its own.
		for p, s := range b.RowStart {
			t := p % b.T
			if int(s) != t && (t == 0 || s != b.RowStart[p-1]) {
				return fmt.Errorf("batch: row start %d at position %d (window %d, index %d): want %d (a document starting here) or the previous position's %d", s, p, p/b.T, t, t, b.RowStart[max(p-1, 0)])
			}
		}
	}
	for p, id := range b.Tokens {
		if id < 0 || int(id) >= vocab {
			return fmt.Errorf("batch: token id %d at position %d outside vocab %d", id, p, vocab)
		}
	}
	for p, id := range b.Targets {
		if b.LossMask[p] != 0 && (id < 0 || int(id) >= vocab) {
			return fmt.Errorf("batch: target id %d at position %d outside vocab %d", id, p, vocab)
		}
	}
	if b.K > 0 {
		if len(b.TopKIDs) != n*b.K || len(b.TopKLogprobs) != n*b.K || len(b.TailMass) != n || len(b.TeacherValid) != n {
			return fmt.Errorf("batch: teacher lengths ids=%d logprobs=%d tail=%d valid=%d, want %d/%d/%d/%d",
				len(b.TopKIDs), len(b.TopKLogprobs), len(b.TailMass), len(b.TeacherValid), n*b.K, n*b.K, n, n)
		}
		if b.TailTempered != nil && (len(b.TailTempered) != n || !(b.TailTemperature > 0)) {
			return fmt.Errorf("batch: tempered tail of %d values at temperature %g, want %d values at a temperature > 0", len(b.TailTempered), b.TailTemperature, n)
		}
		for i, id := range b.TopKIDs {
			if b.TeacherValid[i/b.K] != 0 && (id < 0 || int(id) >= vocab) {
				return fmt.Errorf("batch: teacher top-k id %d at position %d outside vocab %d", id, i/b.K, vocab)
			}
		}
	}
	if len(b.Hidden) != len(b.HiddenLayers) {
		return fmt.Errorf("batch: %d hidden tensors for %d layers", len(b.Hidden), len(b.HiddenLayers))
	}
	for i, h := range b.Hidden {
		if len(h) != n*b.HiddenDim {
			return fmt.Errorf("batch: hidden layer %d has %d values, want %d", b.HiddenLayers[i], len(h), n*b.HiddenDim)
		}
	}
	return nil
}
