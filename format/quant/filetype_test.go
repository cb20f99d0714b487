package quant

import "testing"

func TestFileTypeNamesRoundTrip(t *testing.T) {
	// llama.cpp's llama_ftype values (include/llama.h).
	want := map[string]uint32{"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "q4_k_s": 14, "q4_k_m": 15,
		"q5_k_s": 16, "q5_k_m": 17, "q6_k": 18, "q3_k_s": 11, "q3_k_m": 12, "q2_k": 10,
		"iq4_nl": 25, "iq4_xs": 30}
	if got := FileTypeNames(); len(got) != len(want) {
		t.Fatalf("FileTypeNames() = %v, want the %d names of %v", got, len(want), want)
	}
	for name, ftype := range want {
		f, err := ParseFileType(name)
		if err != nil {
			t.Fatal(err)
		}
		if f.String() != name || f.GGUFFileType() != ftype {
			t.Errorf("%s: String %q, GGUFFileType %d; want %d", name, f, f.GGUFFileType(), ftype)
		}
		if g, ok := FileTypeOfGGUF(uint64(ftype)); !ok || g != f {
			t.Errorf("FileTypeOfGGUF(%d) = %v, %v; want %v", ftype, g, ok, f)
		}
	}
	if _, ok := FileTypeOfGGUF(3); ok {
		t.Error("FileTypeOfGGUF(3) (Q4_1, not written by distill) reported known")
	}
	if _, err := ParseFileType("q4_1"); err == nil {
		t.Error("ParseFileType(q4_1) accepted")
	}
}

// llama-quantize's Q4_K and Q5_K are aliases of the _M mixes
// (tools/quantize/quantize.cpp QUANT_OPTIONS), not pure files.
func TestFileTypeAliasesAreLlamaQuantizes(t *testing.T) {
	for alias, want := range map[string]FileType{"q4_k": FileQ4_K_M, "Q4_K": FileQ4_K_M, "q5_k": FileQ5_K_M, "q3_k": FileQ3_K_M, "Q4_K_M": FileQ4_K_M} {
		got, err := ParseFileType(alias)
		if err != nil || got != want {
			t.Errorf("ParseFileType(%q) = %v, %v; want %v", alias, got, err, want)
		}
	}
}
