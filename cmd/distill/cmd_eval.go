package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/distill-ml/distill/distill/engine"
	"github.com/distill-ml/distill/model/infer"
	"github.com/spf13/cobra"
)

// evalReport is what `distill eval` prints (as JSON with --json).
type evalReport struct {
	Model string `json:"model"`
	Data  string `json:"data"`
	// Measured says which tokens the perplexity is over (measuredText).
	Measured string `json:"measured"`
	engine.EvalResult
	Seconds float64 `json:"seconds"`
}

// newEvalCmd is `distill eval`: perplexity of a GGUF model on a dataset.
func newEvalCmd(a *app) *cobra.Command {
	var (
		model, data string
		ctxLen      int
		threads     int
		exact       bool
		limit       int
		noBOS       bool
		asJSON      bool
	)
	c := &cobra.Command{
		Use:   "eval --model x.gguf --data FILE [--ctx N --limit N --json]",
		Short: "Perplexity of a GGUF model on a JSONL ({prompt, completion} or {text}) or text-lines file",
		Long: "Scores every record with distill's runtime: for {prompt, completion} records the\n" +
			"completion's tokens given the prompt, for {text} records and plain text lines every\n" +
			"token after the first (BOS is prepended when the model asks for it). Reports the mean\n" +
			"negative log-likelihood per token (nats) and the perplexity exp(mean NLL).\n" +
			"Sequences longer than --ctx are scored in non-overlapping windows.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if model == "" || data == "" {
				return usagef("eval: --model FILE and --data FILE are required")
			}
			if limit < 0 {
				return usagef("eval: --limit must be ≥ 0")
			}
			if ctxLen < 0 {
				return usagef("eval: --ctx must be ≥ 0")
			}
			recs, err := engine.ReadEvalRecords(data, limit)
			if err != nil {
				return fmt.Errorf("eval: %w", err)
			}
			var o []engine.Option
			if noBOS {
				o = append(o, engine.WithoutBOS())
			}
			m, err := engine.Load(model, runtimeOptions(threads, exact, ctxLen), o...)
			if err != nil {
				return fmt.Errorf("eval: %w", err)
			}
			defer m.Close()
			start := time.Now()
			res, err := m.Eval(recs, data, a.countProgress("eval"))
			if err != nil {
				return fmt.Errorf("eval: %w", err)
			}
			measured, plain := measuredText(recs)
			rep := evalReport{Model: model, Data: data, Measured: measured, EvalResult: res, Seconds: time.Since(start).Seconds()}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprintf(a.stdout, "model       %s\ndata        %s\nmeasured    %s\nsequences   %d\ntokens      %d scored\nmean NLL    %.4f nats/token\nperplexity  %.4f = exp(mean NLL)\ntime        %.1fs (%.0f tokens/s)\n",
				model, data, measured, rep.Sequences, rep.Tokens, rep.MeanNLL, rep.Perplexity, rep.Seconds, float64(rep.Tokens)/rep.Seconds)
			if plain > 0 {
				fmt.Fprintln(a.stdout, "note        plain text is scored as language modelling, which is not what a model fine-tuned on prompt/completion pairs trained on"+
					" (the quickstart's students never train on manual text; only its teacher does), so expect a high perplexity; for a student, score {prompt, completion} JSONL such as corpus/validation.jsonl")
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&model, "model", "", "GGUF model file")
	f.StringVar(&data, "data", "", "JSONL ({prompt, completion} or {text}) or text file, one sequence per line")
	f.IntVar(&ctxLen, "ctx", 0, fmt.Sprintf("window length in tokens (default: the model's context length, up to %d)", infer.DefaultContext))
	f.IntVar(&limit, "limit", 0, "score at most N records (0 = all)")
	f.IntVar(&threads, "threads", 0, "compute threads (default GOMAXPROCS)")
	f.BoolVar(&exact, "exact", false, exactFlagHelp)
	f.BoolVar(&noBOS, "no-bos", false, "do not prepend BOS even if the model asks for it")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return c
}

// measuredText says which tokens eval's perplexity is over, and returns the
// number of plain-text records (no prompt: every token after the first).
func measuredText(recs []engine.EvalRecord) (string, int) {
	pairs := 0
	for _, r := range recs {
		if r.Prompt != "" {
			pairs++
		}
	}
	plain := len(recs) - pairs
	var parts []string
	if pairs > 0 {
		parts = append(parts, fmt.Sprintf("the completion of each of %d prompt/completion %s given its prompt", pairs, plural(pairs, "record", "records")))
	}
	if plain > 0 {
		parts = append(parts, fmt.Sprintf("every token after the first of %d plain-text %s", plain, plural(plain, "sequence", "sequences")))
	}
	return strings.Join(parts, ", and "), plain
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
