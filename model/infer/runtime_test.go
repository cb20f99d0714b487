package infer

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/model/infer/infertest"
)

func tinySpec(typ string) infertest.RandomSpec {
	return infertest.RandomSpec{VocabSize: 384, DModel: 256, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 512,
		ContextLength: 256, RopeBase: 10000, NormEps: 1e-5, Sigma: 0.08, EmbedSigma: 0.3, Seed: 7, Type: typ}
}

func writeTiny(t *testing.T, typ string) string {
	t.Helper()
	return infertest.WriteTemp(t, "tiny-"+typ+".gguf", tinySpec(typ))
}

func maxAbsDiff(a, b []float32) (d, scale float64) {
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
		scale = math.Max(scale, math.Abs(float64(b[i])))
	}
	return
}

// Processing a prompt in one batch or token by token gives the same logits
// (with an F32 KV cache: F16 rounding would amplify summation-order noise).
func TestBatchEqualsIncremental(t *testing.T) {
	for _, typ := range []string{"F32", "Q8_0", "Q4_K_M"} {
		m, err := Load(writeTiny(t, typ), Options{KVF32: true})
		if err != nil {
			t.Fatal(err)
		}
		prompt := []int32{5, 77, 300, 12, 9, 250, 31, 2}
		all, err := m.NewSession(64).EvalAll(prompt)
		if err != nil {
			t.Fatal(err)
		}
		s := m.NewSession(64)
		V := m.Hyper.VocabSize
		for i, tok := range prompt {
			lg, err := s.Eval([]int32{tok})
			if err != nil {
				t.Fatal(err)
			}
			if d, sc := maxAbsDiff(lg, all[i*V:(i+1)*V]); d > 1e-4*sc {
				t.Fatalf("%s position %d: batch and incremental differ by %g (scale %g)", typ, i, d, sc)
			}
			for _, v := range lg {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s: non-finite logit", typ)
				}
			}
		}
		m.Close()
	}
}

func TestLoadRejectsBadFiles(t *testing.T) {
	path := writeTiny(t, "F32")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(t.TempDir(), "trunc.gguf")
	os.WriteFile(trunc, raw[:len(raw)-1000], 0o644)
	if _, err := Load(trunc, Options{}); err == nil {
		t.Fatal("truncated file loaded")
	}
	bad := filepath.Join(t.TempDir(), "bad.gguf")
	os.WriteFile(bad, []byte("GGUF\x03\x00\x00\x00garbage"), 0o644)
	if _, err := Load(bad, Options{}); err == nil {
		t.Fatal("garbage loaded")
	}
	// A model whose eval gets an out-of-vocabulary id reports it.
	m, err := Load(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.NewSession(16).Eval([]int32{1, 384}); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
		t.Fatalf("out-of-vocab token: err = %v", err)
	}
	if _, err := m.NewSession(4).Eval(make([]int32, 5)); err == nil {
		t.Fatal("context overflow not reported")
	}
}

// NLL over a sequence equals the sum of −log softmax of each next token,
// computed here independently from EvalAll logits in float64; windows split
// the sequence without changing a single-window result.
func TestNLL(t *testing.T) {
	m, err := Load(writeTiny(t, "F32"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	toks := []int32{3, 50, 70, 100, 20, 9, 9, 300, 41, 42}
	V := m.Hyper.VocabSize
	logits, err := m.NewSession(32).EvalAll(toks[:len(toks)-1])
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	for i := 3; i < len(toks); i++ {
		row := logits[(i-1)*V : i*V]
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v))
		}
		want += math.Log(z) - float64(row[toks[i]])
	}
	got, n, err := m.NLL(toks, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(toks)-3 || math.Abs(got-want) > 1e-6*math.Abs(want) {
		t.Fatalf("NLL = %g over %d tokens, want %g over %d", got, n, want, len(toks)-3)
	}
	// windows of 4: tokens 1..3, 5..7, 9 scored (window starts are not)
	_, n, err = m.NLL(toks, 1, 4)
	if err != nil || n != 7 {
		t.Fatalf("windowed NLL scored %d tokens (err %v), want 7", n, err)
	}
}
