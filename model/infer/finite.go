package infer

import (
	"fmt"

	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/num/kernels/qdot"
)

// finiteChunkBytes is how much tensor data one worker checks at a time.
const finiteChunkBytes = 1 << 20

// checkFinite refuses a model whose weights hold NaN or ±Inf, naming the
// tensor: such a file would otherwise evaluate and generate (a NaN in a
// quantized activation block becomes a zero code) instead of failing. Norms,
// F32 and F16 weights are read in full; quantized weights only in their F16
// block scales (d, dmin), which is a complete check because every quantized
// value is a finite integer code times them. The scan runs on the model's
// worker pool; it touches every page of the mapped file once, pages the
// first forward pass touches anyway (MobileLLM-125M shape, 2 threads on a
// loaded box: Q8_0 127 MiB ≈ 15–85 ms, Q4_K_M 89 MiB ≈ 10–70 ms, F32 476 MiB
// ≈ 0.45–0.6 s).
func (m *Model) checkFinite() error {
	type span struct {
		name  string
		t     qdot.Type
		data  []byte
		first int // index of data's first element in the tensor
	}
	var spans []span
	addMatrix := func(name string, mat qdot.Matrix) {
		bs, ts := mat.Type.BlockSize(), mat.Type.TypeSize()
		step := max(1, finiteChunkBytes/ts) * ts
		for off := 0; off < len(mat.Data); off += step {
			spans = append(spans, span{name, mat.Type, mat.Data[off:min(off+step, len(mat.Data))], off / ts * bs})
		}
	}
	var errs []error
	checkVector := func(name string, v []float32) {
		for i, x := range v {
			if x != x || x-x != 0 {
				errs = append(errs, fmt.Errorf("tensor %s: element %d is %v", name, i, x))
				return
			}
		}
	}
	addMatrix("token_embd.weight", m.tokEmbd)
	if !m.Hyper.TiedOutput {
		addMatrix("output.weight", m.output)
	}
	for i := range m.blocks {
		b := &m.blocks[i]
		name := func(s string) string { return fmt.Sprintf("blk.%d.%s.weight", i, s) }
		checkVector(name("attn_norm"), b.attnNorm)
		checkVector(name("ffn_norm"), b.ffnNorm)
		for _, w := range []struct {
			n   string
			mat qdot.Matrix
		}{{"attn_q", b.wq}, {"attn_k", b.wk}, {"attn_v", b.wv}, {"attn_output", b.wo}, {"ffn_gate", b.wGate}, {"ffn_up", b.wUp}, {"ffn_down", b.wDown}} {
			addMatrix(name(w.n), w.mat)
		}
	}
	checkVector("output_norm.weight", m.outNorm)
	if len(errs) > 0 {
		return errs[0]
	}
	spanErrs := make([]error, len(spans))
	m.pool.For(len(spans), 1, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			s := spans[j]
			if err := quant.CheckFinite(s.t, s.data, s.first); err != nil {
				spanErrs[j] = fmt.Errorf("tensor %s: %w", s.name, err)
			}
		}
	})
	for _, err := range spanErrs {
		if err != nil {
			return err
		}
	}
	return nil
}
