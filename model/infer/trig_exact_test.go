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
	"testing"
)

// libmSinCos is the system C library's sinf/cosf — the functions
// llama.cpp's RoPE calls on this machine — over the given arguments.
func libmSinCos(t *testing.T, xs []float32) (sin, cos []float32) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Fatal("gcc is needed to call the C library's sinf/cosf")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "trig.c")
	prog := `#include <math.h>
#include <stdio.h>
#include <string.h>
int main(void) {
  unsigned u;
  while (scanf("%x", &u) == 1) {
    float x, s, c; memcpy(&x, &u, 4);
    s = sinf(x); c = cosf(x);
    unsigned a, b; memcpy(&a, &s, 4); memcpy(&b, &c, 4);
    printf("%08x %08x\n", a, b);
  }
  return 0;
}
`
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "trig")
	if out, err := exec.Command("gcc", "-O2", src, "-lm", "-o", bin).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	var in strings.Builder
	for _, x := range xs {
		fmt.Fprintf(&in, "%08x\n", math.Float32bits(x))
	}
	cmd := exec.Command(bin)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		a, _ := strconv.ParseUint(f[0], 16, 32)
		b, _ := strconv.ParseUint(f[1], 16, 32)
		sin = append(sin, math.Float32frombits(uint32(a)))
		cos = append(cos, math.Float32frombits(uint32(b)))
	}
	if len(sin) != len(xs) {
		t.Fatalf("libm answered %d of %d arguments", len(sin), len(xs))
	}
	return sin, cos
}

// sinCosf32 gives the C library's bits for every RoPE angle of long contexts
// (the fast reduction below 120 and the 4/π one above) and for random
// arguments across the float range.
func TestSinCosMatchesLibm(t *testing.T) {
	var xs []float32
	for _, base := range []float64{10000, 500000} {
		for _, dim := range []int{64, 128} {
			ts := float32(math.Pow(float64(float32(base)), float64(float32(-2.0)/float32(dim))))
			for p := 0; p < 4096; p += 3 {
				th := float32(p)
				for i := 0; i < dim/2; i++ {
					xs = append(xs, th)
					th *= ts
				}
			}
		}
	}
	rng := rand.New(rand.NewSource(8))
	for i := 0; i < 100000; i++ {
		xs = append(xs, float32((rng.Float64()*2-1)*math.Pow(2, float64(rng.Intn(40)-20))))
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), 1e-30, 0x1p-12, float32(math.Pi/4), 119.99, 120, 1e30, -1e30)
	sin, cos := libmSinCos(t, xs)
	bad := 0
	for i, x := range xs {
		s, c := sinCosf32(x)
		if math.Float32bits(s) != math.Float32bits(sin[i]) || math.Float32bits(c) != math.Float32bits(cos[i]) {
			if bad++; bad <= 5 {
				t.Errorf("sin/cos(%g): ours %g %g, libm %g %g", x, s, c, sin[i], cos[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d arguments differ", bad, len(xs))
	}
}
