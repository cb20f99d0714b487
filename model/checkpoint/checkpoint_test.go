package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/student"
)

func tinyConfig() student.Config {
	return student.Config{VocabSize: 16, DModel: 8, NLayers: 2, NHeads: 2, NKVHeads: 1, FFNDim: 12,
		ContextLength: 32, RopeBase: 10000, NormEps: 1e-5}
}

func fakeCheckpoint(t *testing.T, step int64, seed uint64) *Checkpoint {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	cfg := tinyConfig()
	c := &Checkpoint{Meta: Meta{Student: cfg, TokenizerHash: "sha256:abc", Loss: json.RawMessage(`{"alpha":0.5}`)},
		State: State{Step: step, OptimizerStep: step, TokensSeen: 100 * step, LR: 1e-3, Loader: json.RawMessage(`{"epoch":1,"row":7}`), RNG: []byte{1, 2, 3}}}
	shapes := ExpectedShapes(cfg)
	var names []string
	for n := range shapes {
		names = append(names, n)
	}
	names = append(names, "distill.hidden_proj.0.weight") // an extra trainer-only tensor
	shapes["distill.hidden_proj.0.weight"] = []int{3, 8}
	for _, n := range names {
		sz := 1
		for _, d := range shapes[n] {
			sz *= d
		}
		w := Tensor{Name: n, Shape: shapes[n], Data: make([]float32, sz)}
		m := Tensor{Name: MomentName(n, "exp_avg"), Shape: shapes[n], Data: make([]float32, sz)}
		v := Tensor{Name: MomentName(n, "exp_avg_sq"), Shape: shapes[n], Data: make([]float32, sz)}
		for i := range w.Data {
			w.Data[i] = float32(r.NormFloat64())
			m.Data[i] = float32(r.NormFloat64() * 1e-3)
			v.Data[i] = float32(r.Float64() * 1e-6)
		}
		c.Weights = append(c.Weights, w)
		c.Optimizer = append(c.Optimizer, m, v)
	}
	return c
}

func TestSaveLoadRoundTrip(t *testing.T) {
	root := t.TempDir()
	tok := filepath.Join(t.TempDir(), "tok.json")
	os.WriteFile(tok, []byte(`{"model":"x"}`), 0o644)
	c := fakeCheckpoint(t, 12, 1)
	c.TokenizerPath = tok
	dir, err := Save(root, c, 3)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != "step-00000012" {
		t.Fatalf("dir %s", dir)
	}
	got, err := Load(root) // root resolves to the newest
	if err != nil {
		t.Fatal(err)
	}
	var loader bytes.Buffer
	json.Compact(&loader, got.State.Loader)
	if got.Dir != dir || got.State.Step != 12 || got.State.TokensSeen != 1200 || loader.String() != `{"epoch":1,"row":7}` || !bytes.Equal(got.State.RNG, []byte{1, 2, 3}) {
		t.Fatalf("state %+v", got.State)
	}
	if got.Meta.Student != c.Meta.Student || got.Meta.TokenizerHash != "sha256:abc" || got.Meta.Format != FormatName {
		t.Fatalf("meta %+v", got.Meta)
	}
	want := map[string]Tensor{}
	for _, w := range append(c.Weights, c.Optimizer...) {
		want[w.Name] = w
	}
	for _, g := range append(got.Weights, got.Optimizer...) {
		w := want[g.Name]
		if !slices.Equal(w.Shape, g.Shape) || len(w.Data) != len(g.Data) {
			t.Fatalf("%s: shape %v vs %v", g.Name, g.Shape, w.Shape)
		}
		for i := range w.Data {
			if math.Float32bits(w.Data[i]) != math.Float32bits(g.Data[i]) {
				t.Fatalf("%s[%d] differs", g.Name, i)
			}
		}
		delete(want, g.Name)
	}
	if len(want) != 0 {
		t.Fatalf("tensors not read back: %d", len(want))
	}
	b, _ := os.ReadFile(got.TokenizerPath)
	if string(b) != `{"model":"x"}` {
		t.Fatalf("tokenizer copy %q", b)
	}
	cfg, weights, tokPath, err := LoadWeights(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg != c.Meta.Student || tokPath != got.TokenizerPath || len(weights["blk.1.ffn_down.weight"]) != 8*12 {
		t.Fatalf("LoadWeights: %+v %q %d", cfg, tokPath, len(weights))
	}
}

func TestKeepLastN(t *testing.T) {
	root := t.TempDir()
	crashed := filepath.Join(root, ".tmp-step-00000001-123") // a save killed an hour ago
	os.MkdirAll(crashed, 0o755)
	hourAgo := time.Now().Add(-time.Hour)
	os.Chtimes(crashed, hourAgo, hourAgo)
	for s := int64(1); s <= 5; s++ {
		if _, err := Save(root, fakeCheckpoint(t, s, uint64(s)), 2); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(root)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "step-00000004,step-00000005" {
		t.Fatalf("after keep=2: %v", names)
	}
	if l, _ := Latest(root); filepath.Base(l) != "step-00000005" {
		t.Fatalf("latest %s", l)
	}
}

func TestPoisonedCheckpointNeverWritten(t *testing.T) {
	root := t.TempDir()
	c := fakeCheckpoint(t, 3, 2)
	c.Weights[1].Data[4] = float32(math.NaN())
	_, err := Save(root, c, 0)
	if err == nil || !strings.Contains(err.Error(), c.Weights[1].Name) || !strings.Contains(err.Error(), "poisoned") {
		t.Fatalf("NaN weight: %v", err)
	}
	c = fakeCheckpoint(t, 3, 2)
	c.Optimizer[3].Data[0] = float32(math.Inf(1))
	if _, err := Save(root, c, 0); err == nil || !strings.Contains(err.Error(), c.Optimizer[3].Name) {
		t.Fatalf("Inf moment: %v", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("poisoned save left %v", entries)
	}
}

// Each corruption must be reported with the file and, where it applies, the tensor.
func TestLoadNamesBrokenFileAndTensor(t *testing.T) {
	cases := []struct {
		name   string
		breakF func(dir string)
		want   []string
	}{
		{"truncated weights", func(dir string) {
			p := filepath.Join(dir, ModelFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-10], 0o644)
		}, []string{ModelFile}},
		{"missing optimizer", func(dir string) { os.Remove(filepath.Join(dir, OptimizerFile)) }, []string{OptimizerFile}},
		{"config shape mismatch", func(dir string) {
			p := filepath.Join(dir, ConfigFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte(`"ffn_dim": 12`), []byte(`"ffn_dim": 10`), 1), 0o644)
		}, []string{ModelFile, "ffn_", "shape"}},
		{"unknown config key", func(dir string) {
			p := filepath.Join(dir, ConfigFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte(`"version"`), []byte(`"bogus": 1, "version"`), 1), 0o644)
		}, []string{ConfigFile, "bogus"}},
		{"NaN written behind our back", func(dir string) {
			p := filepath.Join(dir, ModelFile)
			b, _ := os.ReadFile(p)
			binary.LittleEndian.PutUint32(b[len(b)-4:], math.Float32bits(float32(math.NaN())))
			os.WriteFile(p, b, 0o644)
		}, []string{ModelFile, "NaN"}},
		{"bad state", func(dir string) { os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"step": "x"}`), 0o644) }, []string{StateFile}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir, err := Save(root, fakeCheckpoint(t, 1, 3), 0)
			if err != nil {
				t.Fatal(err)
			}
			tc.breakF(dir)
			_, err = Load(dir)
			if err == nil {
				t.Fatal("broken checkpoint loaded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestSafetensorsRejectsBadHeaders(t *testing.T) {
	mk := func(header string, data int) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, uint64(len(header)))
		b.WriteString(header)
		b.Write(make([]byte, data))
		return b.Bytes()
	}
	cases := map[string][]byte{
		"huge header length": append(binary.LittleEndian.AppendUint64(nil, 1<<40), '{', '}'),
		"bad json":           mk(`{"a":`, 0),
		"i8 dtype":           mk(`{"a":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}}`, 4),
		"size mismatch":      mk(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8),
		"offset past end":    mk(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4),
		"hole":               mk(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8),
		"overlap":            mk(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4),
		"huge shape":         mk(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, 4),
		"empty name":         mk(`{"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4),
		"trailing bytes":     mk(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 8),
	}
	for name, b := range cases {
		if _, _, err := readSafetensors(bytes.NewReader(b), int64(len(b))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzReadSafetensors(f *testing.F) {
	var b bytes.Buffer
	WriteSafetensors(&b, []Tensor{{Name: "a", Shape: []int{2}, Data: []float32{1, 2}}, {Name: "b", Shape: []int{1, 1}, Data: []float32{3}}}, map[string]string{"k": "v"})
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, _, err := readSafetensors(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteSafetensors(&out, ts, nil); err != nil {
			t.Fatalf("re-write of accepted tensors: %v", err)
		}
	})
}

// Cross-check with an independent reader and writer (Python json + numpy,
// following the safetensors spec): Go writes → Python reads, Python writes → Go reads.
func TestSafetensorsCrossReadPython(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with Python safetensors: not in -short")
	}
	ts := []Tensor{
		{Name: "token_embd.weight", Shape: []int{3, 2}, Data: []float32{1, -2, 3.5, 1e-8, -0, 65504}},
		{Name: "output_norm.weight", Shape: []int{2}, Data: []float32{0.25, -7}},
		{Name: "scalar", Shape: []int{}, Data: []float32{42}},
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	var b bytes.Buffer
	if err := WriteSafetensors(&b, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, b.Bytes(), 0o644)
	out2 := filepath.Join(t.TempDir(), "py.safetensors")
	got := testpeers.RunPython(t, `
import json, struct, sys, numpy as np
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
assert (8 + n) % 8 == 0, "header not padded to 8"
h = json.loads(raw[8:8+n])
data = raw[8+n:]
res = {}
for name, e in h.items():
    if name == "__metadata__":
        res[name] = e
        continue
    a, b = e["data_offsets"]
    arr = np.frombuffer(data[a:b], dtype="<f4").reshape(e["shape"])
    res[name] = {"dtype": e["dtype"], "shape": list(arr.shape), "values": arr.reshape(-1).tolist()}
print(json.dumps(res, sort_keys=True))
# Write one of our own for Go to read: two tensors, reversed data order.
x = np.arange(6, dtype="<f4").reshape(2, 3) / 4
y = np.array([-1.5], dtype="<f4")
hdr = {"y": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
       "x": {"dtype": "F32", "shape": [2, 3], "data_offsets": [4, 28]}}
hb = json.dumps(hdr).encode()
with open(sys.argv[2], "wb") as f:
    f.write(struct.pack("<Q", len(hb)) + hb + y.tobytes() + x.tobytes())
`, nil, path, out2)
	var res map[string]json.RawMessage
	if err := json.Unmarshal(got, &res); err != nil {
		t.Fatalf("python output %q: %v", got, err)
	}
	if string(res["__metadata__"]) != `{"format": "pt"}` {
		t.Errorf("metadata %s", res["__metadata__"])
	}
	for _, tt := range ts {
		var e struct {
			Dtype  string
			Shape  []int
			Values []float64
		}
		json.Unmarshal(res[tt.Name], &e)
		if e.Dtype != "F32" || !slices.Equal(e.Shape, tt.Shape) || len(e.Values) != len(tt.Data) {
			t.Fatalf("%s read by python as %+v", tt.Name, e)
		}
		for i, v := range e.Values {
			if float32(v) != tt.Data[i] {
				t.Errorf("%s[%d]: python %v, go %v", tt.Name, i, v, tt.Data[i])
			}
		}
	}
	back, _, err := ReadSafetensorsFile(out2)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[0].Name != "y" || back[0].Data[0] != -1.5 || back[1].Name != "x" || !slices.Equal(back[1].Shape, []int{2, 3}) || back[1].Data[5] != 1.25 {
		t.Fatalf("python-written file read as %+v", back)
	}
}

// A training run directory (which holds its own config.json beside
// checkpoints/) resolves to its newest checkpoint, not to itself.
func TestResolveRunDirectory(t *testing.T) {
	run := t.TempDir()
	os.WriteFile(filepath.Join(run, ConfigFile), []byte(`{"config":{}}`), 0o644)
	for _, s := range []int64{2, 4} {
		if _, err := Save(filepath.Join(run, "checkpoints"), fakeCheckpoint(t, s, 1), 0); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := Resolve(run)
	if err != nil || filepath.Base(dir) != "step-00000004" {
		t.Fatalf("Resolve(run) = %q, %v", dir, err)
	}
	if _, _, _, err := LoadWeights(run); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(filepath.Join(run, "nope")); err == nil {
		t.Fatal("missing path resolved")
	}
}
