package infer

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/num/f16"
	"github.com/distill-ml/distill/num/kernels/qdot"
)

// ggmlVecHarness drives ggml's own vec.cpp (from the llama.cpp source that
// node-llama-cpp ships), compiled with the AVX-512 feature set of the
// libggml-cpu variant the prebuilt binary loads on AVX-512 machines. Each
// stdin line is "op n x₀ … [y₀ …]" as float32 bit patterns in hex; each
// stdout line the results as hex bit patterns.
const ggmlVecHarness = `
#include "vec.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
extern "C" { float ggml_table_f32_f16[1 << 16]; }
static float rd(void) { unsigned u; if (scanf("%x", &u) != 1) exit(2); float f; memcpy(&f, &u, 4); return f; }
static void wr(float f) { unsigned u; memcpy(&u, &f, 4); printf("%08x ", u); }
int main(void) {
  for (int i = 0; i < (1 << 16); i++) ggml_table_f32_f16[i] = _cvtsh_ss((unsigned short) i);
  char op[32]; int n;
  while (scanf("%31s %d", op, &n) == 2) {
    float *x = (float *) calloc(n + 64, 4), *y = (float *) calloc(n + 64, 4), *g = (float *) calloc(n + 64, 4);
    for (int i = 0; i < n; i++) x[i] = rd();
    if (!strcmp(op, "swiglu")) {
      for (int i = 0; i < n; i++) g[i] = rd();
      ggml_vec_swiglu_f32(n, y, x, g);
      for (int i = 0; i < n; i++) wr(y[i]);
    } else if (!strcmp(op, "softmax")) {
      float mx = -INFINITY;
      ggml_vec_max_f32(n, &mx, x);
      ggml_float s = ggml_vec_soft_max_f32(n, y, x, mx);
      ggml_vec_scale_f32(n, y, (float) (1.0 / s));
      for (int i = 0; i < n; i++) wr(y[i]);
    } else if (!strcmp(op, "dotf16")) {
      ggml_fp16_t *a = (ggml_fp16_t *) calloc(n + 64, 2), *b = (ggml_fp16_t *) calloc(n + 64, 2);
      for (int i = 0; i < n; i++) g[i] = rd();
      for (int i = 0; i < n; i++) { a[i] = GGML_CPU_FP32_TO_FP16(x[i]); b[i] = GGML_CPU_FP32_TO_FP16(g[i]); }
      float s;
      ggml_vec_dot_f16(n, &s, 0, a, 0, b, 0, 1);
      wr(s);
    }
    printf("\n");
    fflush(stdout);
  }
  return 0;
}
`

var vecHarness struct {
	once sync.Once
	bin  string
	err  error
}

// ggmlVecBinary compiles the harness once per test binary run. It needs an
// AVX-512 CPU (the variant whose arithmetic the runtime reproduces).
func ggmlVecBinary(t *testing.T) string {
	t.Helper()
	if !(cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL) {
		t.Skip("ggml's AVX-512 code paths need an AVX-512 CPU")
	}
	bundle := testpeers.LlamaCppBundle(t)
	if _, err := exec.LookPath("g++"); err != nil {
		t.Fatal("g++ is needed to compile ggml's vec.cpp")
	}
	vecHarness.once.Do(func() {
		dir, err := os.MkdirTemp("", "ggml-vec-*")
		if err != nil {
			vecHarness.err = err
			return
		}
		src := filepath.Join(dir, "llama.cpp")
		run := func(name string, args ...string) error {
			out, err := exec.Command(name, args...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s %v: %v\n%s", name, args, err, out)
			}
			return nil
		}
		if vecHarness.err = run("git", "clone", "-q", "--no-checkout", bundle, src); vecHarness.err != nil {
			return
		}
		if vecHarness.err = run("git", "-C", src, "checkout", "-q", "HEAD", "--", "ggml/include", "ggml/src"); vecHarness.err != nil {
			return
		}
		hc := filepath.Join(dir, "harness.cpp")
		if vecHarness.err = os.WriteFile(hc, []byte(ggmlVecHarness), 0o644); vecHarness.err != nil {
			return
		}
		g := filepath.Join(src, "ggml")
		bin := filepath.Join(dir, "harness")
		vecHarness.err = run("g++", "-O2", "-DNDEBUG", "-std=c++17",
			"-mavx2", "-mfma", "-mf16c", "-mbmi2", "-mavx512f", "-mavx512cd", "-mavx512vl", "-mavx512dq", "-mavx512bw",
			"-I", filepath.Join(g, "include"), "-I", filepath.Join(g, "src"), "-I", filepath.Join(g, "src", "ggml-cpu"),
			hc, filepath.Join(g, "src", "ggml-cpu", "vec.cpp"), "-o", bin)
		vecHarness.bin = bin
	})
	if vecHarness.err != nil {
		t.Fatalf("building ggml vec harness: %v", vecHarness.err)
	}
	return vecHarness.bin
}

// runVec sends one request per line and returns the harness's outputs.
func runVec(t *testing.T, lines []string) [][]uint32 {
	t.Helper()
	cmd := exec.Command(ggmlVecBinary(t))
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ggml vec harness: %v\n%s", err, errb.String())
	}
	var res [][]uint32
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var row []uint32
		for _, f := range strings.Fields(sc.Text()) {
			v, err := strconv.ParseUint(f, 16, 32)
			if err != nil {
				t.Fatalf("harness output %q: %v", f, err)
			}
			row = append(row, uint32(v))
		}
		res = append(res, row)
	}
	if len(res) != len(lines) {
		t.Fatalf("harness answered %d of %d requests", len(res), len(lines))
	}
	return res
}

func hexFloats(xs ...[]float32) string {
	var b strings.Builder
	for _, x := range xs {
		for _, v := range x {
			fmt.Fprintf(&b, " %08x", math.Float32bits(v))
		}
	}
	return b.String()
}

// The SiLU and softmax exponentials and sums are bit-identical to ggml's,
// over arguments spanning the polynomial's range, its overflow and underflow
// flushes, and softmax rows masked with −Inf as llama.cpp pads them.
func TestExactOpsMatchGGML(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with ggml: not in -short")
	}
	rng := rand.New(rand.NewSource(3))
	var lines []string
	type swi struct{ g, u []float32 }
	var swis []swi
	for _, n := range []int{16, 512, 1536, 37} {
		g, u := make([]float32, n), make([]float32, n)
		for i := range g {
			switch i % 7 {
			case 0:
				g[i] = float32(rng.NormFloat64() * 40) // exp(−x) over/underflows
			case 1:
				g[i] = float32(rng.NormFloat64() * 1e-3)
			default:
				g[i] = float32(rng.NormFloat64() * 3)
			}
			u[i] = float32(rng.NormFloat64())
		}
		swis = append(swis, swi{g, u})
		lines = append(lines, fmt.Sprintf("swiglu %d%s", n, hexFloats(g, u)))
	}
	var rows [][]float32 // visible scores; the C side sees them padded with −Inf to a multiple of 256
	for _, n := range []int{1, 2, 15, 16, 17, 100, 256, 300} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 6)
		}
		if n > 2 {
			x[n/2] = -150 // exp underflows to 0 (|n| > 192 path) against the max
		}
		rows = append(rows, x)
		padded := make([]float32, (n+255)/256*256)
		copy(padded, x)
		for i := n; i < len(padded); i++ {
			padded[i] = float32(math.Inf(-1))
		}
		lines = append(lines, fmt.Sprintf("softmax %d%s", len(padded), hexFloats(padded)))
	}
	type dot struct{ a, b []float32 }
	var dots []dot
	for _, n := range []int{64, 128, 96, 200, 256, 1000} {
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i] = f16.Float32(f16.Float16(float32(rng.NormFloat64())))
			b[i] = f16.Float32(f16.Float16(float32(rng.NormFloat64())))
		}
		dots = append(dots, dot{a, b})
		lines = append(lines, fmt.Sprintf("dotf16 %d%s", n, hexFloats(a, b)))
	}
	res := runVec(t, lines)
	k := 0
	for _, c := range swis {
		g := append([]float32(nil), c.g...)
		swiGLU(g, c.u)
		for i, v := range g {
			if math.Float32bits(v) != res[k][i] {
				t.Errorf("swiglu n=%d [%d] silu(%g)·%g: ours %g (%08x), ggml %g", len(g), i, c.g[i], c.u[i], v, math.Float32bits(v), math.Float32frombits(res[k][i]))
				break
			}
		}
		k++
	}
	for _, x := range rows {
		p := append([]float32(nil), x...)
		softmaxRow(p)
		for i, v := range p {
			if math.Float32bits(v) != res[k][i] {
				t.Errorf("softmax n=%d [%d] (score %g): ours %g, ggml %g", len(p), i, x[i], v, math.Float32frombits(res[k][i]))
				break
			}
		}
		k++
	}
	for _, d := range dots {
		w := make([]byte, 2*len(d.a))
		for i, v := range d.a {
			h := f16.Float16(v)
			w[2*i], w[2*i+1] = byte(h), byte(h>>8)
		}
		got := qdot.F16VecOrder(w, d.b, len(d.b), false)
		if math.Float32bits(got) != res[k][0] {
			t.Errorf("vec_dot_f16 n=%d: ours %g, ggml %g", len(d.a), got, math.Float32frombits(res[k][0]))
		}
		k++
	}
}
