package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/distill-ml/distill/distill/gate"
)

// EvalRecord is one scored sequence: the prompt is context only, the
// completion is what perplexity measures (the whole text when no prompt).
type EvalRecord struct {
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
	Text       string `json:"text"` // read only: becomes Completion
}

// ReadEvalRecords reads a JSONL file of {"prompt", "completion"} or
// {"text"} objects, or plain text with one sequence per non-empty line (a
// file whose first non-empty line starts with '{' is JSONL); at most
// maxRecords when maxRecords > 0. Errors name path:line.
func ReadEvalRecords(path string, maxRecords int) ([]EvalRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var recs []EvalRecord
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
		var r EvalRecord
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
				r = EvalRecord{Completion: r.Text}
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

// EvalResult is the perplexity of a model on a set of records.
type EvalResult struct {
	Sequences  int     `json:"sequences"`
	Tokens     int     `json:"tokens_scored"`
	MeanNLL    float64 `json:"mean_nll"` // nats per scored token
	Perplexity float64 `json:"perplexity"`
}

// Score is the summed negative log-likelihood (nats) of a record's
// completion given its prompt, and how many tokens that is. The record is
// fed as Tokenize(prompt+completion) (BOS first when the model asks for
// it), and the completion starts where the gate says
// (gate.CompletionStart); a record without a prompt scores every token
// after the first one fed. Sequences longer than the context (the Load
// option's cap) are scored in non-overlapping windows (infer.Model.NLL).
func (m *Model) Score(r EvalRecord) (nll float64, tokens int, err error) {
	full := m.Tokenize(r.Prompt + r.Completion)
	from := max(gate.CompletionStart(full, m.Tokenize(r.Prompt)), 1)
	nll, tokens, err = m.rt.NLL(full, from, 0)
	if err != nil {
		return 0, 0, err
	}
	if math.IsNaN(nll) || math.IsInf(nll, 0) {
		return 0, 0, fmt.Errorf("negative log-likelihood %v is not finite (the model's activations overflow)", nll)
	}
	return nll, tokens, nil
}

// Eval scores every record (Score) and reports the mean NLL per token and
// the perplexity exp(mean NLL). name is the data's name in errors, which
// give the 1-based record number; progress, if not nil, is called after
// each record with (done, total).
func (m *Model) Eval(recs []EvalRecord, name string, progress func(done, total int)) (EvalResult, error) {
	var res EvalResult
	var sum float64
	for i, r := range recs {
		s, n, err := m.Score(r)
		if err != nil {
			return EvalResult{}, fmt.Errorf("%s record %d: %w", name, i+1, err)
		}
		sum += s
		res.Tokens += n
		res.Sequences++
		if progress != nil {
			progress(i+1, len(recs))
		}
	}
	if res.Tokens == 0 {
		return EvalResult{}, fmt.Errorf("%s: no tokens to score (every record is a single token?)", name)
	}
	res.MeanNLL = sum / float64(res.Tokens)
	res.Perplexity = math.Exp(res.MeanNLL)
	return res, nil
}
