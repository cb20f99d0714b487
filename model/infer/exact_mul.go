package infer

import "github.com/distill-ml/distill/num/kernels/qdot"

// mulRowDots computes dsts[i] = mats[i]·x for n rows of x with the row dot
// products of qdot, in the float order llama.cpp's CPU backend uses for
// each weight type at this batch size: Q4_K weights (which llama.cpp keeps
// in its repacked 8-row layout) take the repacked GEMM's order for the rows
// of each full group of 4 and the GEMV's order for the rest; repacked Q4_0
// weights (a multiple of 8 rows) one scalar accumulator per output; F16
// weights the 16-lane orders of ggml_vec_dot_f16 (one row) or tinyBLAS (a
// batch); F32 weights ggml_vec_dot_f32's or tinyBLAS's FMA lanes (reached
// for batches below the SGEMM threshold, or any batch with
// Options.ExactPrompt); every other type has one order for all rows
// (qdot's).
// x: [n, cols], dsts[i]: [n, mats[i].Rows].
func (s *Session) mulRowDots(mats []*qdot.Matrix, dsts [][]float32, x []float32, n int) {
	head := qdot.Q4KGemmRows(n)
	special := false
	for _, w := range mats {
		special = special || w.Q4_0Repacked() || w.Type == qdot.F16 || w.Type == qdot.F32 || (w.Type == qdot.Q4_K && head > 0)
	}
	if !special {
		qdot.MulBatchSet(s.m.pool, mats, dsts, x, n, &s.ws)
		return
	}
	cols := mats[0].Cols
	var rest []*qdot.Matrix
	var restDst [][]float32
	for i, w := range mats {
		if w.Q4_0Repacked() {
			w.MulQ4_0RepackOrder(s.m.pool, dsts[i], x, n, &s.ws)
			continue
		}
		if w.Type == qdot.F16 {
			w.MulF16LlamaOrder(s.m.pool, dsts[i], x, n, &s.ws)
			continue
		}
		if w.Type == qdot.F32 {
			w.MulF32LlamaOrder(s.m.pool, dsts[i], x, n, &s.ws)
			continue
		}
		if w.Type != qdot.Q4_K || head == 0 {
			rest, restDst = append(rest, w), append(restDst, dsts[i])
			continue
		}
		w.MulQ4KGemmOrder(s.m.pool, dsts[i][:head*w.Rows], x[:head*cols], head, &s.ws)
		if n > head {
			qdot.MulBatchSet(s.m.pool, []*qdot.Matrix{w}, [][]float32{dsts[i][head*w.Rows:]}, x[head*cols:], n-head, &s.ws)
		}
	}
	if len(rest) > 0 {
		qdot.MulBatchSet(s.m.pool, rest, restDst, x, n, &s.ws)
	}
}
