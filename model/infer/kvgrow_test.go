package infer

import (
	"math"
	"testing"

	"github.com/distill-ml/distill/model/infer/infertest"
)

// A session whose KV cache and RoPE tables grow while it runs (256 → 512 →
// its 600-token capacity, across a prompt batch and decode steps) gives the
// same bits as one allocated for its whole capacity up front: growth moves
// cached values to a new stride and never changes the arithmetic.
func TestKVGrowthBitIdentical(t *testing.T) {
	for _, kvF32 := range []bool{false, true} {
		spec := tinySpec("Q8_0")
		spec.ContextLength = 600
		path := infertest.WriteTemp(t, "tiny-600.gguf", spec)
		m, err := Load(path, Options{KVF32: kvF32})
		if err != nil {
			t.Fatal(err)
		}
		prompt := make([]int32, 200)
		for i := range prompt {
			prompt[i] = int32(3 + i*37%380)
		}
		run := func(s *Session) (logits [][]float32, caps []int) {
			lg, err := s.EvalAll(prompt)
			if err != nil {
				t.Fatal(err)
			}
			logits = append(logits, lg)
			caps = append(caps, s.kvCap)
			V := m.Hyper.VocabSize
			tok := Argmax(lg[len(lg)-V:])
			for s.Pos() < 590 {
				if lg, err = s.Eval([]int32{tok}); err != nil {
					t.Fatal(err)
				}
				logits = append(logits, lg)
				if len(caps) == 0 || caps[len(caps)-1] != s.kvCap {
					caps = append(caps, s.kvCap)
				}
				tok = Argmax(lg)
			}
			return logits, caps
		}
		full := m.NewSession(0)
		full.growKV(full.ContextLength())
		want, _ := run(full)
		got, caps := run(m.NewSession(0))
		if len(caps) != 3 || caps[0] != 256 || caps[1] != 512 || caps[2] != 600 {
			t.Errorf("KVF32 %v: capacities %v, want [256 512 600]", kvF32, caps)
		}
		for i := range want {
			for j, v := range want[i] {
				if math.Float32bits(v) != math.Float32bits(got[i][j]) {
					t.Fatalf("KVF32 %v step %d logit %d: %g grown, %g preallocated", kvF32, i, j, got[i][j], v)
				}
			}
		}
		m.Close()
	}
}
