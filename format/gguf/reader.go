package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"sort"

	"github.com/distill-ml/distill/format/quant"
)

// Format limits. The reader rejects files that exceed them.
const (
	Magic            = "GGUF"
	Version          = 3     // the version this package writes
	DefaultAlignment = 32    // when general.alignment is absent
	MaxDims          = 4     // GGML_MAX_DIMS
	MaxTensorName    = 63    // GGML_MAX_NAME (64) minus the terminating NUL
	MaxKeyLen        = 65535 // spec: keys are at most 2^16-1 bytes
	maxStringLen     = 1 << 30
	maxArrayDepth    = 8 // nesting of arrays of arrays
	maxAlignment     = 1 << 20
)

// KeyAlignment is the metadata key holding the data alignment.
const KeyAlignment = "general.alignment"

// TensorInfo describes one tensor. Dims follow ggml's order: Dims[0] is the
// number of elements in a row (the fastest-varying index), so a row-major Go
// matrix [rows, cols] has Dims {cols, rows}.
type TensorInfo struct {
	Name   string
	Type   quant.Type
	Dims   []uint64
	Offset uint64 // relative to the start of the data section, a multiple of the alignment
	Size   uint64 // bytes of data
}

// Elements is the product of the dimensions.
func (t TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is an opened GGUF file: its metadata and tensor table are parsed and
// validated; tensor data stays on disk and is read on demand, so the file can
// also be memory-mapped by the caller (data of tensor t starts at byte
// DataOffset+t.Offset of the file).
type File struct {
	Version    uint32
	KVs        []KV         // in file order
	Tensors    []TensorInfo // in file order
	Alignment  uint64
	DataOffset int64 // file offset of the data section
	Size       int64 // file size

	path   string
	ra     io.ReaderAt
	closer io.Closer
	kvIdx  map[string]int
	tIdx   map[string]int
}

// Open opens and validates the GGUF file at path. Close releases it.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("gguf: %w", err)
	}
	g, err := read(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	g.closer = f
	return g, nil
}

// NewReader parses a GGUF image of size bytes read through ra (e.g. a
// bytes.Reader or an mmap). name is used in error messages.
func NewReader(ra io.ReaderAt, size int64, name string) (*File, error) {
	return read(ra, size, name)
}

// Close releases the underlying file (a no-op for NewReader).
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	return err
}

// Path is the file's path (or the name given to NewReader).
func (f *File) Path() string { return f.path }

// KV returns the value for key.
func (f *File) KV(key string) (Value, bool) {
	i, ok := f.kvIdx[key]
	if !ok {
		return Value{}, false
	}
	return f.KVs[i].Value, true
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.tIdx[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// TensorReader returns a reader over the named tensor's data.
func (f *File) TensorReader(name string) (*io.SectionReader, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("gguf %s: no tensor %q", f.path, name)
	}
	return io.NewSectionReader(f.ra, f.DataOffset+int64(t.Offset), int64(t.Size)), nil
}

// TensorData reads the named tensor's data into a new slice.
func (f *File) TensorData(name string) ([]byte, error) {
	r, err := f.TensorReader(name)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, r.Size()) // bounded: validated to lie within the file
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("gguf %s: read tensor %q: %w", f.path, name, err)
	}
	return buf, nil
}

func (f *File) get(key string, want ValueType) (Value, error) {
	v, ok := f.KV(key)
	if !ok {
		return Value{}, fmt.Errorf("gguf %s: missing key %q", f.path, key)
	}
	if v.typ != want {
		return Value{}, fmt.Errorf("gguf %s: key %q is %s, want %s", f.path, key, v.typ, want)
	}
	return v, nil
}

// String returns a string-typed key.
func (f *File) String(key string) (string, error) {
	v, err := f.get(key, TypeString)
	if err != nil {
		return "", err
	}
	return v.v.(string), nil
}

// Uint32 returns a UINT32-typed key.
func (f *File) Uint32(key string) (uint32, error) {
	v, err := f.get(key, TypeUint32)
	if err != nil {
		return 0, err
	}
	return v.v.(uint32), nil
}

// Float32 returns a FLOAT32-typed key.
func (f *File) Float32(key string) (float32, error) {
	v, err := f.get(key, TypeFloat32)
	if err != nil {
		return 0, err
	}
	return v.v.(float32), nil
}

// Bool returns a BOOL-typed key.
func (f *File) Bool(key string) (bool, error) {
	v, err := f.get(key, TypeBool)
	if err != nil {
		return false, err
	}
	return v.v.(bool), nil
}

// Uint returns a key of any integer type as uint64 (the spec asks readers to
// accept both uint32 and uint64 counts); negative values are an error.
func (f *File) Uint(key string) (uint64, error) {
	v, ok := f.KV(key)
	if !ok {
		return 0, fmt.Errorf("gguf %s: missing key %q", f.path, key)
	}
	u, ok := v.Uint()
	if !ok {
		return 0, fmt.Errorf("gguf %s: key %q is %s (%s), want a non-negative integer", f.path, key, v.typ, v)
	}
	return u, nil
}

// Float returns a FLOAT32 or FLOAT64 key as float64.
func (f *File) Float(key string) (float64, error) {
	v, ok := f.KV(key)
	if !ok {
		return 0, fmt.Errorf("gguf %s: missing key %q", f.path, key)
	}
	x, ok := v.Float()
	if !ok {
		return 0, fmt.Errorf("gguf %s: key %q is %s, want a float", f.path, key, v.typ)
	}
	return x, nil
}

func getArray[T Scalar](f *File, key string) ([]T, error) {
	v, ok := f.KV(key)
	if !ok {
		return nil, fmt.Errorf("gguf %s: missing key %q", f.path, key)
	}
	s, ok := v.v.([]T)
	if !ok {
		var zero T
		t, _ := scalarType(any(zero))
		return nil, fmt.Errorf("gguf %s: key %q is %s of %s, want array of %s", f.path, key, v.typ, v.elem, t)
	}
	return s, nil
}

// Strings returns a string-array key.
func (f *File) Strings(key string) ([]string, error) { return getArray[string](f, key) }

// Int32s returns an INT32-array key.
func (f *File) Int32s(key string) ([]int32, error) { return getArray[int32](f, key) }

// Float32s returns a FLOAT32-array key.
func (f *File) Float32s(key string) ([]float32, error) { return getArray[float32](f, key) }

// Uint32s returns a UINT32-array key.
func (f *File) Uint32s(key string) ([]uint32, error) { return getArray[uint32](f, key) }

// ---- parsing ----

// parser reads sequentially with a position and the number of bytes left, so
// that every length and count is checked against what the file can hold
// before anything is allocated.
type parser struct {
	r    *bufio.Reader
	pos  int64
	size int64
	name string
	buf  [8]byte
}

var errTruncated = errors.New("unexpected end of file")

func (p *parser) remain() int64 { return p.size - p.pos }

func (p *parser) errf(format string, args ...any) error {
	return fmt.Errorf("gguf %s: offset %d: %s", p.name, p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) read(n int) ([]byte, error) {
	if int64(n) > p.remain() {
		return nil, p.errf("%v (need %d bytes, %d left)", errTruncated, n, p.remain())
	}
	b := p.buf[:n]
	if _, err := io.ReadFull(p.r, b); err != nil {
		return nil, p.errf("read: %v", err)
	}
	p.pos += int64(n)
	return b, nil
}

func (p *parser) u32() (uint32, error) {
	b, err := p.read(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (p *parser) u64() (uint64, error) {
	b, err := p.read(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// count reads a uint64 element count and checks that n elements of at least
// minSize bytes each fit in what remains of the file.
func (p *parser) count(what string, minSize int) (int, error) {
	n, err := p.u64()
	if err != nil {
		return 0, fmt.Errorf("%s count: %w", what, err)
	}
	if minSize < 1 {
		minSize = 1
	}
	if n > uint64(p.remain())/uint64(minSize) {
		return 0, p.errf("%s count %d cannot fit in the %d bytes left", what, n, p.remain())
	}
	return int(n), nil
}

func (p *parser) str(what string, maxLen uint64) (string, error) {
	n, err := p.u64()
	if err != nil {
		return "", fmt.Errorf("%s length: %w", what, err)
	}
	if n > maxLen {
		return "", p.errf("%s length %d exceeds the limit %d", what, n, maxLen)
	}
	if n > uint64(p.remain()) {
		return "", p.errf("%s length %d exceeds the %d bytes left", what, n, p.remain())
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(p.r, b); err != nil {
		return "", p.errf("read %s: %v", what, err)
	}
	p.pos += int64(n)
	return string(b), nil
}

func (p *parser) valueType(what string) (ValueType, error) {
	t, err := p.u32()
	if err != nil {
		return 0, err
	}
	vt := ValueType(t)
	if !vt.valid() {
		return 0, p.errf("%s: unknown value type %d", what, t)
	}
	return vt, nil
}

func (p *parser) scalar(t ValueType) (any, error) {
	if t == TypeString {
		return p.str("string", maxStringLen)
	}
	b, err := p.read(t.fixedSize())
	if err != nil {
		return nil, err
	}
	switch t {
	case TypeUint8:
		return b[0], nil
	case TypeInt8:
		return int8(b[0]), nil
	case TypeBool:
		if b[0] > 1 {
			return nil, p.errf("bool value %d is neither 0 nor 1", b[0])
		}
		return b[0] == 1, nil
	case TypeUint16:
		return binary.LittleEndian.Uint16(b), nil
	case TypeInt16:
		return int16(binary.LittleEndian.Uint16(b)), nil
	case TypeUint32:
		return binary.LittleEndian.Uint32(b), nil
	case TypeInt32:
		return int32(binary.LittleEndian.Uint32(b)), nil
	case TypeFloat32:
		return math.Float32frombits(binary.LittleEndian.Uint32(b)), nil
	case TypeUint64:
		return binary.LittleEndian.Uint64(b), nil
	case TypeInt64:
		return int64(binary.LittleEndian.Uint64(b)), nil
	case TypeFloat64:
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	}
	return nil, p.errf("unexpected value type %s", t)
}

func readSlice[T any](p *parser, n int, et ValueType) ([]T, error) {
	out := make([]T, n) // n was bounded by the bytes left
	for i := range out {
		x, err := p.scalar(et)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		out[i] = x.(T)
	}
	return out, nil
}

func (p *parser) value(t ValueType, depth int) (Value, error) {
	if t != TypeArray {
		x, err := p.scalar(t)
		if err != nil {
			return Value{}, err
		}
		return Value{typ: t, v: x}, nil
	}
	if depth >= maxArrayDepth {
		return Value{}, p.errf("arrays nested deeper than %d", maxArrayDepth)
	}
	et, err := p.valueType("array element")
	if err != nil {
		return Value{}, err
	}
	n, err := p.count("array element", et.minSize())
	if err != nil {
		return Value{}, err
	}
	v := Value{typ: TypeArray, elem: et}
	switch et {
	case TypeUint8:
		v.v, err = readSlice[uint8](p, n, et)
	case TypeInt8:
		v.v, err = readSlice[int8](p, n, et)
	case TypeUint16:
		v.v, err = readSlice[uint16](p, n, et)
	case TypeInt16:
		v.v, err = readSlice[int16](p, n, et)
	case TypeUint32:
		v.v, err = readSlice[uint32](p, n, et)
	case TypeInt32:
		v.v, err = readSlice[int32](p, n, et)
	case TypeFloat32:
		v.v, err = readSlice[float32](p, n, et)
	case TypeBool:
		v.v, err = readSlice[bool](p, n, et)
	case TypeString:
		v.v, err = readSlice[string](p, n, et)
	case TypeUint64:
		v.v, err = readSlice[uint64](p, n, et)
	case TypeInt64:
		v.v, err = readSlice[int64](p, n, et)
	case TypeFloat64:
		v.v, err = readSlice[float64](p, n, et)
	case TypeArray:
		vs := make([]Value, n)
		for i := range vs {
			if vs[i], err = p.value(TypeArray, depth+1); err != nil {
				err = fmt.Errorf("element %d: %w", i, err)
				break
			}
		}
		v.v = vs
	}
	if err != nil {
		return Value{}, err
	}
	return v, nil
}

func read(ra io.ReaderAt, size int64, name string) (*File, error) {
	p := &parser{r: bufio.NewReaderSize(io.NewSectionReader(ra, 0, size), 1<<16), size: size, name: name}
	f := &File{path: name, ra: ra, Size: size, kvIdx: map[string]int{}, tIdx: map[string]int{}}

	magic, err := p.read(4)
	if err != nil {
		return nil, fmt.Errorf("gguf %s: not a GGUF file: %w", name, err)
	}
	if string(magic) != Magic {
		return nil, fmt.Errorf("gguf %s: bad magic %q, want %q", name, magic, Magic)
	}
	if f.Version, err = p.u32(); err != nil {
		return nil, err
	}
	switch {
	case f.Version == 2 || f.Version == 3:
	case f.Version&0xffff == 0 && f.Version>>16 != 0:
		return nil, fmt.Errorf("gguf %s: version %#x looks byte-swapped: big-endian GGUF is not supported", name, f.Version)
	default:
		return nil, fmt.Errorf("gguf %s: unsupported version %d (want 2 or 3)", name, f.Version)
	}
	// A tensor info takes at least 8 (name len) + 4 (n_dims) + 4 (type) + 8 (offset) bytes;
	// a KV at least 8 (key len) + 4 (type) + 1 (value).
	nTensors, err := p.count("tensor", 24)
	if err != nil {
		return nil, err
	}
	nKV, err := p.count("metadata key-value", 13)
	if err != nil {
		return nil, err
	}

	f.KVs = make([]KV, 0, nKV)
	for i := 0; i < nKV; i++ {
		key, err := p.str(fmt.Sprintf("key %d", i), MaxKeyLen)
		if err != nil {
			return nil, err
		}
		if key == "" {
			return nil, p.errf("key %d is empty", i)
		}
		if _, dup := f.kvIdx[key]; dup {
			return nil, p.errf("duplicate key %q", key)
		}
		t, err := p.valueType(fmt.Sprintf("key %q", key))
		if err != nil {
			return nil, err
		}
		v, err := p.value(t, 0)
		if err != nil {
			return nil, fmt.Errorf("gguf %s: key %q: %w", name, key, err)
		}
		f.kvIdx[key] = len(f.KVs)
		f.KVs = append(f.KVs, KV{Key: key, Value: v})
	}

	f.Alignment = DefaultAlignment
	if v, ok := f.KV(KeyAlignment); ok {
		a, isU32 := v.v.(uint32)
		if !isU32 {
			return nil, fmt.Errorf("gguf %s: %s is %s, want u32", name, KeyAlignment, v.typ)
		}
		if a == 0 || a&(a-1) != 0 || a > maxAlignment {
			return nil, fmt.Errorf("gguf %s: %s = %d is not a power of two in [1, %d]", name, KeyAlignment, a, maxAlignment)
		}
		f.Alignment = uint64(a)
	}

	f.Tensors = make([]TensorInfo, 0, nTensors)
	for i := 0; i < nTensors; i++ {
		t, err := p.tensorInfo(i)
		if err != nil {
			return nil, err
		}
		if _, dup := f.tIdx[t.Name]; dup {
			return nil, p.errf("duplicate tensor name %q", t.Name)
		}
		f.tIdx[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}

	data := alignUp(uint64(p.pos), f.Alignment)
	if data > uint64(size) {
		if nTensors > 0 {
			return nil, fmt.Errorf("gguf %s: data section would start at %d, past the end of the file (%d bytes)", name, data, size)
		}
		data = uint64(size) // no tensors: padding is optional
	}
	f.DataOffset = int64(data)
	return f, f.checkLayout()
}

func (p *parser) tensorInfo(i int) (TensorInfo, error) {
	var t TensorInfo
	var err error
	if t.Name, err = p.str(fmt.Sprintf("tensor %d name", i), MaxTensorName); err != nil {
		return t, err
	}
	if t.Name == "" {
		return t, p.errf("tensor %d has an empty name", i)
	}
	nd, err := p.u32()
	if err != nil {
		return t, err
	}
	if nd == 0 || nd > MaxDims {
		return t, p.errf("tensor %q has %d dimensions, want 1..%d", t.Name, nd, MaxDims)
	}
	t.Dims = make([]uint64, nd)
	elems := uint64(1)
	for j := range t.Dims {
		if t.Dims[j], err = p.u64(); err != nil {
			return t, err
		}
		hi, lo := bits.Mul64(elems, t.Dims[j])
		if hi != 0 || lo > math.MaxInt64 {
			return t, p.errf("tensor %q: element count overflows (dims %v)", t.Name, t.Dims[:j+1])
		}
		elems = lo
	}
	typ, err := p.u32()
	if err != nil {
		return t, err
	}
	t.Type = quant.Type(typ)
	if !t.Type.Known() {
		return t, p.errf("tensor %q has unknown ggml type %d", t.Name, typ)
	}
	bs, ts := uint64(t.Type.BlockSize()), uint64(t.Type.TypeSize())
	if t.Dims[0]%bs != 0 {
		return t, p.errf("tensor %q: row length %d is not a multiple of %s's block size %d", t.Name, t.Dims[0], t.Type, bs)
	}
	hi, lo := bits.Mul64(elems/bs, ts)
	if hi != 0 || lo > math.MaxInt64 {
		return t, p.errf("tensor %q: byte size overflows", t.Name)
	}
	t.Size = lo
	if t.Offset, err = p.u64(); err != nil {
		return t, err
	}
	return t, nil
}

// checkLayout verifies every tensor's data is aligned, inside the file and
// disjoint from every other tensor's.
func (f *File) checkLayout() error {
	avail := uint64(f.Size - f.DataOffset)
	order := make([]int, len(f.Tensors))
	for i, t := range f.Tensors {
		order[i] = i
		if t.Offset%f.Alignment != 0 {
			return fmt.Errorf("gguf %s: tensor %q offset %d is not a multiple of the alignment %d", f.path, t.Name, t.Offset, f.Alignment)
		}
		if t.Offset > avail || t.Size > avail-t.Offset {
			return fmt.Errorf("gguf %s: tensor %q data [%d, +%d) runs past the end of the data section (%d bytes): file truncated or offset out of range",
				f.path, t.Name, t.Offset, t.Size, avail)
		}
	}
	sort.Slice(order, func(a, b int) bool { return f.Tensors[order[a]].Offset < f.Tensors[order[b]].Offset })
	for k := 1; k < len(order); k++ {
		prev, cur := f.Tensors[order[k-1]], f.Tensors[order[k]]
		if prev.Offset+prev.Size > cur.Offset {
			return fmt.Errorf("gguf %s: tensors %q [%d, +%d) and %q [%d, +%d) overlap",
				f.path, prev.Name, prev.Offset, prev.Size, cur.Name, cur.Offset, cur.Size)
		}
	}
	return nil
}

func alignUp(x, a uint64) uint64 { return (x + a - 1) / a * a }
