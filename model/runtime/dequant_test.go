package runtime

import (
	"encoding/binary"
	"io"
	"math"
	"path/filepath"
	"testing"

	"github.com/distill-ml/distill/export/gguf"
	"github.com/distill-ml/distill/export/quant"
	"github.com/distill-ml/distill/model/kernels/qdot"
)

// dequantizeFile rewrites a GGUF with every tensor expanded to F32.
func dequantizeFile(t *testing.T, in, out string) {
	t.Helper()
	f, err := gguf.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := gguf.NewWriter()
	for _, kv := range f.KVs {
		if kv.Key != gguf.KeyAlignment {
			if err := w.Set(kv.Key, kv.Value); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, ti := range f.Tensors {
		if _, err := w.AddTensor(ti.Name, quant.F32, ti.Dims...); err != nil {
			t.Fatal(err)
		}
	}
	err = w.WriteFile(out, func(i int, info gguf.TensorInfo, o io.Writer) error {
		ti := f.Tensors[i]
		data, err := f.TensorData(ti.Name)
		if err != nil {
			return err
		}
		n := int(ti.Elements())
		vals := make([]float32, n)
		if err := qdot.DequantizeRow(qdot.Type(ti.Type), vals, data, n); err != nil {
			return err
		}
		buf := make([]byte, 4*n)
		for j, v := range vals {
			binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
		}
		_, err = o.Write(buf)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Long prompt batches multiply quantized weights by dequantized tiles with
// F32 activations: exactly what an F32 copy of the same weights computes.
func TestLongPromptDequantGEMM(t *testing.T) {
	for _, typ := range []string{"Q8_0", "Q4_K_M", "Q4_0"} {
		q := writeTiny(t, typ)
		f := filepath.Join(t.TempDir(), "f32.gguf")
		dequantizeFile(t, q, f)
		mq, err := Load(q, Options{KVF32: true})
		if err != nil {
			t.Fatal(err)
		}
		mf, err := Load(f, Options{KVF32: true})
		if err != nil {
			t.Fatal(err)
		}
		prompt := make([]int32, dequantGemmMinBatch+9)
		for i := range prompt {
			prompt[i] = int32(2 + (i*37)%380)
		}
		lq, err := mq.NewSession(64).EvalAll(prompt)
		if err != nil {
			t.Fatal(err)
		}
		lf, err := mf.NewSession(64).EvalAll(prompt)
		if err != nil {
			t.Fatal(err)
		}
		if d, sc := maxAbsDiff(lq, lf); d > 1e-4*sc {
			t.Fatalf("%s: long prompt differs from the F32 copy by %g (scale %g)", typ, d, sc)
		}
		mq.Close()
		mf.Close()
	}
}
