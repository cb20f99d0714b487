package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"

	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/atomicfile"
)

// Writer assembles a GGUF v3 file: metadata in insertion order and a tensor
// table whose offsets are the running sum of tensor sizes, each padded to the
// alignment. Tensor data is streamed at write time by a TensorSource, so a
// file never has to be held in memory.
type Writer struct {
	kvs       []KV
	keys      map[string]bool
	tensors   []TensorInfo
	names     map[string]bool
	alignment uint64
	dataSize  uint64 // running sum of padded tensor sizes
}

// NewWriter starts an empty file with the default alignment (32).
func NewWriter() *Writer {
	return &Writer{keys: map[string]bool{}, names: map[string]bool{}, alignment: DefaultAlignment}
}

// Set appends a metadata pair. Keys must be unique and non-empty.
// general.alignment must be a u32 power of two and must be set before any
// tensor is added.
func (w *Writer) Set(key string, v Value) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("gguf writer: key length %d out of range [1, %d]", len(key), MaxKeyLen)
	}
	if w.keys[key] {
		return fmt.Errorf("gguf writer: duplicate key %q", key)
	}
	if !v.Valid() {
		return fmt.Errorf("gguf writer: key %q: invalid (zero) value", key)
	}
	if d := arrayDepth(v); d > maxArrayDepth {
		return fmt.Errorf("gguf writer: key %q: arrays nested %d deep, limit %d", key, d, maxArrayDepth)
	}
	if key == KeyAlignment {
		a, ok := v.v.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 || a > maxAlignment {
			return fmt.Errorf("gguf writer: %s must be a u32 power of two ≤ %d, got %s %v", KeyAlignment, maxAlignment, v.typ, v)
		}
		if len(w.tensors) > 0 {
			return fmt.Errorf("gguf writer: %s must be set before tensors are added", KeyAlignment)
		}
		w.alignment = uint64(a)
	}
	w.keys[key] = true
	w.kvs = append(w.kvs, KV{Key: key, Value: v})
	return nil
}

// arrayDepth is how many array levels v has (0 for a scalar).
func arrayDepth(v Value) int {
	if v.typ != TypeArray {
		return 0
	}
	d := 0
	if vs, ok := v.v.([]Value); ok {
		for _, e := range vs {
			d = max(d, arrayDepth(e))
		}
	}
	return d + 1
}

// AddTensor appends a tensor of the given type and ggml dims (Dims[0] = row
// length); its data must be produced, in the same order, by the TensorSource
// given to WriteTo/WriteFile. It returns the tensor's info with its offset.
func (w *Writer) AddTensor(name string, typ quant.Type, dims ...uint64) (TensorInfo, error) {
	if name == "" || len(name) > MaxTensorName {
		return TensorInfo{}, fmt.Errorf("gguf writer: tensor name %q: length must be 1..%d", name, MaxTensorName)
	}
	if w.names[name] {
		return TensorInfo{}, fmt.Errorf("gguf writer: duplicate tensor %q", name)
	}
	if len(dims) == 0 || len(dims) > MaxDims {
		return TensorInfo{}, fmt.Errorf("gguf writer: tensor %q: %d dims, want 1..%d", name, len(dims), MaxDims)
	}
	if !typ.Known() {
		return TensorInfo{}, fmt.Errorf("gguf writer: tensor %q: unknown type %d", name, uint32(typ))
	}
	elems := uint64(1)
	for _, d := range dims {
		hi, lo := bits.Mul64(elems, d)
		if hi != 0 || lo > math.MaxInt64 {
			return TensorInfo{}, fmt.Errorf("gguf writer: tensor %q: element count overflows", name)
		}
		elems = lo
	}
	bs := uint64(typ.BlockSize())
	if dims[0]%bs != 0 {
		return TensorInfo{}, fmt.Errorf("gguf writer: tensor %q: row length %d is not a multiple of %s's block size %d", name, dims[0], typ, bs)
	}
	t := TensorInfo{Name: name, Type: typ, Dims: append([]uint64(nil), dims...), Offset: w.dataSize, Size: elems / bs * uint64(typ.TypeSize())}
	w.dataSize += alignUp(t.Size, w.alignment)
	w.names[name] = true
	w.tensors = append(w.tensors, t)
	return t, nil
}

// Tensors returns the tensor table as it will be written.
func (w *Writer) Tensors() []TensorInfo { return w.tensors }

// TensorSource writes the data of tensor i (exactly info.Size bytes) to out.
type TensorSource func(i int, info TensorInfo, out io.Writer) error

// WriteFile writes the file atomically (temp file, fsync, rename).
func (w *Writer) WriteFile(path string, src TensorSource) error {
	return atomicfile.Write(path, 0o644, func(out io.Writer) error {
		_, err := w.WriteTo(out, src)
		return err
	})
}

type countingWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// WriteTo streams the whole file to out and returns the bytes written.
func (w *Writer) WriteTo(out io.Writer, src TensorSource) (int64, error) {
	cw := &countingWriter{w: bufio.NewWriterSize(out, 1<<20)}
	e := &encoder{w: cw}
	e.raw([]byte(Magic))
	e.u32(Version)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(w.kvs)))
	for _, kv := range w.kvs {
		e.str(kv.Key)
		e.u32(uint32(kv.Value.typ))
		e.value(kv.Value)
	}
	for _, t := range w.tensors {
		e.str(t.Name)
		e.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			e.u64(d)
		}
		e.u32(uint32(t.Type))
		e.u64(t.Offset)
	}
	if e.err != nil {
		return cw.n, fmt.Errorf("gguf writer: header: %w", e.err)
	}
	if len(w.tensors) > 0 {
		e.pad(w.alignment)
	}
	start := cw.n
	for i, t := range w.tensors {
		if src == nil {
			return cw.n, fmt.Errorf("gguf writer: no tensor source for %d tensors", len(w.tensors))
		}
		before := cw.n
		if err := src(i, t, cw); err != nil {
			return cw.n, fmt.Errorf("gguf writer: tensor %q: %w", t.Name, err)
		}
		if got := uint64(cw.n - before); got != t.Size {
			return cw.n, fmt.Errorf("gguf writer: tensor %q: source wrote %d bytes, want %d", t.Name, got, t.Size)
		}
		e.pad(w.alignment)
		if e.err != nil {
			return cw.n, fmt.Errorf("gguf writer: tensor %q: %w", t.Name, e.err)
		}
		if uint64(cw.n-start) != t.Offset+alignUp(t.Size, w.alignment) {
			return cw.n, fmt.Errorf("gguf writer: tensor %q: internal offset mismatch", t.Name)
		}
	}
	if err := cw.w.Flush(); err != nil {
		return cw.n, fmt.Errorf("gguf writer: %w", err)
	}
	return cw.n, nil
}

type encoder struct {
	w   *countingWriter
	err error
	buf [8]byte
}

func (e *encoder) raw(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) pad(align uint64) {
	n := alignUp(uint64(e.w.n), align) - uint64(e.w.n)
	var zeros [64]byte
	for n > 0 && e.err == nil {
		k := min(n, uint64(len(zeros)))
		e.raw(zeros[:k])
		n -= k
	}
}

func (e *encoder) u8(v uint8)   { e.buf[0] = v; e.raw(e.buf[:1]) }
func (e *encoder) u16(v uint16) { binary.LittleEndian.PutUint16(e.buf[:], v); e.raw(e.buf[:2]) }
func (e *encoder) u32(v uint32) { binary.LittleEndian.PutUint32(e.buf[:], v); e.raw(e.buf[:4]) }
func (e *encoder) u64(v uint64) { binary.LittleEndian.PutUint64(e.buf[:], v); e.raw(e.buf[:8]) }
func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	if e.err == nil {
		_, e.err = io.WriteString(e.w, s)
	}
}

func (e *encoder) scalar(x any) {
	switch x := x.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case bool:
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	case string:
		e.str(x)
	default:
		if e.err == nil {
			e.err = fmt.Errorf("unsupported value %T", x)
		}
	}
}

func eachScalar[T Scalar](e *encoder, s []T) {
	for _, x := range s {
		e.scalar(x)
	}
}

func (e *encoder) value(v Value) {
	if v.typ != TypeArray {
		e.scalar(v.v)
		return
	}
	e.u32(uint32(v.elem))
	e.u64(uint64(v.Len()))
	switch s := v.v.(type) {
	case []uint8:
		e.raw(s)
	case []int8:
		eachScalar(e, s)
	case []uint16:
		eachScalar(e, s)
	case []int16:
		eachScalar(e, s)
	case []uint32:
		eachScalar(e, s)
	case []int32:
		eachScalar(e, s)
	case []float32:
		eachScalar(e, s)
	case []bool:
		eachScalar(e, s)
	case []string:
		eachScalar(e, s)
	case []uint64:
		eachScalar(e, s)
	case []int64:
		eachScalar(e, s)
	case []float64:
		eachScalar(e, s)
	case []Value:
		for _, x := range s {
			e.value(x) // each element is an array: its own type and length first
		}
	}
}
