package checkpoint

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/distill-ml/distill/num/f16"
)

// Tensor is one named float32 tensor, row-major.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Bounds on untrusted safetensors input, checked before allocating.
const (
	maxHeaderBytes = 64 << 20 // the JSON header
	maxTensors     = 1 << 20
	maxDims        = 8
)

type tensorHeader struct {
	Dtype       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// WriteSafetensors writes tensors in the safetensors format: an 8-byte
// little-endian header length, a JSON header mapping each name to
// {dtype "F32", shape, data_offsets [begin, end) relative to the data
// section} plus optional "__metadata__" (string → string), padded with spaces
// to a multiple of 8 bytes, then the raw little-endian data in the order given.
func WriteSafetensors(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	return WriteSafetensorsAs(w, tensors, metadata, DtypeF32)
}

// Safetensors element types distill reads and writes.
const (
	DtypeF32  = "F32"
	DtypeF16  = "F16"  // IEEE half, round to nearest even
	DtypeBF16 = "BF16" // bfloat16, round to nearest even (as torch's .to(torch.bfloat16))
)

// dtypeBytes is the element size of each supported dtype.
var dtypeBytes = map[string]int64{DtypeF32: 4, DtypeF16: 2, DtypeBF16: 2}

// WriteSafetensorsAs is WriteSafetensors storing every tensor as dtype
// (DtypeF32, DtypeF16 or DtypeBF16), rounded to nearest even.
func WriteSafetensorsAs(w io.Writer, tensors []Tensor, metadata map[string]string, dtype string) error {
	esize, ok := dtypeBytes[dtype]
	if !ok {
		return fmt.Errorf("safetensors: dtype %q not supported (F32, F16, BF16)", dtype)
	}
	header := make(map[string]any, len(tensors)+1)
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, t := range tensors {
		if t.Name == "" || t.Name == "__metadata__" {
			return fmt.Errorf("safetensors: invalid tensor name %q", t.Name)
		}
		if _, dup := header[t.Name]; dup {
			return fmt.Errorf("safetensors: duplicate tensor %q", t.Name)
		}
		n := int64(1)
		shape := make([]int64, len(t.Shape))
		for i, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("safetensors: tensor %s: negative dimension %d", t.Name, d)
			}
			n *= int64(d)
			shape[i] = int64(d)
		}
		if n != int64(len(t.Data)) {
			return fmt.Errorf("safetensors: tensor %s: shape %v holds %d values, data has %d", t.Name, t.Shape, n, len(t.Data))
		}
		header[t.Name] = tensorHeader{Dtype: dtype, Shape: shape, DataOffsets: []int64{off, off + esize*n}}
		off += esize * n
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors: header: %w", err)
	}
	if pad := (8 - len(hb)%8) % 8; pad > 0 {
		hb = append(hb, []byte(strings.Repeat(" ", pad))...)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hb)))
	bw.Write(lenBuf[:])
	bw.Write(hb)
	var buf [4096]byte
	per := len(buf) / int(esize)
	for _, t := range tensors {
		for i := 0; i < len(t.Data); i += per {
			end := min(i+per, len(t.Data))
			for j, v := range t.Data[i:end] {
				switch dtype {
				case DtypeF32:
					binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
				case DtypeF16:
					binary.LittleEndian.PutUint16(buf[2*j:], f16.Float16(v))
				case DtypeBF16:
					binary.LittleEndian.PutUint16(buf[2*j:], bfloat16(v))
				}
			}
			if _, err := bw.Write(buf[:int(esize)*(end-i)]); err != nil {
				return fmt.Errorf("safetensors: write %s: %w", t.Name, err)
			}
		}
	}
	return bw.Flush()
}

// bfloat16 rounds f to the nearest bfloat16, ties to even; NaN stays NaN.
func bfloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// ReadSafetensorsFile reads and validates a safetensors file of F32, F16 or
// BF16 tensors (halves widened to float32 exactly). Tensors come back in data-offset order. Every problem names the
// file and, where it applies, the tensor.
func ReadSafetensorsFile(path string) ([]Tensor, map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	ts, md, err := readSafetensors(bufio.NewReaderSize(f, 1<<20), st.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return ts, md, nil
}

func readSafetensors(r io.Reader, size int64) ([]Tensor, map[string]string, error) {
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, nil, fmt.Errorf("safetensors: short file (%d bytes), no header length", size)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen < 2 || hlen > maxHeaderBytes || int64(hlen) > size-8 {
		return nil, nil, fmt.Errorf("safetensors: header length %d invalid for a %d-byte file", hlen, size)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, nil, fmt.Errorf("safetensors: read header: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hb, &raw); err != nil {
		return nil, nil, fmt.Errorf("safetensors: header JSON: %w", err)
	}
	if len(raw) > maxTensors {
		return nil, nil, fmt.Errorf("safetensors: %d header entries exceed the limit %d", len(raw), maxTensors)
	}
	dataLen := size - 8 - int64(hlen)
	var md map[string]string
	type entry struct {
		name   string
		dtype  string
		esize  int64
		shape  []int
		lo, hi int64
	}
	entries := make([]entry, 0, len(raw))
	for name, msg := range raw {
		if name == "" {
			return nil, nil, fmt.Errorf("safetensors: header has a tensor with an empty name")
		}
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &md); err != nil {
				return nil, nil, fmt.Errorf("safetensors: __metadata__ must map strings to strings: %w", err)
			}
			continue
		}
		var th tensorHeader
		dec := json.NewDecoder(strings.NewReader(string(msg)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&th); err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %s: header entry: %w", name, err)
		}
		esize, ok := dtypeBytes[th.Dtype]
		if !ok {
			return nil, nil, fmt.Errorf("safetensors: tensor %s: dtype %q, supported: F32, F16, BF16", name, th.Dtype)
		}
		if len(th.Shape) > maxDims || len(th.DataOffsets) != 2 {
			return nil, nil, fmt.Errorf("safetensors: tensor %s: %d dims, %d data offsets", name, len(th.Shape), len(th.DataOffsets))
		}
		n := int64(1)
		shape := make([]int, len(th.Shape))
		for i, d := range th.Shape {
			if d < 0 || d > dataLen {
				return nil, nil, fmt.Errorf("safetensors: tensor %s: dimension %d out of range", name, d)
			}
			n *= d
			if n > dataLen {
				return nil, nil, fmt.Errorf("safetensors: tensor %s: shape %v larger than the %d-byte data section", name, th.Shape, dataLen)
			}
			shape[i] = int(d)
		}
		lo, hi := th.DataOffsets[0], th.DataOffsets[1]
		if lo < 0 || hi < lo || hi > dataLen {
			return nil, nil, fmt.Errorf("safetensors: tensor %s: data_offsets [%d, %d) outside the %d-byte data section", name, lo, hi, dataLen)
		}
		if hi-lo != esize*n {
			return nil, nil, fmt.Errorf("safetensors: tensor %s: shape %v of %s needs %d bytes, data_offsets span %d", name, th.Shape, th.Dtype, esize*n, hi-lo)
		}
		entries = append(entries, entry{name, th.Dtype, esize, shape, lo, hi})
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].lo != entries[j].lo {
			return entries[i].lo < entries[j].lo
		}
		return entries[i].name < entries[j].name
	})
	var pos int64
	for _, e := range entries {
		if e.lo != pos {
			return nil, nil, fmt.Errorf("safetensors: tensor %s starts at byte %d, want %d (data must be contiguous, without holes or overlaps)", e.name, e.lo, pos)
		}
		pos = e.hi
	}
	if pos != dataLen {
		return nil, nil, fmt.Errorf("safetensors: tensors cover %d bytes of a %d-byte data section", pos, dataLen)
	}
	out := make([]Tensor, len(entries))
	var buf [4096]byte
	for i, e := range entries {
		data := make([]float32, (e.hi-e.lo)/e.esize)
		per := len(buf) / int(e.esize)
		for j := 0; j < len(data); j += per {
			end := min(j+per, len(data))
			b := buf[:int(e.esize)*(end-j)]
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, nil, fmt.Errorf("safetensors: tensor %s: read data: %w", e.name, err)
			}
			for k := range data[j:end] {
				switch e.dtype {
				case DtypeF32:
					data[j+k] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*k:]))
				case DtypeF16:
					data[j+k] = f16.Float32(binary.LittleEndian.Uint16(b[2*k:]))
				case DtypeBF16:
					data[j+k] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*k:])) << 16)
				}
			}
		}
		out[i] = Tensor{Name: e.name, Shape: e.shape, Data: data}
	}
	return out, md, nil
}

// FirstNonFinite returns the index of the first NaN or ±Inf in data, or -1.
func FirstNonFinite(data []float32) int {
	for i, v := range data {
		if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
			return i
		}
	}
	return -1
}
