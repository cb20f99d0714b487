package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/distill/engine"
	"github.com/distill-ml/distill/distill/importance"
	"github.com/distill-ml/distill/format/imatrix"
)

// newImatrixCmd is `distill imatrix`: the importance matrix of a model on
// calibration data, in llama.cpp's GGUF imatrix format.
func newImatrixCmd(a *app) *cobra.Command {
	var (
		model, data, out string
		limit, threads   int
		fast             bool
	)
	c := &cobra.Command{
		Use:   "imatrix --model student-f32.gguf --data DATASET --out FILE",
		Short: "Compute an importance matrix (what llama-imatrix computes) from collected prompts",
		Long: "Runs every row of DATASET — a distill dataset directory (its stored tokens: the\n" +
			"collected prompts and completions) or a JSONL/text file as distill eval reads it — through\n" +
			"the model and sums, for every block weight matrix, each input column's squared activation\n" +
			"over all token rows, with the row count, as llama-imatrix does. Writes llama.cpp's GGUF\n" +
			"imatrix format, which distill quantize --imatrix and llama-quantize --imatrix read. Use the\n" +
			"F32 (or F16) export: the statistics describe the unquantized model. By default the runtime\n" +
			"keeps llama.cpp's arithmetic (ExactPrompt), so the activations are llama.cpp's own floats.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if model == "" || data == "" || out == "" {
				return usagef("imatrix: --model, --data and --out are required")
			}
			if limit < 0 {
				return usagef("imatrix: --limit must be >= 0")
			}
			m, err := engine.Load(model, runtimeOptions(threads, !fast, 0))
			if err != nil {
				return fmt.Errorf("imatrix: %w", err)
			}
			defer m.Close()
			seqs, err := calibrationSequences(m, data, limit)
			if err != nil {
				return fmt.Errorf("imatrix: %w", err)
			}
			if len(seqs) == 0 {
				return fmt.Errorf("imatrix: %s has no rows", data)
			}
			progress := a.countProgress("imatrix")
			f, err := importance.Compute(m.Runtime(), seqs, importance.Options{Dataset: filepath.Base(data),
				Progress: func(n, _ int) { progress(n, len(seqs)) }})
			if err != nil {
				return fmt.Errorf("imatrix: %w", err)
			}
			if err := imatrix.Write(out, f); err != nil {
				return fmt.Errorf("imatrix: write %s: %w", out, err)
			}
			fmt.Fprintf(a.stdout, "imatrix: wrote %s (%d matrices, %d sequences, longest %d tokens)\n", out, len(f.Entries), f.ChunkCount, f.ChunkSize)
			return nil
		},
	}
	c.Flags().StringVar(&model, "model", "", "GGUF model (the F32 export)")
	c.Flags().StringVar(&data, "data", "", "distill dataset directory, or JSONL/text file")
	c.Flags().StringVar(&out, "out", "", "output imatrix file (GGUF, written atomically)")
	c.Flags().IntVar(&limit, "limit", 0, "use at most this many rows (0: all)")
	c.Flags().IntVar(&threads, "threads", 0, "compute threads (default GOMAXPROCS)")
	c.Flags().BoolVar(&fast, "fast", false, "the runtime's fast prompt path instead of llama.cpp's arithmetic")
	return c
}

// calibrationSequences returns the token rows of a distill dataset
// (refusing one tokenized with another tokenizer), or of a JSONL/text file
// tokenized with the model's tokenizer (prompt followed by completion).
func calibrationSequences(m *engine.Model, data string, limit int) ([][]int32, error) {
	st, err := os.Stat(data)
	if err != nil {
		return nil, err
	}
	var seqs [][]int32
	if st.IsDir() {
		ds, err := dataset.Open(data)
		if err != nil {
			return nil, err
		}
		if h := ds.Meta().TokenizerHash; h != m.TokenizerHash() {
			return nil, fmt.Errorf("dataset %s was tokenized with %s, the model's tokenizer is %s", data, h, m.TokenizerHash())
		}
		stop := fmt.Errorf("limit")
		err = ds.Each(func(_ int, _ int64, rec *dataset.Record) error {
			if limit > 0 && len(seqs) >= limit {
				return stop
			}
			seqs = append(seqs, append([]int32(nil), rec.Tokens...))
			return nil
		})
		if err != nil && err != stop {
			return nil, err
		}
		return seqs, nil
	}
	recs, err := engine.ReadEvalRecords(data, limit)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		seqs = append(seqs, m.Tokenize(r.Prompt+r.Completion))
	}
	return seqs, nil
}
