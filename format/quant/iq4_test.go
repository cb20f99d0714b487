package quant

import (
	"bytes"
	"testing"
)

// TestIQ4_NLRefWithGGML: with no scale search (ntry −1) the IQ4_NL
// quantizer gives the bytes of ggml's quantize_row_iq4_nl_ref, which
// llama-quantize does not run (its quantize_iq4_nl searches 15 scales, what
// Quantize does; TestBitExactWithGGML checks that). An all-zero first block
// is left out: the C code then packs its caller's uninitialized levels.
func TestIQ4_NLRefWithGGML(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with ggml: not in -short")
	}
	const refFlag = 0x10000000 // the harness's quantize_row_iq4_nl_ref record
	var cases []refCase
	for name, x := range inputs(1024) {
		var amax float32
		for _, v := range x[:32] {
			amax = max(amax, abs32(v))
		}
		if amax < groupMaxEps {
			continue
		}
		cases = append(cases, refCase{name, IQ4_NL | refFlag, x})
	}
	ref := runRef(t, cases)
	for i, c := range cases {
		got := make([]byte, len(c.x)/32*18)
		quantizeIQ4Row(IQ4_NL, got, c.x, nil, -1)
		if !bytes.Equal(got, ref[i].q) {
			for b := 0; b < len(got); b += 18 {
				if !bytes.Equal(got[b:b+18], ref[i].q[b:b+18]) {
					t.Errorf("%s: block %d differs\n ours %x\n ggml %x", c.name, b/18, got[b:b+18], ref[i].q[b:b+18])
					break
				}
			}
		}
	}
	t.Logf("%d inputs compared with quantize_row_iq4_nl_ref", len(cases))
}
