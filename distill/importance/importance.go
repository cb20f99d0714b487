// Package importance computes importance matrices — what llama.cpp's
// llama-imatrix computes — by running token sequences (the collected
// prompts and completions) through the runtime: for every block weight
// matrix, the sum over all evaluated token rows of each input column's
// squared activation, and the number of rows summed. Sums accumulate in
// float32, row by row in evaluation order, as llama-imatrix's collector
// does (acc[j] += x[j]·x[j]); with infer.Options.ExactPrompt the
// activations are llama.cpp's own floats. The result is a format/imatrix
// File that distill quantize --imatrix (and llama-quantize) read.
package importance

import (
	"fmt"
	"math"

	"github.com/distill-ml/distill/format/imatrix"
	"github.com/distill-ml/distill/model/infer"
)

// Options control Compute.
type Options struct {
	// Dataset names the calibration data in the file (imatrix.datasets).
	Dataset string
	// Progress, when set, is called after each sequence with the sequences
	// and tokens done.
	Progress func(seqs, tokens int)
}

// Compute evaluates every sequence (each from an empty cache, truncated to
// the model's context length) and returns the statistics. ChunkSize is the
// longest sequence evaluated and ChunkCount the number of sequences, the
// closest analogues of llama-imatrix's fixed-size chunks.
func Compute(m *infer.Model, seqs [][]int32, opt Options) (*imatrix.File, error) {
	ctx := m.ContextLength()
	sums := map[string][]float32{}
	counts := map[string]int64{}
	var obsErr error
	observe := func(name string, x []float32, n, cols int) {
		acc, ok := sums[name]
		if !ok {
			acc = make([]float32, cols)
			sums[name] = acc
		} else if len(acc) != cols {
			obsErr = fmt.Errorf("importance: %s has %d columns, earlier %d", name, cols, len(acc))
			return
		}
		for r := 0; r < n; r++ {
			row := x[r*cols : (r+1)*cols]
			for j, v := range row {
				acc[j] += float32(v * v)
			}
		}
		counts[name] += int64(n)
	}
	longest, tokens := 0, 0
	for i, seq := range seqs {
		if len(seq) == 0 {
			continue
		}
		if len(seq) > ctx {
			seq = seq[:ctx]
		}
		s := m.NewSession(len(seq))
		s.Observe(observe)
		if _, err := s.EvalAll(seq); err != nil {
			return nil, fmt.Errorf("importance: sequence %d: %w", i, err)
		}
		if obsErr != nil {
			return nil, obsErr
		}
		longest = max(longest, len(seq))
		tokens += len(seq)
		if opt.Progress != nil {
			opt.Progress(i+1, tokens)
		}
	}
	if len(sums) == 0 {
		return nil, fmt.Errorf("importance: no tokens evaluated")
	}
	f := &imatrix.File{Entries: map[string]imatrix.Entry{}, ChunkCount: len(seqs), ChunkSize: longest, HasMetadata: true}
	if opt.Dataset != "" {
		f.Datasets = []string{opt.Dataset}
	}
	for name, acc := range sums {
		for j, v := range acc {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("importance: %s column %d: non-finite sum %v", name, j, v)
			}
		}
		f.Entries[name] = imatrix.Entry{Sums: acc, Counts: []int64{counts[name]}}
	}
	return f, nil
}
