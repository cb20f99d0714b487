package qdot

import (
	"encoding/binary"
	"unsafe"

	"github.com/distill-ml/distill/num/f16"

	"github.com/distill-ml/distill/num/parallel"
)

// F16 dot products in the summation orders of llama.cpp's CPU backend, for
// attention over an F16 KV cache and F16 weights. The orders below are the
// AVX-512 build's; the AVX2 build's (llamaorder_variant.go) are the same with
// 8-lane vectors, 32-element steps and its own final horizontal adds. The caller passes x
// already rounded to F16 (ggml converts the query and the probabilities to
// F16 before these products), so every product half·x is exact in float32
// and only the order of the additions decides the result:
//
//   - F16VecOrder is ggml_vec_dot_f16 (one output row, e.g. decode): element
//     e goes to lane e mod 64 of four 16-lane accumulators, combined as
//     (acc0+acc2)+(acc1+acc3) and reduced 16 → 1 with GCC's
//     _mm512_reduce_add_ps tree; elements after the last full 64 are added
//     one by one in float64.
//   - F16GemmOrder is llamafile's tinyBLAS F16 GEMM (two or more output
//     rows): element e goes to lane e mod 16 of one accumulator, reduced the
//     same way.
//
// On amd64 with AVX2+FMA+F16C they run in assembly (8-lane registers pair up
// as 16-lane ones; with exact products the results are identical).

// F16VecOrder is Σ half(w[2e:])·x[e] over e < n in ggml_vec_dot_f16's
// order. With padded, the last partial block of 64 is summed as if
// zero-padded (a masked attention length); otherwise its elements are
// ggml's float64 leftovers.
func F16VecOrder(w []byte, x []float32, n int, padded bool) float32 {
	if n <= 0 {
		return 0
	}
	_, _ = w[2*n-1], x[n-1]
	if !llama512 {
		return f16VecOrderAVX2Build(w, x, n, padded)
	}
	full := n / 64
	rem := n - 64*full
	if padded && rem > 0 {
		var tw [64]uint16
		var tx [64]float32
		for i := 0; i < rem; i++ {
			tw[i] = binary.LittleEndian.Uint16(w[2*(64*full+i):])
			tx[i] = x[64*full+i]
		}
		return f16VecOrder(w, x, full, &tw, &tx)
	}
	s := f16VecOrder(w, x, full, nil, nil)
	if rem == 0 {
		return s
	}
	return f16TailSum(s, w, x, 64*full, n)
}

// f16TailSum is ggml_vec_dot_f16's leftover loop: s, then each remaining
// product half(w[i])·x[i] (rounded to float32) added in float64, in order.
// The halves are converted in bulk (F16C where available; the conversion is
// exact either way).
func f16TailSum(s float32, w []byte, x []float32, from, n int) float32 {
	var tmp [64]float32
	sum := float64(s)
	for from < n {
		k := min(n-from, len(tmp))
		f16.ToFloat32(tmp[:k], unsafe.Slice((*uint16)(unsafe.Pointer(&w[2*from])), k))
		for i, h := range tmp[:k] {
			sum += float64(h * x[from+i])
		}
		from += k
	}
	return float32(sum)
}

// F16GemmOrder is Σ half(w[2e:])·x[e] over e < n in tinyBLAS's F16 order,
// the last partial block of 16 summed as if zero-padded.
func F16GemmOrder(w []byte, x []float32, n int) float32 {
	if n <= 0 {
		return 0
	}
	_, _ = w[2*n-1], x[n-1]
	if !llama512 {
		return f16GemmOrderAVX2Build(w, x, n)
	}
	full := n / 16
	rem := n - 16*full
	if rem > 0 {
		var tw [16]uint16
		var tx [16]float32
		for i := 0; i < rem; i++ {
			tw[i] = binary.LittleEndian.Uint16(w[2*(16*full+i):])
			tx[i] = x[16*full+i]
		}
		return f16GemmOrder(w, x, full, &tw, &tx)
	}
	return f16GemmOrder(w, x, full, nil, nil)
}

// Reduce16 is GCC's _mm512_reduce_add_ps over v: lanes i and 8+i, then
// i and 4+i, then (0+2)+(1+3).
func Reduce16(v *[16]float32) float32 {
	var t8 [8]float32
	for i := range t8 {
		t8[i] = v[8+i] + v[i]
	}
	var t4 [4]float32
	for i := range t4 {
		t4[i] = t8[4+i] + t8[i]
	}
	return (t4[0] + t4[2]) + (t4[1] + t4[3])
}

// f16VecOrderGo is the portable f16VecOrder: full blocks of 64 from (w, x),
// then the block (tw, tx) if tw is not nil.
func f16VecOrderGo(w []byte, x []float32, full int, tw *[64]uint16, tx *[64]float32) float32 {
	var acc [64]float32
	for e := 0; e < 64*full; e++ {
		acc[e&63] += half(w[2*e:]) * x[e]
	}
	if tw != nil {
		for e := range acc {
			acc[e] += halfBits(tw[e]) * tx[e]
		}
	}
	var v [16]float32
	for l := range v {
		v[l] = (acc[l] + acc[32+l]) + (acc[16+l] + acc[48+l])
	}
	return Reduce16(&v)
}

func f16GemmOrderGo(w []byte, x []float32, full int, tw *[16]uint16, tx *[16]float32) float32 {
	var acc [16]float32
	for e := 0; e < 16*full; e++ {
		acc[e&15] += half(w[2*e:]) * x[e]
	}
	if tw != nil {
		for e := range acc {
			acc[e] += halfBits(tw[e]) * tx[e]
		}
	}
	return Reduce16(&acc)
}

func halfBits(h uint16) float32 {
	var b [2]byte
	binary.LittleEndian.PutUint16(b[:], h)
	return half(b[:])
}

// F16TinyBLAS reports whether llama.cpp multiplies an F16 matrix of this
// shape with llamafile's tinyBLAS for a batch of n ≥ 2 rows (its F16 kernel
// needs the inner dimension a multiple of 16 and the row count a multiple
// of 4); otherwise each output is a ggml_vec_dot_f16.
func (m *Matrix) F16TinyBLAS(n int) bool {
	return m.Type == F16 && n >= 2 && m.Cols%16 == 0 && m.Rows%4 == 0
}

// MulF16LlamaOrder computes dst = W·x for an F16 matrix in llama.cpp's
// order: the activations rounded to F16 (ggml's vec_dot type), then
// F16GemmOrder dots for a tinyBLAS batch, F16VecOrder dots otherwise; rows
// split over pool.
// x: [n, Cols], dst: [n, Rows].
func (m *Matrix) MulF16LlamaOrder(pool *parallel.Pool, dst, x []float32, n int, ws *Workspace) {
	m.mustBe(F16, "MulF16LlamaOrder")
	if n <= 0 {
		return
	}
	pool, ws = orDefaults(pool, ws)
	cols := m.Cols
	xh := ws.roundActsToF16(x, n, cols)
	gemm := m.F16TinyBLAS(n)
	grain := 64
	if n > 1 {
		grain = 16
	}
	pool.For(m.Rows, grain, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			w := m.Data[r*m.rowBytes : (r+1)*m.rowBytes]
			for t := 0; t < n; t++ {
				if gemm {
					dst[t*m.Rows+r] = F16GemmOrder(w, xh[t*cols:(t+1)*cols], cols)
				} else {
					dst[t*m.Rows+r] = F16VecOrder(w, xh[t*cols:(t+1)*cols], cols, false)
				}
			}
		}
	})
}

// F16VecOrderRows sets out[r] = F16VecOrder(w[r·stride:], x, n, false) for
// every r < len(out): the dots of one vector with rows of an F16 matrix
// (e.g. one query against the cached keys), in one call.
func F16VecOrderRows(w []byte, stride int, x []float32, n int, out []float32) {
	rows := len(out)
	if rows == 0 {
		return
	}
	blk := F16VecBlock()
	if !llamaOrderAsm || n%blk != 0 || n == 0 {
		for r := range out {
			out[r] = F16VecOrder(w[r*stride:], x, n, false)
		}
		return
	}
	_, _ = w[(rows-1)*stride+2*n-1], x[n-1]
	if llama512 {
		f16VecOrderRowsAVX2(unsafeU16(w), stride, &x[0], n/64, rows, &out[0])
	} else {
		f16VecOrder32RowsAVX2(unsafeU16(w), stride, &x[0], n/32, rows, &out[0])
	}
}

// F16GemmOrderRows sets out[r] = F16GemmOrder(w[r·stride:], x, n) for every
// r < len(out).
func F16GemmOrderRows(w []byte, stride int, x []float32, n int, out []float32) {
	rows := len(out)
	if rows == 0 {
		return
	}
	blk := F16GemmBlock()
	if !llamaOrderAsm || n%blk != 0 || n == 0 {
		for r := range out {
			out[r] = F16GemmOrder(w[r*stride:], x, n)
		}
		return
	}
	_, _ = w[(rows-1)*stride+2*n-1], x[n-1]
	if llama512 {
		f16GemmOrderRowsAVX2(unsafeU16(w), stride, &x[0], n/16, rows, &out[0])
	} else {
		f16GemmOrder8RowsAVX2(unsafeU16(w), stride, &x[0], n/8, rows, &out[0])
	}
}
