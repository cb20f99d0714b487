package qdot

import (
	"encoding/binary"
	"math"
	"math/rand"
	"testing"

	"github.com/distill-ml/distill/num/parallel"
)

// f32RowsWidths covers whole blocks only (64, 256, 576, 1536), blocks plus
// a leftover (65, 100, 688: 688 = 10·64 + 48), and widths under one block.
var f32RowsWidths = []int{1, 31, 32, 63, 64, 65, 96, 100, 256, 576, 688, 1536}

// randF32Row draws values over several orders of magnitude so that a sum in
// any other order rounds differently.
func randF32Row(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * math.Exp2(float64(rng.Intn(16)-8)))
	}
	return v
}

// withVariants runs fn under both ggml builds' orders (AVX-512 and AVX2).
func withVariants(t *testing.T, fn func(t *testing.T)) {
	saved := llama512
	defer func() { llama512 = saved }()
	for _, v := range []bool{true, false} {
		llama512 = v
		name := "avx2"
		if v {
			name = "avx512"
		}
		t.Run(name, fn)
	}
}

func TestF32VecOrder4MatchesOneRow(t *testing.T) {
	withVariants(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(41))
		orderSensitive := false
		for i, n := range append(f32RowsWidths, f32RowsWidths...) {
			// The second pass scales x so that the products and sums are
			// subnormal floats (the FMA's rounding there too).
			x := randF32Row(rng, n)
			if i >= len(f32RowsWidths) {
				for e := range x {
					x[e] *= 0x1p-135
				}
			}
			var w [4][]float32
			for k := range w {
				w[k] = randF32Row(rng, n)
			}
			var got, gotGo [4]float32
			f32VecOrder4(&w, x, n, &got)
			withPortable(func() { f32VecOrder4(&w, x, n, &gotGo) })
			for k := range w {
				want := f32VecOrder(w[k], x, n)
				ref := f32VecOrderGo(w[k], x, n)
				if math.Float32bits(want) != math.Float32bits(ref) {
					t.Fatalf("n=%d row %d: one-row assembly %v, portable %v", n, k, want, ref)
				}
				if math.Float32bits(got[k]) != math.Float32bits(ref) {
					t.Errorf("n=%d row %d: four-row %v (%#x), one-row %v (%#x)",
						n, k, got[k], math.Float32bits(got[k]), ref, math.Float32bits(ref))
				}
				if math.Float32bits(gotGo[k]) != math.Float32bits(ref) {
					t.Errorf("n=%d row %d: portable four-row %v, one-row %v", n, k, gotGo[k], ref)
				}
				var seq float32
				for e := range x {
					seq = FMA32(w[k][e], x[e], seq)
				}
				if seq != ref {
					orderSensitive = true
				}
			}
		}
		if !orderSensitive {
			t.Fatal("test data does not tell the lane order from a sequential sum")
		}
	})
}

func f32MatrixBytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// The decode path (one activation row, rows grouped four far apart, the
// Rows%4 remainder one by one) gives every row exactly f32VecOrder.
func TestMulF32LlamaOrderDecodeRows(t *testing.T) {
	pool := parallel.New(2)
	withVariants(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(42))
		for _, cols := range []int{64, 256, 576, 688, 1536, 65, 100} {
			for rows := 1; rows <= 13; rows++ {
				wv := randF32Row(rng, rows*cols)
				m, err := NewMatrix(F32, rows, cols, f32MatrixBytes(wv))
				if err != nil {
					t.Fatal(err)
				}
				if m.F32TinyBLAS(1) {
					t.Fatal("tinyBLAS for one row")
				}
				x := randF32Row(rng, cols)
				got := make([]float32, rows)
				gotGo := make([]float32, rows)
				m.MulF32LlamaOrder(pool, got, x, 1, nil)
				withPortable(func() { m.MulF32LlamaOrder(pool, gotGo, x, 1, nil) })
				for r := 0; r < rows; r++ {
					want := f32VecOrderGo(wv[r*cols:(r+1)*cols], x, cols)
					if math.Float32bits(got[r]) != math.Float32bits(want) {
						t.Errorf("%dx%d row %d: %v, want %v", rows, cols, r, got[r], want)
					}
					if math.Float32bits(gotGo[r]) != math.Float32bits(want) {
						t.Errorf("%dx%d row %d: portable %v, want %v", rows, cols, r, gotGo[r], want)
					}
				}
			}
		}
	})
}

// BenchmarkF32Decode compares the decode matrix-vector product one row at a
// time (the loop before f32VecOrder4) with four far-apart rows per call
// (rows4: mulF32VecRows4, which MulF32LlamaOrder uses for widths with
// leftover elements) and four neighbouring rows per call
// (rows4adj: measured 2× slower than either out of cache), on
// the 125M output matrix (32000×576, 74 MB: memory-bound) and tiny's FFN
// matrices (688×256 and 256×688: in cache).
//
//	go test -run '^$' -bench F32Decode -count 3 ./num/kernels/qdot
func BenchmarkF32Decode(b *testing.B) {
	shapes := []struct {
		name       string
		rows, cols int
	}{{"125m-output-32000x576", 32000, 576}, {"tiny-ffn-up-688x256", 688, 256}, {"tiny-ffn-down-256x688", 256, 688}}
	rng := rand.New(rand.NewSource(1))
	for _, s := range shapes {
		m, err := NewMatrix(F32, s.rows, s.cols, f32MatrixBytes(randF32Row(rng, s.rows*s.cols)))
		if err != nil {
			b.Fatal(err)
		}
		x := randF32Row(rng, s.cols)
		dst := make([]float32, s.rows)
		for _, threads := range []int{1, 2} {
			pool := parallel.New(threads)
			oneRow := func() {
				pool.For(m.Rows, 64, func(lo, hi int) {
					for r := lo; r < hi; r++ {
						w := bytesAsFloat32(m.Data[r*m.rowBytes:(r+1)*m.rowBytes], m.Cols)
						dst[r] = f32VecOrder(w, x, m.Cols)
					}
				})
			}
			fourRows := func() { m.mulF32VecRows4(pool, dst, x) }
			adjRows := func() {
				q := m.Rows / 4
				pool.For(q, 16, func(lo, hi int) {
					var w [4][]float32
					var out [4]float32
					for i := lo; i < hi; i++ {
						for k := range w {
							r := 4*i + k
							w[k] = bytesAsFloat32(m.Data[r*m.rowBytes:(r+1)*m.rowBytes], m.Cols)
						}
						f32VecOrder4(&w, x, m.Cols, &out)
						copy(dst[4*i:], out[:])
					}
				})
			}
			for _, v := range []struct {
				name string
				fn   func()
			}{{"rows1", oneRow}, {"rows4", fourRows}, {"rows4adj", adjRows}} {
				b.Run(s.name+"/threads"+string(rune('0'+threads))+"/"+v.name, func(b *testing.B) {
					b.SetBytes(int64(len(m.Data)))
					for b.Loop() {
						v.fn()
					}
				})
			}
		}
	}
}

// BenchmarkF32DecodeLayers runs the decode products of 10 MobileLLM-125M
// layers (q, k, v, o, gate, up, down: 141 MB of F32, beyond the caches),
// one call per matrix as the runtime does: four far-apart rows per kernel
// call (mulF32VecRows4) against one row at a time.
//
//	go test -run '^$' -bench F32DecodeLayers -count 5 ./num/kernels/qdot
func BenchmarkF32DecodeLayers(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	shapes := [][2]int{{576, 576}, {192, 576}, {192, 576}, {576, 576}, {1536, 576}, {1536, 576}, {576, 1536}}
	var ms []Matrix
	var bytes int64
	for range 10 {
		for _, s := range shapes {
			m, err := NewMatrix(F32, s[0], s[1], f32MatrixBytes(randF32Row(rng, s[0]*s[1])))
			if err != nil {
				b.Fatal(err)
			}
			ms = append(ms, m)
			bytes += int64(len(m.Data))
		}
	}
	x := randF32Row(rng, 1536)
	dst := make([]float32, 1536)
	for _, threads := range []int{1, 2} {
		pool := parallel.New(threads)
		b.Run("threads"+string(rune('0'+threads))+"/rows1", func(b *testing.B) {
			b.SetBytes(bytes)
			for b.Loop() {
				for i := range ms {
					m := &ms[i]
					pool.For(m.Rows, 64, func(lo, hi int) {
						for r := lo; r < hi; r++ {
							w := bytesAsFloat32(m.Data[r*m.rowBytes:(r+1)*m.rowBytes], m.Cols)
							dst[r] = f32VecOrder(w, x[:m.Cols], m.Cols)
						}
					})
				}
			}
		})
		b.Run("threads"+string(rune('0'+threads))+"/rows4", func(b *testing.B) {
			b.SetBytes(bytes)
			for b.Loop() {
				for i := range ms {
					ms[i].mulF32VecRows4(pool, dst[:ms[i].Rows], x[:ms[i].Cols])
				}
			}
		})
	}
}
