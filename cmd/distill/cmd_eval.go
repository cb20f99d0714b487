package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/distill-ml/distill/model/infer"
	"github.com/spf13/cobra"
)

// evalRecord is one scored sequence: the prompt is context only, the
// completion is what perplexity measures (the whole text when no prompt).
type evalRecord struct {
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
	Text       string `json:"text"`
}

// readEvalData reads a JSONL file of {"prompt", "completion"} or {"text"}
// objects, or plain text with one sequence per non-empty line (a file whose
// first non-empty line starts with '{' is JSONL).
func readEvalData(path string, maxRecords int) ([]evalRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var recs []evalRecord
	jsonl := -1 // unknown
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if jsonl < 0 {
			jsonl = 0
			if b[0] == '{' {
				jsonl = 1
			}
		}
		var r evalRecord
		if jsonl == 1 {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&r); err != nil {
				return nil, fmt.Errorf("%s:%d: %w (want {\"prompt\", \"completion\"} or {\"text\"})", path, line, err)
			}
			if r.Text != "" && (r.Prompt != "" || r.Completion != "") {
				return nil, fmt.Errorf("%s:%d: give either text or prompt/completion, not both", path, line)
			}
			if r.Text != "" {
				r = evalRecord{Completion: r.Text}
			}
			if r.Completion == "" {
				return nil, fmt.Errorf("%s:%d: empty completion/text", path, line)
			}
		} else {
			r.Completion = string(b)
		}
		recs = append(recs, r)
		if maxRecords > 0 && len(recs) >= maxRecords {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no records", path)
	}
	return recs, nil
}

// evalReport is what `distill eval` prints (as JSON with --json).
type evalReport struct {
	Model      string  `json:"model"`
	Data       string  `json:"data"`
	Sequences  int     `json:"sequences"`
	Tokens     int     `json:"tokens_scored"`
	MeanNLL    float64 `json:"mean_nll"`
	Perplexity float64 `json:"perplexity"`
	Seconds    float64 `json:"seconds"`
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
			recs, err := readEvalData(data, limit)
			if err != nil {
				return fmt.Errorf("eval: %w", err)
			}
			m, err := infer.Load(model, runtimeOptions(threads, exact, ctxLen))
			if err != nil {
				return fmt.Errorf("eval: %w", err)
			}
			defer m.Close()
			tok, err := m.Tokenizer()
			if err != nil {
				return fmt.Errorf("eval: %w", err)
			}
			bos := m.AddBOS() && m.BOS() >= 0 && !noBOS
			start := time.Now()
			progress := a.countProgress("eval")
			rep := evalReport{Model: model, Data: data}
			var sum float64
			for i, r := range recs {
				var ids []int32
				if bos {
					ids = append(ids, m.BOS())
				}
				ids = append(ids, tok.Encode(r.Prompt)...)
				from := max(len(ids), 1)
				ids = append(ids, tok.Encode(r.Completion)...)
				s, n, err := m.NLL(ids, from, 0) // windows of m.ContextLength() (--ctx)
				if err != nil {
					return fmt.Errorf("eval: %s record %d: %w", data, i+1, err)
				}
				if math.IsNaN(s) || math.IsInf(s, 0) {
					return fmt.Errorf("eval: %s record %d: negative log-likelihood %v is not finite (the model's activations overflow)", data, i+1, s)
				}
				sum += s
				rep.Tokens += n
				rep.Sequences++
				progress(i+1, len(recs))
			}
			if rep.Tokens == 0 {
				return fmt.Errorf("eval: %s: no tokens to score (every record is a single token?)", data)
			}
			rep.MeanNLL = sum / float64(rep.Tokens)
			rep.Perplexity = math.Exp(rep.MeanNLL)
			rep.Seconds = time.Since(start).Seconds()
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprintf(a.stdout, "model       %s\ndata        %s\nsequences   %d\ntokens      %d\nmean NLL    %.4f nats/token\nperplexity  %.4f\ntime        %.1fs (%.0f tokens/s)\n",
				model, data, rep.Sequences, rep.Tokens, rep.MeanNLL, rep.Perplexity, rep.Seconds, float64(rep.Tokens)/rep.Seconds)
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
