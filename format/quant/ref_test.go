package quant

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/distill-ml/distill/internal/testpeers"
)

// The reference is ggml's own C code: ggml-quants.c from the llama.cpp
// source shipped in node-llama-cpp, compiled with gcc next to a small harness
// that reads (type, n, floats) records on stdin and writes the reference
// quantizer's bytes and the reference dequantizer's floats. It is compiled
// once per test run with -ffp-contract=off (no FMA contraction: the
// semantics of a generic x86-64 build of ggml, which is what the C source
// specifies operation by operation).

const harnessC = `
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include "ggml-quants.h"
#include "ggml-impl.h"

// Stubs for the four symbols ggml-quants.c links against outside the _ref paths.
void ggml_abort(const char * file, int line, const char * fmt, ...) { fprintf(stderr, "ggml_abort %s:%d\n", file, line); exit(3); }
size_t ggml_row_size(enum ggml_type type, int64_t ne) { // the types the weighted records use
	switch (type) {
	case GGML_TYPE_Q4_0: return ne / QK4_0 * sizeof(block_q4_0);
	case GGML_TYPE_Q4_1: return ne / QK4_1 * sizeof(block_q4_1);
	case GGML_TYPE_Q5_0: return ne / QK5_0 * sizeof(block_q5_0);
	case GGML_TYPE_Q5_1: return ne / QK5_1 * sizeof(block_q5_1);
	case GGML_TYPE_Q2_K: return ne / QK_K * sizeof(block_q2_K);
	case GGML_TYPE_Q3_K: return ne / QK_K * sizeof(block_q3_K);
	case GGML_TYPE_Q4_K: return ne / QK_K * sizeof(block_q4_K);
	case GGML_TYPE_Q5_K: return ne / QK_K * sizeof(block_q5_K);
	case GGML_TYPE_Q6_K: return ne / QK_K * sizeof(block_q6_K);
	default: ggml_abort(__FILE__, __LINE__, "stub"); return 0;
	}
}
size_t ggml_type_size(enum ggml_type type) { (void)type; ggml_abort(__FILE__, __LINE__, "stub"); return 0; }
const char * ggml_type_name(enum ggml_type type) { (void)type; return "stub"; }

static void rd(void * p, size_t sz, size_t n) { if (fread(p, sz, n, stdin) != n) { fprintf(stderr, "short read\n"); exit(4); } }

#include <time.h>

typedef void (*quantize_fn)(const float *, void *, int64_t);

// bench quantizes x iters times with the reference quantizer and returns seconds.
static double bench(uint32_t typ, const float * x, uint8_t * q, uint32_t n, uint32_t iters) {
	quantize_fn f = NULL;
	switch (typ) {
	case GGML_TYPE_Q8_0: f = (quantize_fn)quantize_row_q8_0_ref; break;
	case GGML_TYPE_Q4_0: f = (quantize_fn)quantize_row_q4_0_ref; break;
	case GGML_TYPE_Q5_0: f = (quantize_fn)quantize_row_q5_0_ref; break;
	case GGML_TYPE_Q5_1: f = (quantize_fn)quantize_row_q5_1_ref; break;
	case GGML_TYPE_Q2_K: f = (quantize_fn)quantize_row_q2_K_ref; break;
	case GGML_TYPE_Q3_K: f = (quantize_fn)quantize_row_q3_K_ref; break;
	case GGML_TYPE_Q4_K: f = (quantize_fn)quantize_row_q4_K_ref; break;
	case GGML_TYPE_Q5_K: f = (quantize_fn)quantize_row_q5_K_ref; break;
	case GGML_TYPE_Q6_K: f = (quantize_fn)quantize_row_q6_K_ref; break;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0); // CPU time: robust to a loaded machine
	for (uint32_t it = 0; it < iters; it++) {
		if (typ == GGML_TYPE_F16) {
			for (uint32_t i = 0; i < n; i++) ((ggml_fp16_t *)q)[i] = GGML_FP32_TO_FP16(x[i]);
		} else {
			f(x, q, n);
		}
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	return (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
}

int main(void) {
	uint32_t hdr[2];
	while (fread(hdr, 4, 2, stdin) == 2) {
		if (hdr[0] & 0x80000000u) { // bench record: type|flag, n, iters, floats → seconds (f64)
			uint32_t typ = hdr[0] & 0x7fffffffu, n = hdr[1], iters;
			rd(&iters, 4, 1);
			float * x = malloc(4 * (size_t)n);
			uint8_t * q = malloc(8 * (size_t)n + 64);
			rd(x, 4, n);
			double s = bench(typ, x, q, n, iters);
			fwrite(&s, 8, 1, stdout);
			free(x); free(q);
			continue;
		}
		if (hdr[0] & 0x40000000u) { // weighted record: type|flag, n, n_per_row, floats, n_per_row weights → bytes
			uint32_t typ = hdr[0] & 0x3fffffffu, n = hdr[1], npr;
			rd(&npr, 4, 1);
			float * x = malloc(4 * (size_t)n), * qw = malloc(4 * (size_t)npr);
			uint8_t * q = malloc(8 * (size_t)n + 64);
			rd(x, 4, n); rd(qw, 4, npr);
			size_t nb = 0;
			switch (typ) {
			case GGML_TYPE_Q4_0: nb = quantize_q4_0(x, q, n / npr, npr, qw); break;
			case GGML_TYPE_Q4_1: nb = quantize_q4_1(x, q, n / npr, npr, qw); break;
			case GGML_TYPE_IQ4_NL: nb = quantize_iq4_nl(x, q, n / npr, npr, qw); break;
			case GGML_TYPE_IQ4_XS: nb = quantize_iq4_xs(x, q, n / npr, npr, qw); break;
			case GGML_TYPE_Q5_0: nb = quantize_q5_0(x, q, n / npr, npr, qw); break;
			case GGML_TYPE_Q5_1: nb = quantize_q5_1(x, q, n / npr, npr, qw); break;
			case GGML_TYPE_Q2_K: nb = quantize_q2_K(x, q, n / npr, npr, qw); break;
			case GGML_TYPE_Q3_K: nb = quantize_q3_K(x, q, n / npr, npr, qw); break;
			case GGML_TYPE_Q4_K: nb = quantize_q4_K(x, q, n / npr, npr, qw); break;
			case GGML_TYPE_Q5_K: nb = quantize_q5_K(x, q, n / npr, npr, qw); break;
			case GGML_TYPE_Q6_K: nb = quantize_q6_K(x, q, n / npr, npr, qw); break;
			default: fprintf(stderr, "unsupported weighted type %u\n", typ); return 5;
			}
			uint32_t nb32 = (uint32_t)nb;
			fwrite(&nb32, 4, 1, stdout);
			fwrite(q, 1, nb, stdout);
			free(x); free(qw); free(q);
			continue;
		}
		uint32_t typ = hdr[0], n = hdr[1];
		float * x = malloc(4 * (size_t)n), * y = malloc(4 * (size_t)n);
		uint8_t * q = malloc(8 * (size_t)n + 64);
		rd(x, 4, n);
		size_t nb = 0;
		switch (typ) {
		case GGML_TYPE_F16:
			for (uint32_t i = 0; i < n; i++) ((ggml_fp16_t *)q)[i] = GGML_FP32_TO_FP16(x[i]);
			for (uint32_t i = 0; i < n; i++) y[i] = GGML_FP16_TO_FP32(((ggml_fp16_t *)q)[i]);
			nb = 2 * (size_t)n; break;
		case GGML_TYPE_Q8_0: quantize_row_q8_0_ref(x, (block_q8_0 *)q, n); dequantize_row_q8_0((block_q8_0 *)q, y, n); nb = n / QK8_0 * sizeof(block_q8_0); break;
		case GGML_TYPE_Q4_0: quantize_row_q4_0_ref(x, (block_q4_0 *)q, n); dequantize_row_q4_0((block_q4_0 *)q, y, n); nb = n / QK4_0 * sizeof(block_q4_0); break;
		case GGML_TYPE_Q4_1: quantize_row_q4_1_ref(x, (block_q4_1 *)q, n); dequantize_row_q4_1((block_q4_1 *)q, y, n); nb = n / QK4_1 * sizeof(block_q4_1); break;
		case GGML_TYPE_Q5_0: quantize_row_q5_0_ref(x, (block_q5_0 *)q, n); dequantize_row_q5_0((block_q5_0 *)q, y, n); nb = n / QK5_0 * sizeof(block_q5_0); break;
		// IQ4_NL: what ggml_quantize_chunk (llama-quantize) runs without an imatrix; the flagged record is quantize_row_iq4_nl_ref.
		case GGML_TYPE_IQ4_NL: quantize_iq4_nl(x, q, 1, n, NULL); dequantize_row_iq4_nl((block_iq4_nl *)q, y, n); nb = n / QK4_NL * sizeof(block_iq4_nl); break;
		case 0x10000000u | GGML_TYPE_IQ4_NL: quantize_row_iq4_nl_ref(x, (block_iq4_nl *)q, n); dequantize_row_iq4_nl((block_iq4_nl *)q, y, n); nb = n / QK4_NL * sizeof(block_iq4_nl); break;
		case GGML_TYPE_IQ4_XS: quantize_row_iq4_xs_ref(x, (block_iq4_xs *)q, n); dequantize_row_iq4_xs((block_iq4_xs *)q, y, n); nb = n / QK_K * sizeof(block_iq4_xs); break;
		case GGML_TYPE_Q5_1: quantize_row_q5_1_ref(x, (block_q5_1 *)q, n); dequantize_row_q5_1((block_q5_1 *)q, y, n); nb = n / QK5_1 * sizeof(block_q5_1); break;
		case GGML_TYPE_Q2_K: quantize_row_q2_K_ref(x, (block_q2_K *)q, n); dequantize_row_q2_K((block_q2_K *)q, y, n); nb = n / QK_K * sizeof(block_q2_K); break;
		case GGML_TYPE_Q3_K: quantize_row_q3_K_ref(x, (block_q3_K *)q, n); dequantize_row_q3_K((block_q3_K *)q, y, n); nb = n / QK_K * sizeof(block_q3_K); break;
		case GGML_TYPE_Q4_K: quantize_row_q4_K_ref(x, (block_q4_K *)q, n); dequantize_row_q4_K((block_q4_K *)q, y, n); nb = n / QK_K * sizeof(block_q4_K); break;
		case GGML_TYPE_Q5_K: quantize_row_q5_K_ref(x, (block_q5_K *)q, n); dequantize_row_q5_K((block_q5_K *)q, y, n); nb = n / QK_K * sizeof(block_q5_K); break;
		case GGML_TYPE_Q6_K: quantize_row_q6_K_ref(x, (block_q6_K *)q, n); dequantize_row_q6_K((block_q6_K *)q, y, n); nb = n / QK_K * sizeof(block_q6_K); break;
		default: fprintf(stderr, "unsupported type %u\n", typ); return 5;
		}
		uint32_t nb32 = (uint32_t)nb;
		fwrite(&nb32, 4, 1, stdout);
		fwrite(q, 1, nb, stdout);
		fwrite(y, 4, n, stdout);
		free(x); free(y); free(q);
	}
	return 0;
}
`

// harness is ggml's reference quantizers with harnessC's driver.
var harness testpeers.BuildOnce

func TestMain(m *testing.M) { os.Exit(harness.Run(m)) }

// refBinary extracts ggml's sources from the llama.cpp bundle and compiles
// the harness, once per test binary run.
func refBinary(t testing.TB) string {
	t.Helper()
	bundle := testpeers.LlamaCppBundle(t)
	return harness.Program(t, "ggml reference harness", func(dir string) (string, error) {
		src := filepath.Join(dir, "llama.cpp")
		if err := testpeers.CheckoutLlamaSources(bundle, src, "ggml/include",
			"ggml/src/ggml-quants.c", "ggml/src/ggml-quants.h", "ggml/src/ggml-common.h",
			"ggml/src/ggml-impl.h", "ggml/src/ggml-cpu/ggml-cpu-impl.h"); err != nil {
			return "", err
		}
		return testpeers.CompileC(dir, "harness", harnessC,
			[]string{"-O2", "-DNDEBUG", "-ffp-contract=off", "-std=gnu11",
				"-I", filepath.Join(src, "ggml/include"), "-I", filepath.Join(src, "ggml/src")},
			[]string{filepath.Join(src, "ggml/src/ggml-quants.c"), "-lm"})
	})
}

type refCase struct {
	name string
	typ  Type
	x    []float32
}

type refResult struct {
	q []byte
	y []float32
}

// runRef runs all cases through the C reference in one process.
func runRef(t *testing.T, cases []refCase) []refResult {
	t.Helper()
	bin := refBinary(t)
	var in bytes.Buffer
	for _, c := range cases {
		binary.Write(&in, binary.LittleEndian, [2]uint32{uint32(c.typ), uint32(len(c.x))})
		binary.Write(&in, binary.LittleEndian, c.x)
	}
	r := bytes.NewReader(testpeers.Output(t, "reference harness", exec.Command(bin), in.Bytes()))
	res := make([]refResult, len(cases))
	for i, c := range cases {
		var nb uint32
		if err := binary.Read(r, binary.LittleEndian, &nb); err != nil {
			t.Fatalf("case %s: %v", c.name, err)
		}
		res[i].q = make([]byte, nb)
		res[i].y = make([]float32, len(c.x))
		if _, err := io.ReadFull(r, res[i].q); err != nil {
			t.Fatal(err)
		}
		if err := binary.Read(r, binary.LittleEndian, res[i].y); err != nil {
			t.Fatal(err)
		}
	}
	return res
}

// inputs are random rows plus adversarial ones: zeros, constants, huge and
// tiny magnitudes (fp16 overflow/underflow of the block scales, float32
// subnormals), outliers, exact rounding ties, one-signed rows, equal
// magnitudes of opposite sign, sparse rows.
func inputs(n int) map[string][]float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	gauss := func(scale float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * scale)
		}
		return x
	}
	fill := func(f func(i int) float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = f(i)
		}
		return x
	}
	m := map[string][]float32{
		"gauss1":      gauss(1),
		"gauss0.02":   gauss(0.02),
		"gauss0.02b":  gauss(0.02),
		"gauss300":    gauss(300),
		"zeros":       make([]float32, n),
		"const+":      fill(func(int) float32 { return 0.5 }),
		"const-":      fill(func(int) float32 { return -3 }),
		"huge1e6":     gauss(1e6),
		"huge1e30":    gauss(1e30),
		"tiny1e-8":    gauss(1e-8),
		"tiny1e-30":   gauss(1e-30),
		"subnormal":   gauss(1e-40),
		"uniform+":    fill(func(int) float32 { return rng.Float32() }),
		"uniform-":    fill(func(int) float32 { return -rng.Float32() - 0.25 }),
		"ties":        fill(func(int) float32 { return float32(rng.IntN(33)-16) / 8 }),
		"ties2":       fill(func(int) float32 { return float32(rng.IntN(129)-64) / 16 }),
		"alternating": fill(func(i int) float32 { return float32(1 - 2*(i%2)) }),
		"one-hot":     fill(func(i int) float32 { return map[bool]float32{true: 7.25}[i%97 == 3] }),
		"sparse":      fill(func(i int) float32 { return map[bool]float32{true: float32(rng.NormFloat64())}[rng.IntN(9) == 0] }),
	}
	out := gauss(0.05)
	for i := 0; i < n; i += 61 {
		out[i] = float32(100 * (1 - 2*float64(i%2)))
	}
	m["outliers"] = out
	ramp := fill(func(i int) float32 { return float32(i%256)/255 - 0.3 })
	m["ramp"] = ramp
	return m
}

var refTypes = []Type{F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS}

func TestBitExactWithGGML(t *testing.T) {
	if testing.Short() {
		t.Skip("compares every type with ggml: not in -short")
	}
	var cases []refCase
	for name, x := range inputs(1024) {
		for _, typ := range refTypes {
			cases = append(cases, refCase{name, typ, x})
		}
	}
	big := make([]float32, 64*1024)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range big {
		big[i] = float32(rng.NormFloat64() * 0.03)
	}
	for _, typ := range refTypes {
		cases = append(cases, refCase{"gauss-64k", typ, big})
	}
	ref := runRef(t, cases)
	matched := map[Type]int{}
	for i, c := range cases {
		rs, _ := c.typ.RowSize(len(c.x))
		got := make([]byte, rs)
		if err := Quantize(c.typ, got, c.x); err != nil {
			t.Fatal(err)
		}
		if len(ref[i].q) != rs {
			t.Fatalf("%s/%s: reference wrote %d bytes, we %d", c.typ, c.name, len(ref[i].q), rs)
		}
		if !bytes.Equal(got, ref[i].q) {
			ts := c.typ.TypeSize()
			for b := 0; b < rs; b += ts {
				if !bytes.Equal(got[b:b+ts], ref[i].q[b:b+ts]) {
					t.Errorf("%s/%s: block %d differs\n ours %x\n ggml %x", c.typ, c.name, b/ts, got[b:b+ts], ref[i].q[b:b+ts])
					break
				}
			}
			continue
		}
		// Our dequantizer on ggml's bytes gives ggml's floats, bit for bit.
		y := make([]float32, len(c.x))
		if err := Dequantize(c.typ, y, ref[i].q); err != nil {
			t.Fatal(err)
		}
		for j := range y {
			if math.Float32bits(y[j]) != math.Float32bits(ref[i].y[j]) && !(isNaN(y[j]) && isNaN(ref[i].y[j])) {
				t.Errorf("%s/%s: dequantized element %d: ours %g, ggml %g", c.typ, c.name, j, y[j], ref[i].y[j])
				break
			}
		}
		// The parallel path gives the same bytes.
		par := make([]byte, rs)
		if err := QuantizeParallel(c.typ, par, c.x); err != nil || !bytes.Equal(par, got) {
			t.Errorf("%s/%s: QuantizeParallel differs from Quantize (%v)", c.typ, c.name, err)
		}
		matched[c.typ]++
	}
	t.Logf("byte-identical with ggml-quants.c (cases per type): %v", matched)
}

func isNaN(f float32) bool { return f != f }

// TestErrorStats round-trips Gaussian weights through every type and reports
// RMSE and max error relative to σ; the bounds are loose sanity limits that a
// broken packer or scale would blow through.
func TestErrorStats(t *testing.T) {
	const n = 256 * 256
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	bounds := map[Type][2]float64{ // max relative RMSE, max relative max-error
		F32: {0, 0}, F16: {3e-4, 3e-3}, Q8_0: {0.006, 0.02}, Q6_K: {0.02, 0.08},
		Q5_0: {0.05, 0.25}, Q5_1: {0.05, 0.25}, Q5_K: {0.045, 0.25}, Q4_0: {0.11, 0.45}, Q4_K: {0.08, 0.35},
	}
	for _, typ := range []Type{F32, F16, Q8_0, Q6_K, Q5_K, Q5_1, Q5_0, Q4_K, Q4_0} {
		rs, _ := typ.RowSize(n)
		q := make([]byte, rs)
		if err := Quantize(typ, q, x); err != nil {
			t.Fatal(err)
		}
		y := make([]float32, n)
		if err := Dequantize(typ, y, q); err != nil {
			t.Fatal(err)
		}
		var se, maxe float64
		for i := range x {
			e := math.Abs(float64(y[i]) - float64(x[i]))
			se += e * e
			maxe = math.Max(maxe, e)
		}
		rmse := math.Sqrt(se / n)
		t.Logf("%-5s %6.3f bits/weight  RMSE %.5f  max err %.5f  (σ = 1)", typ, float64(rs*8)/n, rmse, maxe)
		if b := bounds[typ]; rmse > b[0] || maxe > b[1] {
			t.Errorf("%s: RMSE %.5f (bound %g), max error %.5f (bound %g)", typ, rmse, b[0], maxe, b[1])
		}
	}
}

func TestQuantizeRejectsBadSizes(t *testing.T) {
	if err := Quantize(Q4_K, make([]byte, 144), make([]float32, 255)); err == nil {
		t.Error("255 elements accepted for Q4_K")
	}
	if err := Quantize(Q8_0, make([]byte, 33), make([]float32, 32)); err == nil {
		t.Error("wrong dst size accepted")
	}
	if err := Quantize(IQ2_XXS, make([]byte, 66), make([]float32, 256)); err == nil {
		t.Error("unsupported type accepted")
	}
	if err := Dequantize(Q6_K, make([]float32, 256), make([]byte, 209)); err == nil {
		t.Error("short src accepted")
	}
}

// FuzzQuantize feeds arbitrary float32 bit patterns (NaN, ±Inf, subnormals
// included) to every quantizer: no panic, the parallel path gives the same
// bytes, and dequantization accepts the result.
func FuzzQuantize(f *testing.F) {
	f.Add(make([]byte, 4*256))
	seed := make([]byte, 4*512)
	for i := range seed {
		seed[i] = byte(i * 37)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		n := len(b) / 4 / QK_K * QK_K
		if n == 0 || n > 2048 {
			return
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		for _, typ := range append([]Type{F32}, refTypes...) {
			rs, _ := typ.RowSize(n)
			q, p := make([]byte, rs), make([]byte, rs)
			if err := Quantize(typ, q, x); err != nil {
				t.Fatal(err)
			}
			if err := QuantizeParallel(typ, p, x); err != nil || !bytes.Equal(q, p) {
				t.Fatalf("%s: parallel differs (%v)", typ, err)
			}
			if err := Dequantize(typ, make([]float32, n), q); err != nil {
				t.Fatal(err)
			}
		}
	})
}
