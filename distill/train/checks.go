package train

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/distill/policy"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/student"
)

// DatasetInfo is what the trainer must know about a dataset before it trains
// on it (from the dataset's manifest metadata).
type DatasetInfo struct {
	Dir           string
	TokenizerHash string
	VocabSize     int
	TopK          int // teacher top-k stored per position; 0 = no logprobs
	// TailTemperature is the KD temperature its tempered tails are stored at
	// (0: none; see package loss on why T ≠ 1 needs them).
	TailTemperature float64
	HiddenLayers    []int // teacher layers with stored hidden states
	HiddenDim       int
}

// CheckDataset refuses, before any training, a dataset the run cannot use:
// another tokenizer than the student's, another vocabulary size, or a
// missing teacher signal that the loss config needs.
func CheckDataset(d DatasetInfo, tokenizerHash string, s student.Config, lc loss.Config) error {
	var errs []error
	if d.TokenizerHash != tokenizerHash {
		errs = append(errs, fmt.Errorf("it was tokenized with tokenizer %s, the student uses %s; re-import it with the student's tokenizer", orNone(d.TokenizerHash), orNone(tokenizerHash)))
	}
	if d.VocabSize != s.VocabSize {
		errs = append(errs, fmt.Errorf("its vocab_size is %d, the student's %d", d.VocabSize, s.VocabSize))
	}
	if lc.NeedsTeacherLogprobs() && d.TopK == 0 {
		errs = append(errs, fmt.Errorf("loss.alpha = %g needs teacher logprobs, and it stores none (topk 0); collect teacher signals or train CE-only with loss.alpha=0", lc.Alpha))
	}
	if lc.NeedsTeacherLogprobs() && d.TopK > 0 && lc.Temperature != 1 && d.TailTemperature != lc.Temperature {
		have := "no tempered tail"
		if d.TailTemperature > 0 {
			have = fmt.Sprintf("the tail tempered at %g", d.TailTemperature)
		}
		errs = append(errs, fmt.Errorf("loss.temperature = %g needs the teacher's tail tempered at %g, and it stores %s: its top-%d and tail mass do not determine the teacher's distribution at that temperature; set loss.temperature: 1, or re-collect it with a local teacher and kd_temperature: %g", lc.Temperature, lc.Temperature, have, d.TopK, lc.Temperature))
	}
	if lc.NeedsHidden() {
		if len(d.HiddenLayers) == 0 {
			errs = append(errs, fmt.Errorf("loss.gamma = %g needs teacher hidden states, and it stores none; collect them or set loss.gamma=0", lc.Gamma))
		} else {
			stored := map[int]bool{}
			for _, l := range d.HiddenLayers {
				stored[l] = true
			}
			for i, p := range lc.HiddenMap {
				if !stored[p.Teacher] {
					errs = append(errs, fmt.Errorf("loss.hidden_map[%d] uses teacher layer %d, it stores layers %v", i, p.Teacher, d.HiddenLayers))
				}
			}
			if lc.TeacherHiddenDim != d.HiddenDim {
				errs = append(errs, fmt.Errorf("loss.teacher_hidden_dim %d differs from its hidden_dim %d", lc.TeacherHiddenDim, d.HiddenDim))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("dataset %s cannot be used: %w", d.Dir, errors.Join(errs...))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none recorded)"
	}
	return s
}

// CheckPolicy refuses a dataset holding a row whose stored signals the policy
// forbids for the row's data class (recorded by distill collect in the row's
// provenance). Rows without a class (imported text) pass.
func CheckPolicy(dir string, p *policy.Policy) error {
	ds, err := dataset.Open(dir)
	if err != nil {
		return err
	}
	return ds.Each(func(shard int, row int64, rec *dataset.Record) error {
		if err := p.CheckRow(rec.Provenance, rec.TopKIDs != nil, rec.Hidden != nil); err != nil {
			return fmt.Errorf("dataset %s shard %d row %d (id %s): %w", dir, shard, row, rec.ID, err)
		}
		return nil
	})
}

// CheckSend refuses, before any request, a training dataset holding a row
// the policy forbids sending to the teacher: rows go to an online teacher
// (and, in on-policy mode, the student's completions of their prompts, which
// follow the prompt's class) exactly as prompts go to a collection teacher
// (policy.CheckSend). A row without a class (imported text) takes
// defaultClass; without one it is refused.
func CheckSend(dir string, p *policy.Policy, teacherName, defaultClass string) error {
	ds, err := dataset.Open(dir)
	if err != nil {
		return err
	}
	return ds.Each(func(shard int, row int64, rec *dataset.Record) error {
		var prov struct {
			Class string `json:"class"`
		}
		if rec.Provenance != "" {
			_ = json.Unmarshal([]byte(rec.Provenance), &prov) // a provenance without a class is a row without one
		}
		class := prov.Class
		if class == "" {
			class = defaultClass
		}
		if class == "" {
			return fmt.Errorf("dataset %s shard %d row %d (id %s) has no policy class, so it may not be sent to teacher %q; set teacher.default_class", dir, shard, row, rec.ID, teacherName)
		}
		if err := p.CheckSend(class, teacherName); err != nil {
			return fmt.Errorf("dataset %s shard %d row %d (id %s): %w", dir, shard, row, rec.ID, err)
		}
		return nil
	})
}
