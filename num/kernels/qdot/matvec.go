package qdot

import (
	"fmt"
	"os"

	"github.com/distill-ml/distill/num/f16"

	"github.com/distill-ml/distill/num/parallel"
)

// kernelSet is the implementation every Matrix uses, chosen once at start-up
// (read-only after): the best one this CPU supports — "avx512" (AVX-512
// F/BW/VL/VNNI), "avx2" (AVX2+FMA+F16C) or the portable "go" — or the one
// named by the environment variable DISTILL_QDOT ("go", "avx2", "avx512"),
// so that tests and benchmarks of the packages above can run every path.
// A named implementation the CPU lacks falls back to the best one below it;
// an unknown name is ignored. The quantized dot products and QuantizeQ8_0
// of all three agree bit for bit (llama.cpp's order); the F16/F32 dots of
// avx2 and avx512 are the same code, and Go's sum in a different order.
// On arm64 the best is "neon" (DISTILL_QDOT=neon), bit-identical to "go".
var kernelSet = chooseKernels(os.Getenv(EnvImplementation))

// EnvImplementation is the environment variable that forces an implementation.
const EnvImplementation = "DISTILL_QDOT"

// kernelSets is every implementation this CPU can run, the portable Go one
// first and the best last.
func kernelSets() []*dotKernels {
	return append([]*dotKernels{&genericKernels}, platformKernelSets()...)
}

func chooseKernels(want string) *dotKernels {
	sets := kernelSets()
	rank := map[string]int{"go": 0, "avx2": 1, "avx512": 2, "neon": 2} // neon: arm64's best, as avx512 is amd64's
	r, ok := rank[want]
	if !ok {
		return sets[len(sets)-1]
	}
	best := sets[0]
	for _, k := range sets {
		if rank[k.name] <= r {
			best = k
		}
	}
	return best
}

// Implementation names the dot-product implementation in use: "avx512",
// "avx2" or "go".
func Implementation() string { return kernelSet.name }

// Implementations names every implementation this CPU can run, best last.
func Implementations() []string {
	var out []string
	for _, k := range kernelSets() {
		out = append(out, k.name)
	}
	return out
}

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

// Workspace holds the converted activations of a product; reuse one per
// goroutine to avoid allocating in steady state.
type Workspace struct {
	q8_0, q8_1 []byte // activations quantized per block
	q8_K       []byte
	xh         []float32 // F16-rounded activations for F16 weights
}

// orDefaults returns pool and ws, with the shared pool for a nil pool and a
// fresh Workspace for a nil ws.
func orDefaults(pool *parallel.Pool, ws *Workspace) (*parallel.Pool, *Workspace) {
	if pool == nil {
		pool = parallel.Default()
	}
	if ws == nil {
		ws = &Workspace{}
	}
	return pool, ws
}

// mustBe panics unless m is of type t; fn names the caller.
func (m *Matrix) mustBe(t Type, fn string) {
	if m.Type != t {
		panic("qdot: " + fn + " on a " + m.Type.String() + " matrix")
	}
}

// quantizeActs quantizes the n rows of x (cols each, x: [n, cols]) to the
// activation type t (Q8_0, Q8_1 or Q8_K), arb bytes a row, into ws's buffer
// for t, and returns it: [n·arb]byte.
func (ws *Workspace) quantizeActs(t Type, x []float32, n, cols, arb int) []byte {
	var buf *[]byte
	var quantize func(dst []byte, x []float32)
	switch t {
	case Q8_0:
		buf, quantize = &ws.q8_0, QuantizeQ8_0
	case Q8_1:
		buf, quantize = &ws.q8_1, quantizeQ8_1
	case Q8_K:
		buf, quantize = &ws.q8_K, QuantizeQ8_K
	default:
		panic("qdot: activations quantized to " + t.String())
	}
	*buf = grow(*buf, n*arb)
	for r := 0; r < n; r++ {
		quantize((*buf)[r*arb:(r+1)*arb], x[r*cols:(r+1)*cols])
	}
	return *buf
}

// roundActsToF16 rounds the first n rows of x (cols each) to F16 values, as
// llama.cpp converts activations before an F16 product (vec_dot_type F16),
// into ws's buffer, and returns it: [n·cols]float32.
func (ws *Workspace) roundActsToF16(x []float32, n, cols int) []float32 {
	if cap(ws.xh) < n*cols {
		ws.xh = make([]float32, n*cols)
	}
	roundToF16(ws.xh[:n*cols], x[:n*cols])
	return ws.xh[:n*cols]
}

// quantizedProductArgs is the start the Mul…Order products of a quantized
// matrix share: it panics unless m is of type t (fn names the caller),
// defaults a nil pool to the shared one, and quantizes x's n rows to m's
// activation type in ws (a fresh Workspace when nil). qa: [n·arb]byte; nil
// when n ≤ 0.
func (m *Matrix) quantizedProductArgs(t Type, fn string, pool *parallel.Pool, x []float32, n int, ws *Workspace) (_ *parallel.Pool, qa []byte, arb int) {
	m.mustBe(t, fn)
	if n <= 0 {
		return pool, nil, 0
	}
	pool, ws = orDefaults(pool, ws)
	arb = m.actRowBytes()
	return pool, ws.quantizeActs(VecDotType(t), x, n, m.Cols, arb), arb
}

// actRowBytes is the size of one activation row in the dot's input format.
func (m *Matrix) actRowBytes() int {
	switch VecDotType(m.Type) {
	case Q8_0:
		return m.Cols / QK * BytesQ8_0
	case Q8_1:
		return m.Cols / QK * BytesQ8_1
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
	case Q5_1:
		return dotQ5_1Go(w, qa, m.Cols/QK)
	case Q4_1:
		return dotQ4_1Go(w, qa, m.Cols/QK)
	case IQ4_NL:
		return dotIQ4_NLGo(w, qa, m.Cols/QK)
	case IQ4_XS:
		return dotIQ4_XSGo(w, qa, m.Cols/QKK)
	case Q2_K:
		return dotQ2_KGo(w, qa, m.Cols/QKK)
	case Q3_K:
		return dotQ3_KGo(w, qa, m.Cols/QKK)
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

// dotRows sets out[i] to row lo+i of W against one prepared activation row,
// for rows lo ≤ r < hi, with the implementation's multi-row kernel when it
// has one (same bits as dotRow).
func (m *Matrix) dotRows(k *dotKernels, lo, hi int, qa []byte, x []float32, out []float32) {
	var rows rowsFunc
	nb := m.Cols / QK
	switch m.Type {
	case Q8_0:
		rows = k.q8_0Rows
	case Q4_0:
		rows = k.q4_0Rows
	case Q5_0:
		rows = k.q5_0Rows
	case Q4_K:
		rows, nb = k.q4_KRows, m.Cols/QKK
	case Q5_K:
		rows, nb = k.q5_KRows, m.Cols/QKK
	case Q6_K:
		rows, nb = k.q6_KRows, m.Cols/QKK
	}
	if rows != nil {
		rows(m.Data[lo*m.rowBytes:hi*m.rowBytes], m.rowBytes, qa, nb, out[:hi-lo])
		return
	}
	for r := lo; r < hi; r++ {
		out[r-lo] = m.dotRow(k, r, qa, x)
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
// values rounded to F16 for F16 weights, unchanged for F32. Each weight row
// is loaded once and dotted with every activation row while it is in cache.
// x: [n, Cols], dst: [n, Rows].
func (m *Matrix) MulBatch(pool *parallel.Pool, dst, x []float32, n int, ws *Workspace) {
	MulBatchSet(pool, []*Matrix{m}, [][]float32{dst}, x, n, ws)
}

// MulBatchSet computes several products of the same input at once (e.g. the
// Q, K and V projections, or gate and up): dsts[i] = mats[i]·x, with one
// parallel loop over all their rows (one pool hand-off instead of one per
// matrix). Every matrix must have the same Cols.
// x: [n, Cols], dsts[i]: [n, mats[i].Rows].
func MulBatchSet(pool *parallel.Pool, mats []*Matrix, dsts [][]float32, x []float32, n int, ws *Workspace) {
	mulBatchSet(kernelSet, pool, mats, dsts, x, n, ws)
}

func (m *Matrix) mulBatch(k *dotKernels, pool *parallel.Pool, dst, x []float32, n int, ws *Workspace) {
	mulBatchSet(k, pool, []*Matrix{m}, [][]float32{dst}, x, n, ws)
}

// prepared is one matrix's view of the converted activations.
type prepared struct {
	m   *Matrix
	dst []float32
	qa  []byte    // quantized activations, arb bytes per token
	arb int       // 0 for float weights
	x   []float32 // float activations (F16-rounded for F16 weights)
	row int       // first global row of this matrix
}

func mulBatchSet(k *dotKernels, pool *parallel.Pool, mats []*Matrix, dsts [][]float32, x []float32, n int, ws *Workspace) {
	if n <= 0 || len(mats) == 0 {
		return
	}
	if len(dsts) != len(mats) {
		panic(fmt.Sprintf("qdot: %d destinations for %d matrices", len(dsts), len(mats)))
	}
	cols := mats[0].Cols
	pool, ws = orDefaults(pool, ws)
	var qa [3][]byte // the activations quantized to Q8_0, Q8_1, Q8_K, once each
	var xh []float32 // the activations rounded to F16, once
	preps := make([]prepared, len(mats))
	total := 0
	for i, m := range mats {
		if m.Cols != cols {
			panic(fmt.Sprintf("qdot: MulBatchSet matrices have %d and %d columns", cols, m.Cols))
		}
		if len(x) < n*cols || len(dsts[i]) < n*m.Rows {
			panic(fmt.Sprintf("qdot: MulBatch %dx%d with n=%d: x has %d, dst has %d", m.Rows, m.Cols, n, len(x), len(dsts[i])))
		}
		arb := m.actRowBytes()
		p := prepared{m: m, dst: dsts[i], arb: arb, x: x, row: total}
		switch vt := VecDotType(m.Type); {
		case vt == Q8_0 || vt == Q8_1 || vt == Q8_K:
			qi := 0 // qa's index of vt
			if vt == Q8_1 {
				qi = 1
			} else if vt == Q8_K {
				qi = 2
			}
			if qa[qi] == nil {
				qa[qi] = ws.quantizeActs(vt, x, n, cols, arb)
			}
			p.qa = qa[qi]
		case m.Type == F16:
			if xh == nil {
				xh = ws.roundActsToF16(x, n, cols)
			}
			p.x = xh
		}
		preps[i] = p
		total += m.Rows
	}
	// With a batch, tiles of 16 weight rows stay hot in cache while the
	// batch streams past. A single token takes each worker's whole range at
	// once, so the multi-row kernels see long runs of rows (they read rows
	// far apart as separate streams).
	tile, grain := total, 64
	if n > 1 {
		tile, grain = 16, 16
	}
	pool.For(total, grain, func(lo, hi int) {
		pi := 0
		for r0 := lo; r0 < hi; {
			for preps[pi].row+preps[pi].m.Rows <= r0 {
				pi++
			}
			p := &preps[pi]
			r1 := min(r0+tile, hi, p.row+p.m.Rows)
			for t := 0; t < n; t++ {
				var a []byte
				if p.arb > 0 {
					a = p.qa[t*p.arb : (t+1)*p.arb]
				}
				xt := p.x[t*cols : (t+1)*cols]
				out := p.dst[t*p.m.Rows:]
				p.m.dotRows(k, r0-p.row, r1-p.row, a, xt, out[r0-p.row:r1-p.row])
			}
			r0 = r1
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
