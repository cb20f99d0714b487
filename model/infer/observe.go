package infer

import (
	"fmt"

	"github.com/distill-ml/distill/num/kernels/qdot"
)

// MatmulObserver receives the input of every block weight product before
// it runs: the weight's GGUF name (blk.N.attn_q.weight, …) and its input
// rows x [n, cols], as llama-imatrix's collector sees ggml's MUL_MAT src1.
// x is only valid during the call. The LM head is not reported (llama-imatrix
// skips output.weight by default, and a tied head is token_embd).
type MatmulObserver func(name string, x []float32, n, cols int)

// Observe makes the session report every block weight product's input to
// fn (nil stops it).
func (s *Session) Observe(fn MatmulObserver) {
	s.observe = fn
	if fn != nil && s.matNames == nil {
		s.matNames = map[*qdot.Matrix]string{}
		for i := range s.m.blocks {
			b := &s.m.blocks[i]
			for _, w := range []struct {
				n   string
				mat *qdot.Matrix
			}{{"attn_q", &b.wq}, {"attn_k", &b.wk}, {"attn_v", &b.wv}, {"attn_output", &b.wo}, {"ffn_gate", &b.wGate}, {"ffn_up", &b.wUp}, {"ffn_down", &b.wDown}} {
				s.matNames[w.mat] = fmt.Sprintf("blk.%d.%s.weight", i, w.n)
			}
		}
	}
}

// observeMul reports a product's input for each of mats that is a block weight.
func (s *Session) observeMul(mats []*qdot.Matrix, x []float32, n int) {
	for _, w := range mats {
		if name, ok := s.matNames[w]; ok {
			s.observe(name, x[:n*w.Cols], n, w.Cols)
		}
	}
}
