package student

import (
	"math"
	"math/rand"
	"slices"
	"testing"
)

// TestRopeLayoutPermutation pins the row order by hand: with head size 4,
// Hugging Face pairs rows (0, 2) and (1, 3) of a head, the student (0, 1)
// and (2, 3), so HF rows [a b c d] become [a c b d] — llama.cpp's
// convert_hf_to_gguf permute, w.reshape(heads, 2, hd/2, …).swapaxes(1, 2).
func TestRopeLayoutPermutation(t *testing.T) {
	hf := []float32{
		10, 11, 12, 13, // head 0: rows a b c d, two columns each
		20, 21, 22, 23,
		30, 31, 32, 33, // head 1
		40, 41, 42, 43,
	}
	// Rows of 2 columns: head 0 rows are (10,11) (12,13) (20,21) (22,23).
	want := []float32{
		10, 11, 20, 21, 12, 13, 22, 23,
		30, 31, 40, 41, 32, 33, 42, 43,
	}
	got, err := RotateHalfToInterleaved(hf, 2, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("interleaved %v, want %v", got, want)
	}
	back, err := InterleavedToRotateHalf(got, 2, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back, hf) {
		t.Fatalf("round trip %v, want %v", back, hf)
	}
	if _, err := RotateHalfToInterleaved(hf, 2, 3, 2); err == nil {
		t.Fatal("odd head size accepted")
	}
	if _, err := InterleavedToRotateHalf(hf[:15], 2, 4, 2); err == nil {
		t.Fatal("short tensor accepted")
	}
}

// TestRopeLayoutEquivalence: rotating a permuted head with the student's
// interleaved RoPE equals permuting Hugging Face's rotate-half RoPE of it
// (q·cos + rotate_half(q)·sin), for any head size and position.
func TestRopeLayoutEquivalence(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, hd := range []int{2, 8, 16} {
		q := make([]float32, hd)
		for i := range q {
			q[i] = float32(rng.NormFloat64())
		}
		pos := 5.0
		freq := func(i int) float64 { return math.Pow(10000, -2*float64(i)/float64(hd)) }
		// Hugging Face: pair (i, i+hd/2) at frequency i.
		hfRot := make([]float32, hd)
		for i := 0; i < hd/2; i++ {
			c, s := math.Cos(pos*freq(i)), math.Sin(pos*freq(i))
			x0, x1 := float64(q[i]), float64(q[i+hd/2])
			hfRot[i], hfRot[i+hd/2] = float32(x0*c-x1*s), float32(x1*c+x0*s)
		}
		inter, err := RotateHalfToInterleaved(q, 1, hd, 1)
		if err != nil {
			t.Fatal(err)
		}
		// Student: pair (2i, 2i+1) at frequency i.
		stRot := make([]float32, hd)
		for i := 0; i < hd/2; i++ {
			c, s := math.Cos(pos*freq(i)), math.Sin(pos*freq(i))
			x0, x1 := float64(inter[2*i]), float64(inter[2*i+1])
			stRot[2*i], stRot[2*i+1] = float32(x0*c-x1*s), float32(x0*s+x1*c)
		}
		want, _ := RotateHalfToInterleaved(hfRot, 1, hd, 1)
		if !slices.Equal(stRot, want) {
			t.Fatalf("head size %d: student %v, permuted HF %v", hd, stRot, want)
		}
	}
}
