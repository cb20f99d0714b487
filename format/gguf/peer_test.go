package gguf

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/distill-ml/distill/internal/testpeers"
)

// hfScript prints what @huggingface/gguf (a third-party reader) parses: every
// metadata value with its GGUF type, the tensor table and the data offset.
const hfScript = `
import { gguf } from "@huggingface/gguf";
const path = process.argv[2];
const r = await gguf(path, { allowLocalFile: true, typedMetadata: true });
const conv = (x) => typeof x === "bigint" ? "n" + x.toString() : Array.isArray(x) ? x.map(conv) : x;
const meta = {};
for (const [k, v] of Object.entries(r.typedMetadata)) {
  meta[k] = { type: v.type, subType: v.subType ?? null, value: conv(v.value) };
}
const tensors = r.tensorInfos.map(t => ({ name: t.name, dtype: t.dtype, shape: t.shape.map(conv), offset: conv(t.offset) }));
console.log(JSON.stringify({ meta, tensors, dataOffset: conv(r.tensorDataOffset) }));
`

type hfOut struct {
	Meta map[string]struct {
		Type    int             `json:"type"`
		SubType *int            `json:"subType"`
		Value   json.RawMessage `json:"value"`
	} `json:"meta"`
	Tensors []struct {
		Name   string   `json:"name"`
		Dtype  int      `json:"dtype"`
		Shape  []string `json:"shape"`
		Offset string   `json:"offset"`
	} `json:"tensors"`
	DataOffset string `json:"dataOffset"`
}

// jsonOf renders a value the way the node script does (64-bit integers as "n<digits>").
func jsonOf(v Value) string {
	conv := func(x any) any {
		switch x := x.(type) {
		case uint64:
			return fmt.Sprintf("n%d", x)
		case int64:
			return fmt.Sprintf("n%d", x)
		}
		return x
	}
	var out any
	switch s := v.v.(type) {
	case []uint64:
		a := make([]any, len(s))
		for i := range s {
			a[i] = conv(s[i])
		}
		out = a
	case []int64:
		a := make([]any, len(s))
		for i := range s {
			a[i] = conv(s[i])
		}
		out = a
	case []uint8:
		a := make([]int, len(s))
		for i := range s {
			a[i] = int(s[i])
		}
		out = a
	default:
		out = conv(v.v)
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func normJSON(t *testing.T, raw []byte) string {
	var x any
	if err := json.Unmarshal(raw, &x); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(x)
	return string(b)
}

func TestCrossReadHuggingFaceGGUF(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with Python gguf: not in -short")
	}
	path := filepath.Join(t.TempDir(), "x.gguf")
	w, _ := writeSample(t, path, 64)
	out := testpeers.RunNode(t, "@huggingface/gguf", hfScript, nil, path)
	var hf hfOut
	if err := json.Unmarshal(out, &hf); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if hf.DataOffset != fmt.Sprintf("n%d", f.DataOffset) {
		t.Errorf("data offset: @huggingface/gguf %s, ours %d", hf.DataOffset, f.DataOffset)
	}
	checked := 0
	for _, kv := range w.kvs {
		m, ok := hf.Meta[kv.Key]
		if !ok {
			t.Errorf("key %q missing in @huggingface/gguf's view", kv.Key)
			continue
		}
		if m.Type != int(kv.Value.typ) {
			t.Errorf("key %q: type %d there, %d here", kv.Key, m.Type, kv.Value.typ)
		}
		if kv.Value.typ == TypeArray && kv.Value.elem != TypeArray && (m.SubType == nil || *m.SubType != int(kv.Value.elem)) {
			t.Errorf("key %q: element type %v there, %d here", kv.Key, m.SubType, kv.Value.elem)
		}
		if kv.Value.elem == TypeArray || kv.Value.typ == TypeFloat32 || kv.Value.elem == TypeFloat32 {
			// Nested arrays are not typed the same way there; float32 prints
			// with float64 digits. Compare these numerically below.
			if kv.Value.typ == TypeFloat32 {
				var x float64
				json.Unmarshal(m.Value, &x)
				if float32(x) != kv.Value.v.(float32) {
					t.Errorf("key %q: %v there, %v here", kv.Key, x, kv.Value.v)
				}
			}
			continue
		}
		if kv.Value.typ == TypeFloat64 || kv.Value.elem == TypeFloat64 {
			// JSON.stringify writes -0 as 0, so float64 values are compared
			// as numbers (-0 == 0); the sign bit is checked by TestRoundTrip.
			var there, here any
			json.Unmarshal(m.Value, &there)
			json.Unmarshal([]byte(jsonOf(kv.Value)), &here)
			if !sameNumbers(there, here) {
				t.Errorf("key %q: %s there, %s here", kv.Key, m.Value, jsonOf(kv.Value))
			}
			checked++
			continue
		}
		if got, want := normJSON(t, m.Value), jsonOf(kv.Value); got != want {
			t.Errorf("key %q: %s there, %s here", kv.Key, got, want)
		}
		checked++
	}
	if len(hf.Tensors) != len(f.Tensors) {
		t.Fatalf("%d tensors there, %d here", len(hf.Tensors), len(f.Tensors))
	}
	for i, ht := range hf.Tensors {
		ti := f.Tensors[i]
		if ht.Name != ti.Name || ht.Dtype != int(ti.Type) || ht.Offset != fmt.Sprintf("n%d", ti.Offset) || len(ht.Shape) != len(ti.Dims) {
			t.Errorf("tensor %d: %+v there, %+v here", i, ht, ti)
			continue
		}
		for j, d := range ti.Dims {
			if ht.Shape[j] != fmt.Sprintf("n%d", d) {
				t.Errorf("tensor %s dim %d: %s there, %d here", ti.Name, j, ht.Shape[j], d)
			}
		}
	}
	t.Logf("@huggingface/gguf agreed on %d keys, %d tensors, data offset %d", checked, len(f.Tensors), f.DataOffset)
}

// hfWriteScript writes a metadata-only GGUF with @huggingface/gguf's own
// serializer (serializeGgufMetadata), so our reader is checked on bytes a
// third party produced.
const hfWriteScript = `
import { serializeGgufMetadata, GGUFValueType as T } from "@huggingface/gguf";
import { writeFileSync } from "node:fs";
const md = {
  version: { value: 3 }, tensor_count: { value: 0n }, kv_count: { value: 0n },
  "general.architecture": { type: T.STRING, value: "llama" },
  "t.u8": { type: T.UINT8, value: 200 },
  "t.i8": { type: T.INT8, value: -100 },
  "t.u16": { type: T.UINT16, value: 60000 },
  "t.i16": { type: T.INT16, value: -30000 },
  "t.u32": { type: T.UINT32, value: 4000000000 },
  "t.i32": { type: T.INT32, value: -2000000000 },
  "t.f32": { type: T.FLOAT32, value: 1.5 },
  "t.bool": { type: T.BOOL, value: true },
  "t.str": { type: T.STRING, value: "héllo Ġ日本" },
  "t.u64": { type: T.UINT64, value: 4611686018427387904n },
  "t.i64": { type: T.INT64, value: -1152921504606846976n },
  "t.f64": { type: T.FLOAT64, value: 3.141592653589793 },
  "t.arr_i32": { type: T.ARRAY, subType: T.INT32, value: [1, -2, 3] },
  "t.arr_str": { type: T.ARRAY, subType: T.STRING, value: ["a", "", "Ġb"] },
  "t.arr_f32": { type: T.ARRAY, subType: T.FLOAT32, value: [0.25, -8] },
};
writeFileSync(process.argv[2], serializeGgufMetadata(md, { alignment: 32 }));
`

func TestReadHuggingFaceWrittenGGUF(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with Python gguf: not in -short")
	}
	path := filepath.Join(t.TempDir(), "hf.gguf")
	testpeers.RunNode(t, "@huggingface/gguf", hfWriteScript, nil, path)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := []KV{
		{"general.architecture", Of("llama")},
		{"t.u8", Of(uint8(200))}, {"t.i8", Of(int8(-100))},
		{"t.u16", Of(uint16(60000))}, {"t.i16", Of(int16(-30000))},
		{"t.u32", Of(uint32(4000000000))}, {"t.i32", Of(int32(-2000000000))},
		{"t.f32", Of(float32(1.5))}, {"t.bool", Of(true)}, {"t.str", Of("héllo Ġ日本")},
		{"t.u64", Of(uint64(1) << 62)}, {"t.i64", Of(int64(-1) << 60)}, {"t.f64", Of(3.141592653589793)},
		{"t.arr_i32", ArrayOf([]int32{1, -2, 3})}, {"t.arr_str", ArrayOf([]string{"a", "", "Ġb"})},
		{"t.arr_f32", ArrayOf([]float32{0.25, -8})},
	}
	if got, exp := fmt.Sprintf("%#v", f.KVs), fmt.Sprintf("%#v", want); got != exp {
		t.Errorf("read\n%s\nwant\n%s", got, exp)
	}
	if len(f.Tensors) != 0 || f.Version != 3 {
		t.Errorf("version %d, %d tensors", f.Version, len(f.Tensors))
	}
}

// sameNumbers reports whether two decoded JSON values (a float64 or a list
// of them) are numerically equal element by element.
func sameNumbers(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameNumbers(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return false
}
