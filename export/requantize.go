package export

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/quant"
)

// Requantize reads an F32/F16 GGUF at in and writes out (atomically) with the
// tensor types file type ft implies (Mix.TensorType with opt.Pure, the
// input's <arch>.block_count, head counts and tied-output state). Metadata is copied in order,
// then general.quantization_version and general.file_type (for ft) and, with
// opt.ImatrixSource, the quantize.imatrix.* keys are appended, as
// llama-quantize orders them.
// Tensors already quantized are only accepted when they keep their type
// (re-quantizing quantized data compounds error, so it is refused).
func Requantize(in, out string, ft quant.FileType, opt Options) error {
	if !ft.Valid() {
		return fmt.Errorf("quantize: unknown file type %d", ft)
	}
	f, err := gguf.Open(in)
	if err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	defer f.Close()
	arch, err := f.String(gguf.KeyArchitecture)
	if err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	if err := checkLlamaTensors(f); err != nil { // also refuses an unsupported architecture
		return fmt.Errorf("quantize %s: %w", in, err)
	}
	nLayers, err := f.Uint(gguf.ArchKey(arch, gguf.HyperBlockCount))
	if err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	_, hasOutput := f.Tensor("output.weight")
	mix := Mix{Type: ft, Pure: opt.Pure, NLayers: int(nLayers), Tied: !hasOutput, GQA: 1, HasImatrix: len(opt.Imatrix) > 0}
	if nHead, err := f.Uint(gguf.KeyLlamaHeadCount); err == nil { // both checked by checkLlamaTensors
		if nKV, err := f.Uint(gguf.KeyLlamaHeadCountKV); err == nil && nKV > 0 {
			mix.GQA = int(nHead / nKV)
		}
	}

	// The metadata as llama-quantize writes it: the input's keys in order,
	// then general.quantization_version and general.file_type (gguf_set_val
	// removes a key and appends it), then, with a recorded imatrix source,
	// the quantize.imatrix.* keys (replacing any the input had).
	var imKVs []gguf.KV
	if opt.ImatrixSource != nil && len(opt.Imatrix) > 0 {
		imKVs = opt.ImatrixSource.KVs()
	}
	tail := append([]gguf.KV{
		{Key: gguf.KeyQuantizationVersion, Value: gguf.Of(uint32(2))},
		{Key: gguf.KeyFileType, Value: gguf.Of(ft.GGUFFileType())},
	}, imKVs...)
	w := gguf.NewWriter()
	for _, kv := range f.KVs {
		if slices.ContainsFunc(tail, func(t gguf.KV) bool { return t.Key == kv.Key }) {
			continue
		}
		if err := w.Set(kv.Key, kv.Value); err != nil {
			return fmt.Errorf("quantize %s: %w", in, err)
		}
	}
	for _, kv := range tail {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			return fmt.Errorf("quantize %s: %w", in, err)
		}
	}

	// Tensors in llama-quantize's order; order[i] is the input tensor written i-th.
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return CompareTensorNames(f.Tensors[a].Name, f.Tensors[b].Name) })
	types := make([]quant.Type, len(f.Tensors))
	var total int64
	for i, ti := range order {
		t := f.Tensors[ti]
		nt := mix.TensorType(t.Name, t.Dims)
		if !quantizable(t.Name, t.Dims) {
			nt = t.Type // norms and 1-D tensors are copied as they are
		}
		if nt != t.Type && t.Type != quant.F32 && t.Type != quant.F16 {
			return fmt.Errorf("quantize %s: tensor %q is already %s; re-quantizing to %s needs an quant.FileF32 or quant.FileF16 source", in, t.Name, t.Type, nt)
		}
		if nt != t.Type && !quant.Quantizable(nt) {
			return fmt.Errorf("quantize %s: tensor %q: type %s is not supported", in, t.Name, nt)
		}
		if qw, ok := opt.Imatrix[t.Name]; ok && nt != t.Type {
			if !quant.WeightedQuantizable(nt) {
				return fmt.Errorf("quantize %s: tensor %q: importance-matrix quantization to %s is not implemented yet (without --imatrix it is)", in, t.Name, nt)
			}
			if uint64(len(qw)) != t.Dims[0] || len(t.Dims) != 2 {
				return fmt.Errorf("quantize %s: imatrix entry for %q has %d values, the tensor's rows %d", in, t.Name, len(qw), t.Dims[0])
			}
			for j, v := range qw {
				if v != v || v-v != 0 {
					return fmt.Errorf("quantize %s: imatrix entry for %q holds %v at column %d", in, t.Name, v, j)
				}
			}
		}
		types[i] = nt
		ti, err := w.AddTensor(t.Name, nt, t.Dims...)
		if err != nil {
			return fmt.Errorf("quantize %s: %w", in, err)
		}
		total += int64(ti.Size)
	}
	var done int64
	var src, dst []byte
	var fl []float32
	err = w.WriteFile(out, func(i int, info gguf.TensorInfo, o io.Writer) error {
		t := f.Tensors[order[i]]
		r, err := f.TensorReader(t.Name)
		if err != nil {
			return err
		}
		if cap(src) < int(t.Size) {
			src = make([]byte, t.Size)
		}
		s := src[:t.Size]
		if _, err := io.ReadFull(r, s); err != nil {
			return fmt.Errorf("read %s tensor %s: %w", in, t.Name, err)
		}
		if quant.Quantizable(t.Type) {
			if err := quant.CheckFinite(t.Type, s, 0); err != nil {
				return fmt.Errorf("tensor %s: %w", t.Name, err)
			}
		}
		if types[i] == t.Type {
			if _, err := o.Write(s); err != nil {
				return fmt.Errorf("copy: %w", err)
			}
		} else {
			n := int(t.Elements())
			if cap(fl) < n {
				fl = make([]float32, n)
			}
			x := fl[:n]
			if err := quant.Dequantize(t.Type, x, s); err != nil {
				return err
			}
			if cap(dst) < int(info.Size) {
				dst = make([]byte, info.Size)
			}
			b := dst[:info.Size]
			if qw, ok := opt.Imatrix[t.Name]; ok {
				if err := quant.QuantizeWeighted(types[i], b, x, int(t.Dims[0]), qw); err != nil {
					return err
				}
			} else if err := quant.QuantizeParallel(types[i], b, x); err != nil {
				return err
			}
			if _, err := o.Write(b); err != nil {
				return err
			}
		}
		done += int64(info.Size)
		if opt.Progress != nil {
			opt.Progress(done, total, t.Name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("quantize %s → %s: %w", in, out, err)
	}
	return nil
}

// TypeSummary counts tensors per ggml type, e.g. "F32×9 Q4_K×12 Q6_K×5".
func TypeSummary(types []quant.Type) string {
	counts := map[quant.Type]int{}
	var order []quant.Type
	for _, t := range types {
		if counts[t] == 0 {
			order = append(order, t)
		}
		counts[t]++
	}
	parts := make([]string, len(order))
	for i, t := range order {
		parts[i] = fmt.Sprintf("%s×%d", t, counts[t])
	}
	return strings.Join(parts, " ")
}
