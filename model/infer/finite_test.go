package infer

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/distill-ml/distill/model/infer/infertest"
)

// TestLoadRefusesNonFiniteWeights: a NaN norm weight, an Inf F32 weight, and a
// NaN Q8_0 block scale each make Load fail with the tensor's name (before,
// such files loaded and evaluated to NaN or plausible numbers).
func TestLoadRefusesNonFiniteWeights(t *testing.T) {
	nan32 := binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(math.NaN())))
	inf32 := binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(math.Inf(1))))
	nan16 := binary.LittleEndian.AppendUint16(nil, 0x7e00)
	cases := []struct {
		typ, tensor string
		off         int64
		b           []byte
		want        string
	}{
		{"Q8_0", "blk.1.attn_norm.weight", 4 * 7, nan32, "tensor blk.1.attn_norm.weight: element 7 is NaN"},
		{"F32", "output_norm.weight", 0, nan32, "tensor output_norm.weight: element 0 is NaN"},
		{"F32", "blk.0.ffn_down.weight", 4 * 100, inf32, "tensor blk.0.ffn_down.weight: element 100 is +Inf"},
		{"Q8_0", "blk.0.attn_q.weight", 34 * 3, nan16, "tensor blk.0.attn_q.weight: block 3 (elements 96..127): scale d is NaN"},
		{"Q4_K_M", "token_embd.weight", 210*5 + 208, nan16, "tensor token_embd.weight: block 5"},
	}
	for _, c := range cases {
		sp := infertest.RandomSpec{VocabSize: 300, DModel: 256, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 256, ContextLength: 64,
			RopeBase: 10000, NormEps: 1e-5, Sigma: 0.05, Seed: 3, Type: c.typ}
		path := infertest.WriteTemp(t, "m.gguf", sp)
		m, err := Load(path, Options{})
		if err != nil {
			t.Fatalf("%s: clean model refused: %v", c.typ, err)
		}
		m.Close()
		infertest.PokeTensor(t, path, c.tensor, c.off, c.b)
		for _, noMmap := range []bool{false, true} {
			m, err := Load(path, Options{NoMmap: noMmap})
			if err == nil {
				m.Close()
				t.Errorf("%s %s: model with a non-finite weight loaded", c.typ, c.tensor)
				continue
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: error %q lacks %q", c.typ, err, c.want)
			}
		}
	}
}
