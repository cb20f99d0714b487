package qdot

import (
	"fmt"

	"github.com/distill-ml/distill/model/kernels/f16"

	"github.com/distill-ml/distill/model/kernels/parallel"
)

// kernelSet is the implementation every Matrix uses: the assembly one when
// the CPU has it, else the portable Go one. Chosen once; read-only after.
var kernelSet = func() *dotKernels {
	if k := platformKernels(); k != nil {
		return k
	}
	return &genericKernels
}()

// Implementation names the dot-product implementation in use ("avx2" or "go").
func Implementation() string { return kernelSet.name }

// Matrix is a row-major weight matrix of Rows×Cols elements stored in a ggml
// type: row r occupies Data[r·RowBytes : (r+1)·RowBytes]. y = W·x contracts
// over Cols (W is [out, in], as GGUF stores linear layers).
type Matrix struct {
	Type       Type
	Rows, Cols int
	Data       []byte
	rowBytes   int
}

// NewMatrix checks that data holds exactly rows×cols elements of type t.
func NewMatrix(t Type, rows, cols int, data []byte) (Matrix, error) {
	if !t.Supported() {
		return Matrix{}, fmt.Errorf("unsupported weight type %s", t)
	}
	if rows <= 0 || cols <= 0 {
		return Matrix{}, fmt.Errorf("%s matrix %dx%d: dimensions must be positive", t, rows, cols)
	}
	rb, err := RowBytes(t, cols)
	if err != nil {
		return Matrix{}, err
	}
	if want := int64(rb) * int64(rows); int64(len(data)) != want {
		return Matrix{}, fmt.Errorf("%s matrix %dx%d: have %d bytes, want %d", t, rows, cols, len(data), want)
	}
	return Matrix{Type: t, Rows: rows, Cols: cols, Data: data, rowBytes: rb}, nil
}

// RowBytes is the size of one stored row.
func (m *Matrix) RowBytes() int { return m.rowBytes }

// Row dequantizes row r into dst[:Cols].
func (m *Matrix) Row(dst []float32, r int) error {
	if r < 0 || r >= m.Rows {
		return fmt.Errorf("row %d out of range [0, %d)", r, m.Rows)
	}
	return DequantizeRow(m.Type, dst, m.Data[r*m.rowBytes:(r+1)*m.rowBytes], m.Cols)
}

// Workspace holds the quantized activations of a product; reuse one per
// goroutine to avoid allocating in steady state.
type Workspace struct {
	buf []byte
	xh  []float32 // F16-rounded activations for F16 weights
}

// actRowBytes is the size of one activation row in the dot's input format.
func (m *Matrix) actRowBytes() int {
	switch VecDotType(m.Type) {
	case Q8_0:
		return m.Cols / QK * BytesQ8_0
	case Q8_K:
		return m.Cols / QKK * BytesQ8_K
	}
	return 0
}

// dotRow computes row r of W against one prepared activation row (quantized
// bytes qa, or the float row x for F32/F16 weights).
func (m *Matrix) dotRow(k *dotKernels, r int, qa []byte, x []float32) float32 {
	w := m.Data[r*m.rowBytes : (r+1)*m.rowBytes]
	switch m.Type {
	case Q8_0:
		return k.q8_0(w, qa, m.Cols/QK)
	case Q4_0:
		return k.q4_0(w, qa, m.Cols/QK)
	case Q5_0:
		return k.q5_0(w, qa, m.Cols/QK)
	case Q4_K:
		return k.q4_K(w, qa, m.Cols/QKK)
	case Q5_K:
		return k.q5_K(w, qa, m.Cols/QKK)
	case Q6_K:
		return k.q6_K(w, qa, m.Cols/QKK)
	case F16:
		return k.f16(w, x)
	default:
		return k.f32(w, x)
	}
}

// MulVec computes dst[r] = Σ_c W[r,c]·x[c] for every row, splitting rows over
// pool (nil: parallel.Default()).
// x: [Cols], dst: [Rows].
func (m *Matrix) MulVec(pool *parallel.Pool, dst, x []float32, ws *Workspace) {
	m.MulBatch(pool, dst, x, 1, ws)
}

// MulBatch computes n products at once (a prompt batch): row t of dst is
// W·(row t of x). Activations are first converted to the weight type's
// VecDotType as llama.cpp does: Q8_0 or Q8_K blocks for quantized weights,
// values rounded to F16 for F16 weights, unchanged for F32. Each weight row is loaded once and dotted with every
// activation row while it is in cache.
// x: [n, Cols], dst: [n, Rows].
func (m *Matrix) MulBatch(pool *parallel.Pool, dst, x []float32, n int, ws *Workspace) {
	m.mulBatch(kernelSet, pool, dst, x, n, ws)
}

func (m *Matrix) mulBatch(k *dotKernels, pool *parallel.Pool, dst, x []float32, n int, ws *Workspace) {
	if n <= 0 {
		return
	}
	if len(x) < n*m.Cols || len(dst) < n*m.Rows {
		panic(fmt.Sprintf("qdot: MulBatch %dx%d with n=%d: x has %d, dst has %d", m.Rows, m.Cols, n, len(x), len(dst)))
	}
	if pool == nil {
		pool = parallel.Default()
	}
	if ws == nil {
		ws = &Workspace{}
	}
	arb := m.actRowBytes()
	if arb > 0 {
		ws.buf = grow(ws.buf, n*arb)
		for t := 0; t < n; t++ {
			QuantizeActivations(m.Type, x[t*m.Cols:(t+1)*m.Cols], ws.buf[t*arb:(t+1)*arb])
		}
	}
	if m.Type == F16 {
		// llama.cpp converts activations to F16 before an F16 product
		// (vec_dot_type F16); round them the same way so results agree.
		if cap(ws.xh) < n*m.Cols {
			ws.xh = make([]float32, n*m.Cols)
		}
		xh := ws.xh[:n*m.Cols]
		roundToF16(xh, x[:n*m.Cols])
		x = xh
	}
	qa := ws.buf
	const tile = 16 // weight rows kept hot while the batch streams past
	grain := 64
	if n > 1 {
		grain = tile
	}
	pool.For(m.Rows, grain, func(lo, hi int) {
		for r0 := lo; r0 < hi; r0 += tile {
			r1 := min(r0+tile, hi)
			for t := 0; t < n; t++ {
				var a []byte
				if arb > 0 {
					a = qa[t*arb : (t+1)*arb]
				}
				xt := x[t*m.Cols : (t+1)*m.Cols]
				out := dst[t*m.Rows:]
				for r := r0; r < r1; r++ {
					out[r] = m.dotRow(k, r, a, xt)
				}
			}
		}
	})
}

// roundToF16 sets dst[i] to src[i] rounded to the nearest IEEE half.
func roundToF16(dst, src []float32) {
	var h [256]uint16
	for off := 0; off < len(src); off += len(h) {
		end := min(off+len(h), len(src))
		f16.FromFloat32(h[:end-off], src[off:end])
		f16.ToFloat32(dst[off:end], h[:end-off])
	}
}
