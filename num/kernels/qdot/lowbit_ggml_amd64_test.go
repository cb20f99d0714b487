package qdot

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/distill-ml/distill/internal/testpeers"
)

// The reference for the Q5_1, Q4_1, Q3_K, Q2_K, IQ4_NL and IQ4_XS dot products is the code
// llama.cpp runs: ggml-cpu's arch/x86/quants.c (activation quantizers and
// ggml_vec_dot_*) from the llama.cpp source shipped in node-llama-cpp, built
// with gcc for AVX2+FMA+F16C in C's gnu11 mode as ggml's CMake builds it
// (so GCC contracts a*b+c into FMA where ggml's prebuilt CPU backends do).
const vecDotHarnessC = `
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include "ggml-common.h"
#include "ggml-impl.h"
#include "ggml-cpu/quants.h"

float ggml_table_f32_f16[1 << 16];
float ggml_table_f32_e8m0_half[1 << 8];
float ggml_table_f32_ue4m3[1 << 8];
void ggml_abort(const char * file, int line, const char * fmt, ...) { fprintf(stderr, "ggml_abort %s:%d\n", file, line); exit(3); }
size_t ggml_row_size(enum ggml_type type, int64_t ne) { (void)type; (void)ne; ggml_abort(__FILE__, __LINE__, "stub"); return 0; }
size_t ggml_type_size(enum ggml_type type) { (void)type; ggml_abort(__FILE__, __LINE__, "stub"); return 0; }
const char * ggml_type_name(enum ggml_type type) { (void)type; return "stub"; }

static void rd(void * p, size_t sz, size_t n) { if (fread(p, sz, n, stdin) != n) { fprintf(stderr, "short read\n"); exit(4); } }

// records: type, n, weight bytes, n floats -> activation bytes, dot (f32)
int main(void) {
	// ggml_cpu_init's table, which GGML_CPU_FP16_TO_FP32 reads on x86
	for (uint32_t i = 0; i < (1 << 16); i++) ggml_table_f32_f16[i] = GGML_COMPUTE_FP16_TO_FP32((uint16_t)i);
	uint32_t hdr[3];
	while (fread(hdr, 4, 3, stdin) == 3) {
		uint32_t typ = hdr[0], n = hdr[1], wb = hdr[2];
		uint8_t * w = malloc(wb);
		float * x = malloc(4 * (size_t)n);
		uint8_t * a = malloc(2 * (size_t)n + 64);
		rd(w, 1, wb); rd(x, 4, n);
		memset(a, 0, 2 * (size_t)n + 64); // quantize_row_q8_K_ref leaves an all-zero block's bsums unset
		float s = 0; size_t ab = 0;
		switch (typ) {
		case GGML_TYPE_Q4_1: quantize_row_q8_1(x, a, n); ab = n / 32 * sizeof(block_q8_1); ggml_vec_dot_q4_1_q8_1(n, &s, 0, w, 0, a, 0, 1); break;
		case GGML_TYPE_IQ4_NL: quantize_row_q8_0(x, a, n); ab = n / 32 * sizeof(block_q8_0); ggml_vec_dot_iq4_nl_q8_0(n, &s, 0, w, 0, a, 0, 1); break;
		case GGML_TYPE_IQ4_XS: quantize_row_q8_K(x, a, n); ab = n / 256 * sizeof(block_q8_K); ggml_vec_dot_iq4_xs_q8_K(n, &s, 0, w, 0, a, 0, 1); break;
		case GGML_TYPE_Q5_1: quantize_row_q8_1(x, a, n); ab = n / 32 * sizeof(block_q8_1); ggml_vec_dot_q5_1_q8_1(n, &s, 0, w, 0, a, 0, 1); break;
		case GGML_TYPE_Q3_K: quantize_row_q8_K(x, a, n); ab = n / 256 * sizeof(block_q8_K); ggml_vec_dot_q3_K_q8_K(n, &s, 0, w, 0, a, 0, 1); break;
		case GGML_TYPE_Q2_K: quantize_row_q8_K(x, a, n); ab = n / 256 * sizeof(block_q8_K); ggml_vec_dot_q2_K_q8_K(n, &s, 0, w, 0, a, 0, 1); break;
		default: fprintf(stderr, "unsupported type %u\n", typ); return 5;
		}
		uint32_t ab32 = (uint32_t)ab;
		fwrite(&ab32, 4, 1, stdout);
		fwrite(a, 1, ab, stdout);
		fwrite(&s, 4, 1, stdout);
		free(w); free(x); free(a);
	}
	return 0;
}
`

func buildVecDotHarness(t *testing.T) string {
	t.Helper()
	bundle := testpeers.LlamaCppBundle(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "llama.cpp")
	if err := testpeers.CheckoutLlamaSources(bundle, src, "ggml/include", "ggml/src/ggml-quants.c", "ggml/src/ggml-quants.h",
		"ggml/src/ggml-common.h", "ggml/src/ggml-impl.h", "ggml/src/ggml-cpu"); err != nil {
		t.Fatal(err)
	}
	g := filepath.Join(src, "ggml")
	bin, err := testpeers.CompileC(dir, "vecdot", vecDotHarnessC,
		[]string{"-O3", "-std=gnu11", "-mavx2", "-mfma", "-mf16c", "-mbmi2", "-DNDEBUG",
			"-I", filepath.Join(g, "include"), "-I", filepath.Join(g, "src"), "-I", filepath.Join(g, "src", "ggml-cpu")},
		[]string{filepath.Join(g, "src", "ggml-cpu", "arch", "x86", "quants.c"), filepath.Join(g, "src", "ggml-quants.c"), "-lm"})
	if err != nil {
		t.Fatalf("building ggml's x86 dot products: %v", err)
	}
	return bin
}

// TestLowBitDotsMatchGGML: for Q5_1, Q4_1, Q3_K, Q2_K, IQ4_NL and IQ4_XS weights
// (IQ4_NL rows of an odd block count take ggml's scalar tail), the runtime's
// activation blocks and dot products equal ggml's x86 code bit for bit, on
// random and adversarial rows, through every implementation (they share
// the portable code) and through Matrix.MulVec.
func TestLowBitDotsMatchGGML(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ggml's x86 dot products with gcc: not in -short")
	}
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA || !cpu.X86.HasF16C {
		t.Skip("the reference build needs AVX2+FMA+F16C to run")
	}
	bin := buildVecDotHarness(t)
	rng := rand.New(rand.NewSource(5))
	type tc struct {
		name string
		typ  Type
		n    int
		w    []byte
		x    []float32
	}
	var cases []tc
	for _, typ := range []Type{Q5_1, Q4_1, Q3_K, Q2_K, IQ4_NL, IQ4_XS} {
		for i := 0; i < 40; i++ {
			n := typ.BlockSize() * (1 + rng.Intn(8))
			adv := i%4 == 3
			w := randomRow(rng, typ, n, adv)
			_, x := randomActivations(rng, typ, n, adv)
			cases = append(cases, tc{fmt.Sprintf("%s/%d", typ, i), typ, n, w, x})
		}
	}
	var in bytes.Buffer
	for _, c := range cases {
		binary.Write(&in, binary.LittleEndian, [3]uint32{uint32(c.typ), uint32(c.n), uint32(len(c.w))})
		in.Write(c.w)
		binary.Write(&in, binary.LittleEndian, c.x)
	}
	r := bytes.NewReader(testpeers.Output(t, "ggml dot harness", exec.Command(bin), in.Bytes()))
	for _, c := range cases {
		var ab uint32
		binary.Read(r, binary.LittleEndian, &ab)
		act := make([]byte, ab)
		r.Read(act)
		var want float32
		binary.Read(r, binary.LittleEndian, &want)
		ours := QuantizeActivations(c.typ, c.x, nil)
		if !bytes.Equal(ours, act) {
			t.Errorf("%s: activation blocks differ from ggml's\n ours %x\n ggml %x", c.name, ours[:min(len(ours), 40)], act[:min(len(act), 40)])
			continue
		}
		for _, k := range impls() {
			m, err := NewMatrix(c.typ, 1, c.n, c.w)
			if err != nil {
				t.Fatal(err)
			}
			dst := make([]float32, 1)
			m.mulBatch(k, nil, dst, c.x, 1, nil)
			if math.Float32bits(dst[0]) != math.Float32bits(want) {
				t.Errorf("%s (%s): dot %v, ggml %v", c.name, k.name, dst[0], want)
			}
		}
	}
}
