package checkpoint

import (
	"fmt"
	"math"

	"github.com/distill-ml/distill/model/student"
)

// Llama 3 rope_scaling from a llama.cpp GGUF's per-pair factors, for a
// Hugging Face config.json. Hugging Face's llama3 formula depends on
// original_max_position_embeddings (L), low_freq_factor (lo) and
// high_freq_factor (hi) only through L/lo, L/hi and (L/λ − lo)/(hi − lo),
// all unchanged when the three are scaled by one constant; so the factors
// fix them only up to that scale, and the conventional lo = 1 (every Llama
// 3.x) is chosen. Accepted only when llama.cpp's converter arithmetic
// (float32) regenerates the file's factors bit for bit.

// llama3FromFactors recovers the llama3 rope_scaling that produced c's
// RopeFactors as llama.cpp's converter computes them; zero scaling (and nil)
// when every factor is 1. It fails, naming rope_freqs.weight and the first
// index no candidate reproduces, when the factors are not of that form.
func llama3FromFactors(c student.Config) (student.RopeScaling, error) {
	f, err := c.RopeFactors.Values()
	if err != nil {
		return student.RopeScaling{}, err
	}
	hd := c.HeadDim()
	maxF := float32(1)
	for _, v := range f {
		maxF = max(maxF, v)
	}
	if maxF == 1 {
		return student.RopeScaling{}, nil
	}
	F := float64(maxF)
	wave := func(i int) float64 { return 2 * math.Pi / math.Pow(c.RopeBase, -2*float64(i)/float64(hd)) }
	smooth := func(v float32) float64 { return (1/float64(v) - 1/F) / (1 - 1/F) }
	var band []int
	maxKept, minScaled := 0.0, math.Inf(1)
	for i, v := range f {
		switch v {
		case 1:
			maxKept = max(maxKept, wave(i))
		case maxF:
			minScaled = min(minScaled, wave(i))
		default:
			band = append(band, i)
		}
	}
	// Candidates (L, hi) with lo = 1: L/λ = 1 + s·(hi − 1) in the band.
	type cand struct{ L, hi float64 }
	var cands []cand
	switch {
	case len(band) >= 2:
		a, b := band[0], band[len(band)-1]
		ua, ub, sa, sb := 1/wave(a), 1/wave(b), smooth(f[a]), smooth(f[b])
		if det := ua*sb - ub*sa; det != 0 && sa != 0 {
			L := (sb - sa) / det
			hi := 1 + (L*ua-1)/sa
			cands = append(cands, cand{math.Round(L), math.Round(hi)}, cand{math.Round(L), math.Round(hi*8) / 8})
		}
	case len(band) == 1:
		i := band[0]
		cands = append(cands, cand{math.Round(wave(i) * (1 + 3*smooth(f[i]))), 4})
	default:
		cands = append(cands, cand{8192, 4}, cand{math.Floor(4*maxKept) + 1, 4}, cand{math.Ceil(minScaled) - 1, 4})
	}
	firstDiff := 0
	for _, k := range cands {
		if !(k.L > 0 && k.L <= 1<<30 && k.hi > 1) {
			continue
		}
		rs := student.RopeScaling{Type: student.RopeScalingLlama3, Factor: F, LowFreqFactor: 1, HighFreqFactor: k.hi, OriginalContext: int(k.L)}
		g := converterRopeFactors(c.RopeBase, hd, rs)
		i := 0
		for i < len(f) && math.Float32bits(f[i]) == math.Float32bits(g[i]) {
			i++
		}
		if i == len(f) {
			return rs, nil
		}
		firstDiff = max(firstDiff, i)
	}
	return student.RopeScaling{}, fmt.Errorf("%s: no Llama 3 rope_scaling (low_freq_factor 1) regenerates the factors (first differing index %d)", ropeFreqsTensor, firstDiff)
}

// converterRopeFactors is rope_freqs.weight [headDim/2] as llama.cpp's
// convert_hf_to_gguf.py computes it for rope_type llama3: float32
// frequencies base^(−2i/d) and wave lengths, kept pairs 1, slow pairs the
// factor, the band 1/((1 − smooth)/factor + smooth), in float32.
func converterRopeFactors(base float64, hd int, rs student.RopeScaling) []float32 {
	out := make([]float32, hd/2)
	old := float32(rs.OriginalContext)
	lowWave := float32(float64(rs.OriginalContext) / rs.LowFreqFactor)
	highWave := float32(float64(rs.OriginalContext) / rs.HighFreqFactor)
	for i := range out {
		e := float32(2*i) / float32(hd)
		freq := 1 / float32(math.Pow(float64(float32(base)), float64(e)))
		wave := float32(2*math.Pi) / freq
		switch {
		case wave < highWave:
			out[i] = 1
		case wave > lowWave:
			out[i] = float32(rs.Factor)
		default:
			s := (old/wave - float32(rs.LowFreqFactor)) / float32(rs.HighFreqFactor-rs.LowFreqFactor)
			out[i] = 1 / ((1-s)/float32(rs.Factor) + s)
		}
	}
	return out
}
