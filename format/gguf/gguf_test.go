package gguf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/distill-ml/distill/format/quant"
)

// sampleWriter builds a file with every value type, nested arrays, a custom
// alignment and tensors of several types whose sizes are not multiples of it.
func sampleWriter(t testing.TB, align uint32) (*Writer, [][]byte) {
	t.Helper()
	w := NewWriter()
	nested, err := ArrayOfArrays([]Value{ArrayOf([]int32{1, -2}), ArrayOf([]string{"x"}), ArrayOf([]float64{})})
	if err != nil {
		t.Fatal(err)
	}
	kvs := []KV{
		{"general.architecture", Of("llama")},
		{KeyAlignment, Of(align)},
		{"test.u8", Of(uint8(200))},
		{"test.i8", Of(int8(-100))},
		{"test.u16", Of(uint16(60000))},
		{"test.i16", Of(int16(-30000))},
		{"test.u32", Of(uint32(4000000000))},
		{"test.i32", Of(int32(-2000000000))},
		{"test.f32", Of(float32(1e-5))},
		{"test.bool_t", Of(true)},
		{"test.bool_f", Of(false)},
		{"test.str", Of("héllo\x00wörld")},
		{"test.empty_str", Of("")},
		{"test.u64", Of(uint64(1) << 62)},
		{"test.i64", Of(int64(-1) << 60)},
		{"test.f64", Of(math.Pi)},
		{"test.arr_u8", ArrayOf([]uint8{1, 2, 255})},
		{"test.arr_i8", ArrayOf([]int8{-1, 2})},
		{"test.arr_u16", ArrayOf([]uint16{7})},
		{"test.arr_i16", ArrayOf([]int16{-7, 7})},
		{"test.arr_u32", ArrayOf([]uint32{1, 2, 3})},
		{"test.arr_i32", ArrayOf([]int32{1, -3, 1, 4})},
		{"test.arr_f32", ArrayOf([]float32{0.5, -1.25})},
		{"test.arr_bool", ArrayOf([]bool{true, false, true})},
		{"test.arr_str", ArrayOf([]string{"a", "", "Ġthe", "日本"})},
		{"test.arr_u64", ArrayOf([]uint64{math.MaxUint64})},
		{"test.arr_i64", ArrayOf([]int64{math.MinInt64})},
		{"test.arr_f64", ArrayOf([]float64{math.Copysign(0, -1), 1e300})},
		{"test.arr_empty", ArrayOf([]uint32{})},
		{"test.nested", nested},
	}
	for _, kv := range kvs {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	specs := []struct {
		name string
		typ  quant.Type
		dims []uint64
	}{
		{"a.weight", quant.F32, []uint64{3}},
		{"b.weight", quant.F16, []uint64{5, 3}},
		{"c.weight", quant.Q8_0, []uint64{64, 2}},
		{"d.weight", quant.Q4_K, []uint64{256, 1, 1, 2}},
		{"e.weight", quant.I8, []uint64{0}},
		{"f.weight", quant.Q6_K, []uint64{256}},
	}
	var data [][]byte
	for i, s := range specs {
		ti, err := w.AddTensor(s.name, s.typ, s.dims...)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, ti.Size)
		for j := range b {
			b[j] = byte(i*31 + j*7 + 1)
		}
		data = append(data, b)
	}
	return w, data
}

func writeSample(t testing.TB, path string, align uint32) (*Writer, [][]byte) {
	w, data := sampleWriter(t, align)
	err := w.WriteFile(path, func(i int, info TensorInfo, out io.Writer) error {
		_, err := out.Write(data[i])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return w, data
}

func TestRoundTrip(t *testing.T) {
	for _, align := range []uint32{32, 64, 8} {
		t.Run(fmt.Sprint(align), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.gguf")
			w, data := writeSample(t, path, align)
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Version != 3 || f.Alignment != uint64(align) {
				t.Fatalf("version %d alignment %d", f.Version, f.Alignment)
			}
			if !reflect.DeepEqual(f.KVs, w.kvs) {
				t.Fatalf("KVs differ:\n got %v\nwant %v", f.KVs, w.kvs)
			}
			// DeepEqual takes -0 for +0: the sign of negative zero survives.
			if v, ok := f.KV("test.arr_f64"); !ok || !math.Signbit(v.Any().([]float64)[0]) {
				t.Fatalf("test.arr_f64 read back as %v: want -0 first", v.Any())
			}
			if !reflect.DeepEqual(f.Tensors, w.tensors) {
				t.Fatalf("tensors differ:\n got %+v\nwant %+v", f.Tensors, w.tensors)
			}
			if f.DataOffset%int64(align) != 0 {
				t.Fatalf("data offset %d not aligned", f.DataOffset)
			}
			// Offsets are the exact running sum of padded sizes (what llama.cpp demands).
			var sum uint64
			for i, ti := range f.Tensors {
				if ti.Offset != sum {
					t.Fatalf("tensor %d offset %d, want %d", i, ti.Offset, sum)
				}
				sum += (ti.Size + uint64(align) - 1) / uint64(align) * uint64(align)
				got, err := f.TensorData(ti.Name)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data[i]) {
					t.Fatalf("tensor %s data differs", ti.Name)
				}
			}
			if f.Size != f.DataOffset+int64(sum) {
				t.Fatalf("file size %d, want %d", f.Size, f.DataOffset+int64(sum))
			}
			if s, err := f.String("test.str"); err != nil || s != "héllo\x00wörld" {
				t.Fatalf("String: %q %v", s, err)
			}
			if u, err := f.Uint("test.u32"); err != nil || u != 4000000000 {
				t.Fatalf("Uint: %d %v", u, err)
			}
			if _, err := f.Uint("test.i8"); err == nil {
				t.Fatal("Uint of a negative value should fail")
			}
			if _, err := f.Uint32("test.u64"); err == nil || !strings.Contains(err.Error(), "want u32") {
				t.Fatalf("Uint32 on u64: %v", err)
			}
			if ss, err := f.Strings("test.arr_str"); err != nil || len(ss) != 4 || ss[2] != "Ġthe" {
				t.Fatalf("Strings: %v %v", ss, err)
			}
			if _, err := f.Int32s("test.arr_u32"); err == nil {
				t.Fatal("Int32s on a u32 array should fail")
			}
			if _, err := f.String("missing.key"); err == nil || !strings.Contains(err.Error(), "missing key") {
				t.Fatalf("missing: %v", err)
			}
		})
	}
}

func TestWriterRejects(t *testing.T) {
	w := NewWriter()
	if err := w.Set("a", Of(uint32(1))); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"dup key":       w.Set("a", Of(uint32(2))),
		"empty key":     w.Set("", Of(uint32(2))),
		"zero value":    w.Set("b", Value{}),
		"bad alignment": w.Set(KeyAlignment, Of(uint32(24))),
		"u64 alignment": w.Set(KeyAlignment, Of(uint64(32))),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	deep := ArrayOf([]uint8{1})
	for i := 0; i < 8; i++ {
		deep, _ = ArrayOfArrays([]Value{deep})
	}
	if err := w.Set("deep", deep); err == nil {
		t.Error("9 levels of arrays accepted (the reader stops at 8)")
	}
	if _, err := w.AddTensor("t", quant.Q4_K, 100); err == nil {
		t.Error("row not a multiple of 256 accepted for Q4_K")
	}
	if _, err := w.AddTensor(strings.Repeat("n", 64), quant.F32, 1); err == nil {
		t.Error("64-byte tensor name accepted")
	}
	if _, err := w.AddTensor("t", quant.Type(4), 1); err == nil {
		t.Error("removed type 4 accepted")
	}
	if _, err := w.AddTensor("t", quant.F32, 1, 1, 1, 1, 1); err == nil {
		t.Error("5 dims accepted")
	}
	if _, err := w.AddTensor("t", quant.F32, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddTensor("t", quant.F32, 2); err == nil {
		t.Error("duplicate tensor accepted")
	}
	if err := w.Set(KeyAlignment, Of(uint32(64))); err == nil {
		t.Error("alignment after tensors accepted")
	}
	// A source that writes the wrong number of bytes is an error, and the
	// destination file is not created.
	path := filepath.Join(t.TempDir(), "short.gguf")
	err := w.WriteFile(path, func(i int, info TensorInfo, out io.Writer) error {
		_, err := out.Write([]byte{1, 2, 3})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "wrote 3 bytes, want 8") {
		t.Fatalf("short source: %v", err)
	}
	if _, serr := os.Stat(path); !os.IsNotExist(serr) {
		t.Fatalf("failed write left a file: %v", serr)
	}
}

// rawFile builds GGUF bytes by hand, so tests can craft malformed files.
type rawFile struct{ bytes.Buffer }

func (r *rawFile) u32(v uint32) *rawFile { binary.Write(&r.Buffer, binary.LittleEndian, v); return r }
func (r *rawFile) u64(v uint64) *rawFile { binary.Write(&r.Buffer, binary.LittleEndian, v); return r }
func (r *rawFile) str(s string) *rawFile { r.u64(uint64(len(s))); r.WriteString(s); return r }
func (r *rawFile) header(nt, nkv uint64) *rawFile {
	r.WriteString("GGUF")
	return r.u32(3).u64(nt).u64(nkv)
}
func (r *rawFile) tensor(name string, typ uint32, off uint64, dims ...uint64) *rawFile {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(typ).u64(off)
}
func (r *rawFile) padTo(a int) *rawFile {
	for r.Len()%a != 0 {
		r.WriteByte(0)
	}
	return r
}

func TestRejectsMalformed(t *testing.T) {
	twoTensors := func(off2 uint64) []byte {
		r := new(rawFile).header(2, 0)
		r.tensor("a", 0, 0, 8).tensor("b", 0, off2, 8).padTo(32)
		r.Write(make([]byte, 64))
		return r.Bytes()
	}
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":              {nil, "not a GGUF file"},
		"bad magic":          {[]byte("GGUFX"[1:] + "xxxxxxxxxxxxxxxxxxxxx"), "bad magic"},
		"version 1":          {new(rawFile).WriteStringB("GGUF").u32(1).u64(0).u64(0).Bytes(), "unsupported version 1"},
		"big-endian":         {new(rawFile).WriteStringB("GGUF").u32(3 << 24).u64(0).u64(0).Bytes(), "big-endian"},
		"huge tensor count":  {new(rawFile).header(1<<60, 0).Bytes(), "tensor count"},
		"huge kv count":      {new(rawFile).header(0, 1<<40).Bytes(), "key-value count"},
		"truncated kv":       {new(rawFile).header(0, 1).str("k").u32(uint32(TypeUint32)).u32(7).Bytes()[:39], "end of file"},
		"huge string":        {new(rawFile).header(0, 1).str("k").u32(uint32(TypeString)).u64(1 << 40).Bytes(), "string length"},
		"huge array":         {new(rawFile).header(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint64)).u64(1 << 59).Bytes(), "array element count"},
		"unknown value type": {new(rawFile).header(0, 1).str("k").u32(13).u32(0).Bytes(), "unknown value type 13"},
		"bad bool":           {new(rawFile).header(0, 1).str("k").u32(uint32(TypeBool)).WriteByteB(2).Bytes(), "neither 0 nor 1"},
		"dup key":            {new(rawFile).header(0, 2).str("k").u32(uint32(TypeUint8)).WriteByteB(1).str("k").u32(uint32(TypeUint8)).WriteByteB(1).Bytes(), "duplicate key"},
		"empty key":          {new(rawFile).header(0, 1).str("").u32(uint32(TypeUint8)).WriteByteB(1).Bytes(), "empty"},
		"alignment type":     {new(rawFile).header(0, 1).str(KeyAlignment).u32(uint32(TypeUint64)).u64(32).Bytes(), "want u32"},
		"alignment 48":       {new(rawFile).header(0, 1).str(KeyAlignment).u32(uint32(TypeUint32)).u32(48).Bytes(), "power of two"},
		"deep nesting": {func() []byte {
			r := new(rawFile).header(0, 1).str("k").u32(uint32(TypeArray))
			for i := 0; i < 20; i++ {
				r.u32(uint32(TypeArray)).u64(1)
			}
			return r.u32(0).u64(0).Bytes()
		}(), "nested deeper"},
		"unknown tensor type": {new(rawFile).header(1, 0).tensor("a", 4, 0, 8).padTo(32).Bytes(), "unknown ggml type 4"},
		"5 dims":              {new(rawFile).header(1, 0).tensor("a", 0, 0, 1, 1, 1, 1, 1).Bytes(), "dimensions"},
		"0 dims":              {new(rawFile).header(1, 0).tensor("a", 0, 0).Bytes(), "dimensions"},
		"dims overflow":       {new(rawFile).header(1, 0).tensor("a", 0, 0, 1<<32, 1<<32).padTo(32).Bytes(), "overflows"},
		"bytes overflow":      {new(rawFile).header(1, 0).tensor("a", 0, 0, 1<<62).padTo(32).Bytes(), "overflows"},
		"long name":           {new(rawFile).header(1, 0).tensor(strings.Repeat("x", 64), 0, 0, 1).Bytes(), "length 64 exceeds"},
		"bad row length":      {new(rawFile).header(1, 0).tensor("a", uint32(quant.Q8_0), 0, 33).padTo(32).Bytes(), "block size"},
		"dup tensor":          {new(rawFile).header(2, 0).tensor("a", 0, 0, 1).tensor("a", 0, 32, 1).padTo(32).Bytes(), "duplicate tensor"},
		"data past end":       {new(rawFile).header(1, 0).tensor("a", 0, 0, 1000).padTo(32).Bytes(), "past the end"},
		"offset out of range": {func() []byte { b := twoTensors(1 << 63); return b }(), "past the end"},
		"misaligned offset":   {twoTensors(16), "not a multiple of the alignment"},
		"overlap":             {twoTensors(0), "overlap"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(c.data), int64(len(c.data)), "bad.gguf")
			if err == nil {
				t.Fatalf("accepted")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.gguf") {
				t.Fatalf("error %q does not mention %q and the file name", err, c.want)
			}
		})
	}
	// The well-formed variant of the crafted files is accepted.
	if _, err := NewReader(bytes.NewReader(twoTensors(32)), int64(len(twoTensors(32))), "ok.gguf"); err != nil {
		t.Fatalf("valid crafted file rejected: %v", err)
	}
}

func (r *rawFile) WriteStringB(s string) *rawFile { r.WriteString(s); return r }
func (r *rawFile) WriteByteB(b byte) *rawFile     { r.WriteByte(b); return r }

// Every truncation of a valid file is an error, never a panic.
func TestTruncations(t *testing.T) {
	w, data := sampleWriter(t, 32)
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf, func(i int, _ TensorInfo, out io.Writer) error { _, err := out.Write(data[i]); return err }); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	// Only the padding after the last tensor may go: llama.cpp reads tensors
	// by offset and size, not the padded data section.
	last := w.tensors[len(w.tensors)-1]
	end := len(full) - int(alignUp(last.Size, 32)-last.Size)
	for n := 0; n < end; n++ {
		if _, err := NewReader(bytes.NewReader(full[:n]), int64(n), "t.gguf"); err == nil {
			t.Fatalf("truncation to %d of %d bytes accepted", n, len(full))
		}
	}
}

func FuzzReadGGUF(f *testing.F) {
	w, data := sampleWriter(f, 32)
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf, func(i int, _ TensorInfo, out io.Writer) error { _, err := out.Write(data[i]); return err }); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(new(rawFile).header(2, 0).tensor("a", 0, 0, 8).tensor("b", 0, 32, 8).padTo(32).Bytes())
	f.Add([]byte("GGUF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := NewReader(bytes.NewReader(b), int64(len(b)), "fuzz.gguf")
		if err != nil {
			return
		}
		// Whatever parses is self-consistent: every tensor's data is readable,
		// and writing the parsed file back yields a file that parses to the same
		// metadata and tensor table.
		w := NewWriter()
		for _, kv := range g.KVs {
			if err := w.Set(kv.Key, kv.Value); err != nil {
				t.Fatalf("re-set %q: %v", kv.Key, err)
			}
		}
		for _, ti := range g.Tensors {
			if _, err := g.TensorData(ti.Name); err != nil {
				t.Fatalf("tensor %q: %v", ti.Name, err)
			}
			if _, err := w.AddTensor(ti.Name, ti.Type, ti.Dims...); err != nil {
				t.Fatalf("re-add %q: %v", ti.Name, err)
			}
		}
		var out bytes.Buffer
		if _, err := w.WriteTo(&out, func(i int, ti TensorInfo, o io.Writer) error {
			r, err := g.TensorReader(ti.Name)
			if err != nil {
				return err
			}
			_, err = io.Copy(o, r)
			return err
		}); err != nil {
			t.Fatalf("rewrite: %v", err)
		}
		g2, err := NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()), "rewrite.gguf")
		if err != nil {
			t.Fatalf("rewritten file rejected: %v", err)
		}
		if !reflect.DeepEqual(kvsNoNaN(g.KVs), kvsNoNaN(g2.KVs)) || len(g.Tensors) != len(g2.Tensors) {
			t.Fatalf("rewrite changed the metadata")
		}
	})
}

// kvsNoNaN formats KVs so NaN payloads compare equal (DeepEqual treats NaN ≠ NaN).
func kvsNoNaN(kvs []KV) string {
	var b strings.Builder
	for _, kv := range kvs {
		fmt.Fprintf(&b, "%s=%s:%#v\n", kv.Key, kv.Value.typ, kv.Value.v)
	}
	return b.String()
}
