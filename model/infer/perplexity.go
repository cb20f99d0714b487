package infer

import (
	"fmt"
	"math"
)

// NLL is the summed negative log-likelihood (nats) of tokens[i] given
// tokens[:i] for every i ≥ from (from ≥ 1), and how many tokens that is.
// Sequences longer than window tokens are scored in consecutive,
// non-overlapping windows; the first token of each later window is then
// predicted from that window only (it is not scored when it is the window's
// first token). window ≤ 0 means the model's context length
// (Model.ContextLength); the session's cache grows only to the longest
// window actually scored.
func (m *Model) NLL(tokens []int32, from, window int) (sum float64, count int, err error) {
	if from < 1 {
		from = 1
	}
	if window <= 0 || window > m.ContextLength() {
		window = m.ContextLength()
	}
	if window < 2 {
		return 0, 0, fmt.Errorf("nll: window %d too small", window)
	}
	V := m.Hyper.VocabSize
	sess := m.NewSession(window)
	for start := 0; start < len(tokens)-1; start += window {
		end := min(start+window, len(tokens))
		if end-start < 2 || end <= from {
			continue
		}
		sess.Reset()
		logits, err := sess.EvalAll(tokens[start : end-1])
		if err != nil {
			return sum, count, err
		}
		for i := start + 1; i < end; i++ {
			if i < from {
				continue
			}
			row := logits[(i-1-start)*V : (i-start)*V]
			sum += -logSoftmaxAt(row, tokens[i])
			count++
		}
	}
	return sum, count, nil
}

// logSoftmaxAt is log softmax(row)[id], computed in float64.
func logSoftmaxAt(row []float32, id int32) float64 {
	maxv := math.Inf(-1)
	for _, v := range row {
		maxv = math.Max(maxv, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - maxv)
	}
	return float64(row[id]) - maxv - math.Log(s)
}
