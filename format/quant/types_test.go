package quant

import (
	"testing"

	"github.com/distill-ml/distill/num/kernels/qdot"
)

// The ggml type table has one owner, qdot: quant's Type is the same type, so
// a GGUF tensor's type goes to the kernels without a conversion, and both
// packages name and size every id alike (ggml.c's type_traits for IQ2_XXS:
// 256 elements in 66 bytes; Q4_K: 256 in 144).
func TestTypeIsQdotType(t *testing.T) {
	var k qdot.Type = Q4_K // does not compile while quant kept its own table
	for _, c := range []struct {
		typ        Type
		name       string
		block, siz int
	}{{k, "Q4_K", 256, 144}, {IQ2_XXS, "IQ2_XXS", 256, 66}, {Q5_0, "Q5_0", 32, 22}, {F16, "F16", 1, 2}} {
		if c.typ.String() != c.name || c.typ.BlockSize() != c.block || c.typ.TypeSize() != c.siz {
			t.Errorf("%d: %s %d %d, want %s %d %d", uint32(c.typ), c.typ, c.typ.BlockSize(), c.typ.TypeSize(), c.name, c.block, c.siz)
		}
		if p, err := ParseType(c.name); err != nil || p != c.typ {
			t.Errorf("ParseType(%q) = %v, %v", c.name, p, err)
		}
	}
	if s := Type(4).String(); s != "type(4)" || Type(4).Known() || Type(1<<20).Known() {
		t.Errorf("removed id 4: %q known=%v", s, Type(4).Known())
	}
}
