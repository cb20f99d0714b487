package infer

import (
	"math"
	"testing"
)

// The attention sums run straight from the cache when the padded block fits
// in the session's context and through a zero-padded copy near its end; both
// must give the same bits, so logits cannot depend on the context length.
func TestExactAttentionIndependentOfContextLength(t *testing.T) {
	m, err := Load(writeTiny(t, "Q8_0"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	prompt := []int32{5, 77, 300, 12, 9, 250, 31, 2, 99, 100, 101}
	// Each step records the logits and the last block's attention output
	// (before 8-bit activation quantization could hide an ulp).
	qDim := m.Hyper.NHeads * m.Hyper.HeadDim
	run := func(ctx int) [][]float32 {
		s := m.NewSession(ctx)
		var out [][]float32
		lg, err := s.EvalAll(prompt) // a batch: the tinyBLAS order
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lg, append([]float32(nil), s.att[:len(prompt)*qDim]...))
		for s.Pos() < ctx {
			if lg, err = s.Eval([]int32{Argmax(lg[len(lg)-m.Hyper.VocabSize:])}); err != nil {
				t.Fatal(err)
			}
			out = append(out, lg, append([]float32(nil), s.att[:qDim]...))
		}
		return out
	}
	short := run(70) // positions 64..69 pad past the end of a 70-long cache row
	long := run(200)
	for i := range short {
		for j, v := range short[i] {
			if math.Float32bits(v) != math.Float32bits(long[i][j]) {
				t.Fatalf("step %d (%s) element %d: %g with a 70-token context, %g with 200", i/2, []string{"logits", "attention"}[i%2], j, v, long[i][j])
			}
		}
	}
}
