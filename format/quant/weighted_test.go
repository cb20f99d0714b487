package quant

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"math/rand/v2"
	"os/exec"
	"testing"
)

// TestWeightedBitExactWithGGML: QuantizeWeighted gives the bytes of ggml's
// quantize_q4_0 / q4_1 / q5_0 / q5_1 / iq4_nl / iq4_xs / q2_K / q3_K / q4_K / q5_K / q6_K with quant_weights (what llama-quantize
// --imatrix runs), on the adversarial inputs of TestBitExactWithGGML with
// importance weights shaped like real imatrix rows (positive, spanning
// orders of magnitude, some columns 0 or equal).
func TestWeightedBitExactWithGGML(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with ggml: not in -short")
	}
	const nPerRow = 512
	rng := rand.New(rand.NewPCG(3, 4))
	weightRows := map[string][]float32{}
	for _, kind := range []string{"lognormal", "ones", "sparse", "tiny"} {
		w := make([]float32, nPerRow)
		for i := range w {
			switch kind {
			case "lognormal":
				w[i] = float32(math.Exp(rng.NormFloat64() * 2))
			case "ones":
				w[i] = 1
			case "sparse":
				if rng.IntN(4) == 0 {
					w[i] = float32(rng.Float64() * 100)
				}
			case "tiny":
				w[i] = float32(rng.Float64() * 1e-6)
			}
		}
		weightRows[kind] = w
	}
	type wcase struct {
		name string
		typ  Type
		x    []float32
		qw   []float32
	}
	var cases []wcase
	for xn, x := range inputs(4 * nPerRow) {
		for wn, qw := range weightRows {
			for _, typ := range []Type{Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS} {
				cases = append(cases, wcase{xn + "/" + wn, typ, x, qw})
			}
		}
	}
	bin := refBinary(t)
	var in bytes.Buffer
	for _, c := range cases {
		binary.Write(&in, binary.LittleEndian, [3]uint32{uint32(c.typ) | 0x40000000, uint32(len(c.x)), nPerRow})
		binary.Write(&in, binary.LittleEndian, c.x)
		binary.Write(&in, binary.LittleEndian, c.qw)
	}
	cmd := exec.Command(bin)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reference harness: %v", err)
	}
	r := bytes.NewReader(out)
	matched := 0
	for _, c := range cases {
		var nb uint32
		if err := binary.Read(r, binary.LittleEndian, &nb); err != nil {
			t.Fatal(err)
		}
		want := make([]byte, nb)
		if _, err := io.ReadFull(r, want); err != nil {
			t.Fatal(err)
		}
		rs, _ := c.typ.RowSize(len(c.x))
		got := make([]byte, rs)
		if err := QuantizeWeighted(c.typ, got, c.x, nPerRow, c.qw); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			ts := c.typ.TypeSize()
			for b := 0; b < rs; b += ts {
				if !bytes.Equal(got[b:b+ts], want[b:b+ts]) {
					t.Errorf("%s %s: block %d differs\n ours %x\n ggml %x", c.typ, c.name, b/ts, got[b:b+ts], want[b:b+ts])
					break
				}
			}
			continue
		}
		matched++
	}
	t.Logf("%d of %d weighted cases byte-identical with ggml", matched, len(cases))
	if err := QuantizeWeighted(IQ2_XXS, make([]byte, 66), make([]float32, 256), 256, make([]float32, 256)); err == nil {
		t.Error("QuantizeWeighted(IQ2_XXS) accepted: its weighted quantizer is not implemented")
	}
}
