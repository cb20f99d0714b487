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
