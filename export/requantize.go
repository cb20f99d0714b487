package export

import (
	"fmt"
	"io"
	"strings"

	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/quant"
)

// Requantize reads an F32/F16 GGUF at in and writes out (atomically) with the
// tensor types file type ft implies (Mix.TensorType with opt.Pure, the
// input's <arch>.block_count, head counts and tied-output state). Metadata is copied in order,
// with general.file_type and general.quantization_version set for ft.
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

	w := gguf.NewWriter()
	_, hasQV := f.KV(gguf.KeyQuantizationVersion)
	setFT := false
	for _, kv := range f.KVs {
		v := kv.Value
		switch kv.Key {
		case gguf.KeyFileType:
			v, setFT = gguf.Of(ft.GGUFFileType()), true
		case gguf.KeyQuantizationVersion:
			v = gguf.Of(uint32(2))
		}
		if err := w.Set(kv.Key, v); err != nil {
			return fmt.Errorf("quantize %s: %w", in, err)
		}
		// A newly quantized file gets quantization_version right after file_type.
		if kv.Key == gguf.KeyFileType && !hasQV {
			if err := w.Set(gguf.KeyQuantizationVersion, gguf.Of(uint32(2))); err != nil {
				return err
			}
		}
	}
	if !setFT {
		if err := w.Set(gguf.KeyFileType, gguf.Of(ft.GGUFFileType())); err != nil {
			return err
		}
		if !hasQV {
			if err := w.Set(gguf.KeyQuantizationVersion, gguf.Of(uint32(2))); err != nil {
				return err
			}
		}
	}

	types := make([]quant.Type, len(f.Tensors))
	var total int64
	for i, t := range f.Tensors {
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
		t := f.Tensors[i]
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
