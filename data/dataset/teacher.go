package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/distill-ml/distill/num/f16"
)

// Record is one sequence with its teacher signals decoded. Signals cover the
// n = len(Tokens) - PromptLen completion targets (see the package doc); they
// are nil for text-only rows.
type Record struct {
	ID         string // filled by the writer from Source and Prompt when empty
	Split      string
	Source     string
	Teacher    string // teacher model id; defaults to Meta.Teacher for rows with teacher signals
	Prompt     string
	Completion string
	Tokens     []int32
	PromptLen  int

	TopKIDs      []int32     // [n*K], each position sorted by logprob descending
	TopKLogprobs []float32   // [n*K] natural-log probabilities, <= 0
	TailMass     []float32   // [n] probability outside the top-K, in [0, 1]
	TailTempered []float32   // [n] tail mass tempered at Meta.TailTemperature, in [0, 1]; nil when the dataset has none
	Hidden       [][]float32 // [L][n*D] teacher hidden states, nil for none

	Provenance string // JSON
}

// SignalPositions is the number of positions that carry teacher signals when
// the row has them: len(Tokens) - PromptLen.
func (r *Record) SignalPositions() int { return len(r.Tokens) - r.PromptLen }

// logprobCode is the fixed-point code of a logprob: round(-lp · LogprobScale), clamped.
func logprobCode(lp float32) uint32 {
	c := math.Round(-float64(lp) * LogprobScale)
	if c > maxLogprobCode {
		return maxLogprobCode
	}
	if c < 0 {
		return 0
	}
	return uint32(c)
}

// QuantizeLogprob returns the value a logprob reads back as after storage.
func QuantizeLogprob(lp float32) float32 {
	return -float32(logprobCode(lp)) / LogprobScale
}

// packedTopK is the packed planes of a row's teacher top-k (see the package doc).
type packedTopK struct {
	tail, lo, hi, lps, tailT []byte
}

// encodeTopK packs n positions of K (id, logprob) pairs plus tail masses and,
// when tailT is non-nil, tempered tail masses. It rejects what the format
// cannot represent faithfully, naming field and position.
func encodeTopK(ids []int32, lps, tail, tailT []float32, n, k, vocab int) (packedTopK, error) {
	var pk packedTopK
	if len(ids) != n*k {
		return pk, fmt.Errorf("field topk_ids: %d values, want %d positions × k %d = %d", len(ids), n, k, n*k)
	}
	if len(lps) != n*k {
		return pk, fmt.Errorf("field topk_logprobs: %d values, want %d", len(lps), n*k)
	}
	if len(tail) != n {
		return pk, fmt.Errorf("field topk_tail: %d values, want %d", len(tail), n)
	}
	pk.lo = make([]byte, 0, n*k)
	pk.hi = make([]byte, 0, n*k)
	for p := 0; p < n; p++ {
		for r := 0; r < k; r++ {
			id := ids[p*k+r]
			if id < 0 || int(id) >= vocab {
				return pk, fmt.Errorf("field topk_ids position %d rank %d: id %d outside vocab %d", p, r, id, vocab)
			}
			pk.lo = append(pk.lo, byte(id))
			pk.hi = binary.AppendUvarint(pk.hi, uint64(id>>8))
		}
	}
	pk.tail = make([]byte, 0, 2*n)
	for p, t := range tail {
		if !(t >= 0 && t <= 1) {
			return pk, fmt.Errorf("field topk_tail position %d: %g outside [0, 1]", p, t)
		}
		pk.tail = binary.LittleEndian.AppendUint16(pk.tail, f16.Float16(t))
	}
	if tailT != nil {
		if len(tailT) != n {
			return pk, fmt.Errorf("field topk_tail_tempered: %d values, want %d", len(tailT), n)
		}
		pk.tailT = make([]byte, 0, 2*n)
		for p, t := range tailT {
			if !(t >= 0 && t <= 1) {
				return pk, fmt.Errorf("field topk_tail_tempered position %d: %g outside [0, 1]", p, t)
			}
			pk.tailT = binary.LittleEndian.AppendUint16(pk.tailT, f16.Float16(t))
		}
	}
	pk.lps = make([]byte, 0, n*k+n)
	for p := 0; p < n; p++ {
		var prev uint32
		for r := 0; r < k; r++ {
			lp := lps[p*k+r]
			if math.IsNaN(float64(lp)) || math.IsInf(float64(lp), 0) || lp > 0 {
				return pk, fmt.Errorf("field topk_logprobs position %d rank %d: %g is not a finite logprob <= 0", p, r, lp)
			}
			if r > 0 && lp > lps[p*k+r-1] {
				return pk, fmt.Errorf("field topk_logprobs position %d rank %d: %g > %g, not sorted descending", p, r, lp, lps[p*k+r-1])
			}
			c := logprobCode(lp)
			pk.lps = binary.AppendUvarint(pk.lps, uint64(c-prev))
			prev = c
		}
	}
	return pk, nil
}

// littleEndian reports the host byte order (set once, never changed).
var littleEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()

// FieldError is a problem with one column of a row.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return "field " + e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// TopKCursor decodes a row's packed top-k position by position.
type TopKCursor struct {
	tail, lo, hi, lps, tailT []byte
	k                        int
	tempered                 bool
	lastT                    float32
}

// NewTopKCursor checks the framing of a row's packed top-k for n positions of
// meta.TopK entries, and that the row carries a tempered tail exactly when
// meta declares one, and returns a cursor at position 0. It names the column
// at fault.
func NewTopKCursor(row *Row, n int, meta *Meta) (TopKCursor, error) {
	k := meta.TopK
	c := TopKCursor{tail: row.TopKTail, lo: row.TopKIDsLo, hi: row.TopKIDsHi, lps: row.TopKLogprobs, k: k,
		tailT: row.TopKTailTempered, tempered: meta.TailTemperature > 0}
	if len(c.tail) != 2*n {
		return c, fieldErr("topk_tail", "%d bytes, want 2 × %d positions", len(c.tail), n)
	}
	switch {
	case c.tempered && len(c.tailT) != 2*n:
		return c, fieldErr("topk_tail_tempered", "%d bytes, want 2 × %d positions (the dataset's tail_temperature is %g)", len(c.tailT), n, meta.TailTemperature)
	case !c.tempered && len(c.tailT) != 0:
		return c, fieldErr("topk_tail_tempered", "%d bytes, but the dataset declares no tail_temperature", len(c.tailT))
	}
	if len(c.lo) != n*k {
		return c, fieldErr("topk_ids_lo", "%d bytes, want %d positions × k %d", len(c.lo), n, k)
	}
	// Each varint is at least one byte: a cheap bound before any decoding.
	if len(c.hi) < n*k {
		return c, fieldErr("topk_ids_hi", "%d bytes cannot hold %d varints", len(c.hi), n*k)
	}
	if len(c.lps) < n*k {
		return c, fieldErr("topk_logprobs", "%d bytes cannot hold %d varints", len(c.lps), n*k)
	}
	return c, nil
}

// Next decodes the next position into ids[:k] and lps[:k] and returns its tail mass.
func (c *TopKCursor) Next(ids []int32, lps []float32) (float32, error) {
	if len(c.tail) < 2 || len(c.lo) < c.k {
		return 0, fieldErr("topk_tail", "past the last position")
	}
	tail := f16.Float32(binary.LittleEndian.Uint16(c.tail))
	c.tail = c.tail[2:]
	if c.tempered {
		c.lastT = f16.Float32(binary.LittleEndian.Uint16(c.tailT))
		c.tailT = c.tailT[2:]
	}
	lo := c.lo[:c.k]
	b := c.hi
	for r := 0; r < c.k; r++ {
		if len(b) > 0 && b[0] < 0x80 {
			ids[r] = int32(b[0])<<8 | int32(lo[r])
			b = b[1:]
			continue
		}
		v, n := binary.Uvarint(b)
		if n <= 0 || v > math.MaxInt32>>8 {
			return 0, fieldErr("topk_ids_hi", "bad varint at rank %d", r)
		}
		ids[r] = int32(v)<<8 | int32(lo[r])
		b = b[n:]
	}
	c.lo = c.lo[c.k:]
	c.hi = b
	b = c.lps
	var acc uint64
	for r := 0; r < c.k; r++ {
		var v uint64
		if len(b) > 0 && b[0] < 0x80 {
			v = uint64(b[0])
			b = b[1:]
		} else {
			var n int
			v, n = binary.Uvarint(b)
			if n <= 0 {
				return 0, fieldErr("topk_logprobs", "bad varint at rank %d", r)
			}
			b = b[n:]
		}
		acc += v
		if acc > maxLogprobCode {
			return 0, fieldErr("topk_logprobs", "code %d at rank %d beyond %d", acc, r, maxLogprobCode)
		}
		lps[r] = -float32(acc) * (1.0 / LogprobScale)
	}
	c.lps = b
	return tail, nil
}

// Tempered reports whether the row carries a tempered tail.
func (c *TopKCursor) Tempered() bool { return c.tempered }

// TailTempered is the tempered tail mass of the position the last Next
// decoded (0 when the row has none).
func (c *TopKCursor) TailTempered() float32 { return c.lastT }

// Done reports an error unless every byte was consumed.
func (c *TopKCursor) Done() error {
	if len(c.hi) != 0 {
		return fieldErr("topk_ids_hi", "%d trailing bytes", len(c.hi))
	}
	if len(c.lps) != 0 {
		return fieldErr("topk_logprobs", "%d trailing bytes", len(c.lps))
	}
	return nil
}

// hasTopK reports whether any top-k column of the row is non-empty.
func (r *Row) hasTopK() bool {
	return len(r.TopKTail) > 0 || len(r.TopKIDsLo) > 0 || len(r.TopKIDsHi) > 0 || len(r.TopKLogprobs) > 0 || len(r.TopKTailTempered) > 0
}

// decodeTopK decodes a row's whole packed top-k into rec.
func decodeTopK(rec *Record, row *Row, n int, meta *Meta) error {
	c, err := NewTopKCursor(row, n, meta)
	if err != nil {
		return err
	}
	k := meta.TopK
	ids := make([]int32, n*k)
	lps := make([]float32, n*k)
	tail := make([]float32, n)
	var tailT []float32
	if c.Tempered() {
		tailT = make([]float32, n)
	}
	for p := 0; p < n; p++ {
		t, err := c.Next(ids[p*k:(p+1)*k], lps[p*k:(p+1)*k])
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				return fieldErr(fe.Field, "position %d: %s", p, fe.Msg)
			}
			return fmt.Errorf("position %d: %w", p, err)
		}
		tail[p] = t
		if tailT != nil {
			tailT[p] = c.TailTempered()
		}
	}
	if err := c.Done(); err != nil {
		return err
	}
	rec.TopKIDs, rec.TopKLogprobs, rec.TailMass, rec.TailTempered = ids, lps, tail, tailT
	return nil
}

// encodeHidden packs [L][n*D] float32 hidden states as float16.
func encodeHidden(dst []byte, hidden [][]float32, layers, n, d int) ([]byte, error) {
	if len(hidden) != layers {
		return nil, fmt.Errorf("field hidden: %d layers, want %d", len(hidden), layers)
	}
	dst = dst[:0]
	h16 := make([]uint16, n*d)
	for l, h := range hidden {
		if len(h) != n*d {
			return nil, fmt.Errorf("field hidden layer %d: %d values, want %d positions × dim %d = %d", l, len(h), n, d, n*d)
		}
		for i, v := range h {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("field hidden layer %d position %d: %g is not finite", l, i/d, v)
			}
		}
		f16.FromFloat32(h16, h)
		for _, u := range h16 {
			dst = binary.LittleEndian.AppendUint16(dst, u)
		}
	}
	return dst, nil
}

// DecodeHidden decodes position range [from, to) of every layer of a packed
// hidden value (n positions, dim d) into dst[l][(at+i-from)*d:], float32.
func DecodeHidden(dst [][]float32, at int, blob []byte, layers, n, d, from, to int) error {
	if len(blob) != 2*layers*n*d {
		return fieldErr("hidden", "%d bytes, want %d layers × %d positions × dim %d × 2", len(blob), layers, n, d)
	}
	var u []uint16
	for l := 0; l < layers; l++ {
		src := blob[2*(l*n+from)*d : 2*(l*n+to)*d]
		out := dst[l][at*d : (at+to-from)*d]
		if len(src) == 0 {
			continue
		}
		if littleEndian && uintptr(unsafe.Pointer(unsafe.SliceData(src)))%2 == 0 {
			// The stored little-endian halves are already uint16s in memory.
			f16.ToFloat32(out, unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(src))), len(src)/2))
			continue
		}
		if u == nil {
			u = make([]uint16, len(out))
		}
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(src[2*i:])
		}
		f16.ToFloat32(out, u)
	}
	return nil
}
