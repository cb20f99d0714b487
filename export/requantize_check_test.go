package export

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/gguf/gguftest"
	"github.com/distill-ml/distill/format/quant"
)

// rewriteGGUF copies in to out, setting the given metadata values and
// leaving out the tensor named drop ("" keeps all).
func rewriteGGUF(t *testing.T, in, out string, set map[string]gguf.Value, drop string) {
	t.Helper()
	gguftest.Rewrite(t, in, out, gguftest.Edit{
		KV: func(kv gguf.KV) []gguf.KV {
			if v, ok := set[kv.Key]; ok {
				kv.Value = v
			}
			return []gguf.KV{kv}
		},
		DropTensor: func(name string) bool { return name == drop },
	})
}

// TestRequantizeRefusesBrokenInput: quantize used to pass NaN norm weights
// through unchanged and to write output for a file lacking a tensor or whose
// tensors disagree with llama.embedding_length. Each is refused now, naming
// the tensor or key, and no output file is left.
func TestRequantizeRefusesBrokenInput(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "f32.gguf")
	if err := Write(src, randomModel(t, cfgK), Options{Type: quant.FileF32}); err != nil {
		t.Fatal(err)
	}
	if err := Requantize(src, filepath.Join(dir, "ok.gguf"), quant.FileQ8_0, Options{}); err != nil {
		t.Fatalf("clean input refused: %v", err)
	}

	nanNorm := filepath.Join(dir, "nan-norm.gguf")
	rewriteGGUF(t, src, nanNorm, nil, "")
	f, _ := gguf.Open(nanNorm)
	ti, _ := f.Tensor("blk.1.ffn_norm.weight")
	off := f.DataOffset + int64(ti.Offset) + 4*9
	f.Close()
	fh, err := os.OpenFile(nanNorm, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteAt(binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(math.NaN()))), off)
	fh.Close()

	missing := filepath.Join(dir, "missing.gguf")
	rewriteGGUF(t, src, missing, nil, "blk.1.ffn_up.weight")
	wrongD := filepath.Join(dir, "wrong-d.gguf")
	rewriteGGUF(t, src, wrongD, map[string]gguf.Value{"llama.embedding_length": gguf.Of(uint32(128))}, "")

	for _, c := range []struct {
		in   string
		ft   quant.FileType
		want []string
	}{
		{nanNorm, quant.FileQ8_0, []string{"blk.1.ffn_norm.weight", "element 9 is NaN"}},
		{nanNorm, quant.FileF32, []string{"blk.1.ffn_norm.weight", "NaN"}},
		{missing, quant.FileQ4_K_M, []string{"missing tensor blk.1.ffn_up.weight"}},
		{wrongD, quant.FileQ8_0, []string{"has dims", "embedding_length 128"}},
	} {
		out := filepath.Join(dir, "out-"+filepath.Base(c.in))
		err := Requantize(c.in, out, c.ft, Options{})
		if err == nil {
			t.Errorf("%s → %s: accepted", filepath.Base(c.in), c.ft)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s → %s: error %q lacks %q", filepath.Base(c.in), c.ft, err, w)
			}
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: output written for a refused input", filepath.Base(c.in))
		}
	}
}
