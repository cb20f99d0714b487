package onpolicy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/model/student"
	"github.com/distill-ml/distill/optim"
)

// Sampler continues prompts with the student's own tokens.
type Sampler interface {
	// Sample continues prompts[i] by up to limits[i] tokens, stopping after
	// eos (-1: never). At every step it draws one token per unfinished
	// prompt, in prompt order, with smp, so two samplers of the same weights
	// and arithmetic draw the same tokens. It returns the completions and
	// the number of forwards.
	Sample(prompts [][]int32, limits []int, smp *infer.Sampler, eos int32) ([][]int32, int, error)
}

// StudentSampler samples from the live student (the trainer's weights as
// they are) with full forwards: no KV cache, each step recomputes the rows
// [B, T] — exact to the weights being trained, but each token costs a whole
// forward (see RuntimeSampler).
type StudentSampler struct {
	m      LogitsModel
	vocab  int
	B, T   int     // the forward's shape (the training batch's: one compiled graph)
	tokens []int32 // [B*T]
}

// NewStudentSampler samples from m, a student of vocab tokens, in forwards
// of B rows of T tokens (at most B prompts, each with its completion within T).
func NewStudentSampler(m LogitsModel, vocab, B, T int) *StudentSampler {
	return &StudentSampler{m: m, vocab: vocab, B: B, T: T}
}

// Sample implements Sampler.
func (s *StudentSampler) Sample(prompts [][]int32, limits []int, smp *infer.Sampler, eos int32) ([][]int32, int, error) {
	B, T, V := s.B, s.T, s.vocab
	if len(prompts) > B {
		return nil, 0, fmt.Errorf("student sampler: %d prompts for a forward of %d rows", len(prompts), B)
	}
	if cap(s.tokens) < B*T {
		s.tokens = make([]int32, B*T)
	}
	tok := s.tokens[:B*T]
	clear(tok)
	out := make([][]int32, len(prompts))
	for i, p := range prompts {
		if len(p)+limits[i]-1 > T {
			return nil, 0, fmt.Errorf("student sampler: prompt %d of %d tokens + %d new exceeds the row length %d", i, len(p), limits[i], T)
		}
		copy(tok[i*T:], p)
	}
	forwards := 0
	for {
		active := false
		for i := range prompts {
			active = active || len(out[i]) < limits[i]
		}
		if !active {
			return out, forwards, nil
		}
		logits, err := s.m.Logits(tok, B, T) // [B*T*V]
		if err != nil {
			return nil, forwards, fmt.Errorf("student forward: %w", err)
		}
		forwards++
		for i, p := range prompts {
			if len(out[i]) >= limits[i] {
				continue
			}
			n := len(p) + len(out[i]) // tokens in the row
			pos := i*T + n - 1
			id := smp.Sample(logits[pos*V : (pos+1)*V])
			out[i] = append(out[i], id)
			if id == eos {
				limits[i] = len(out[i])
			}
			if len(out[i]) < limits[i] {
				tok[i*T+n] = id
			}
		}
	}
}

// RuntimeSampler samples from the student exported as it would ship: a
// GGUF of the configured file type (f32, q8_0, q4_k_m, ...) written from the
// trainer's weights by Refresh and run by the runtime (model/infer), each
// prompt prefilled into its own KV cache and all unfinished ones advanced
// together, one batched forward per token (infer.Decoder). The trainer
// refreshes it every refresh_every updates: between refreshes the samples
// come from weights up to refresh_every−1 updates old.
type RuntimeSampler struct {
	path string
	ft   quant.FileType
	m    *infer.Model
	dec  *infer.Decoder
}

// NewRuntimeSampler writes its GGUF at path (replaced at every Refresh) as
// file type ft.
func NewRuntimeSampler(path string, ft quant.FileType) *RuntimeSampler {
	return &RuntimeSampler{path: path, ft: ft}
}

// ParseSampler maps a train.on_policy.sampler value to its file type:
// ok false for "student" (the live weights), an error for anything else
// than gguf:<type>.
func ParseSampler(s string) (ft quant.FileType, ok bool, err error) {
	if s == SamplerStudent {
		return 0, false, nil
	}
	name, found := strings.CutPrefix(s, "gguf:")
	if !found {
		return 0, false, fmt.Errorf("train.on_policy.sampler %q: want %q or gguf:<type> (%s)", s, SamplerStudent, strings.Join(quant.FileTypeNames(), ", "))
	}
	ft, err = quant.ParseFileType(name)
	if err != nil {
		return 0, false, fmt.Errorf("train.on_policy.sampler %q: %w", s, err)
	}
	return ft, true, nil
}

// Loaded reports whether a Refresh has loaded weights.
func (r *RuntimeSampler) Loaded() bool { return r.m != nil }

// Refresh exports params (the student's, by GGUF tensor name) of
// architecture cfg and loads the result for sampling. The file carries
// placeholder token texts: sampling needs ids only.
func (r *RuntimeSampler) Refresh(params []optim.Param, cfg student.Config) error {
	voc := export.Vocab{GGUFVocab: tokenizer.GGUFVocab{Model: "gpt2", Pre: "llama-bpe", BOS: -1, EOS: -1, PAD: -1}, EOT: -1}
	for i := 0; i < cfg.VocabSize; i++ {
		voc.Tokens = append(voc.Tokens, fmt.Sprintf("<%d>", i))
		voc.Types = append(voc.Types, tokenizer.TypeNormal)
	}
	em := &export.Model{Config: cfg, Vocab: voc, Tensors: make(map[string][]float32, len(params)), Name: "onpolicy-sampler", Version: "0"}
	for _, p := range params {
		em.Tensors[p.Name] = p.Data // export reads them, never keeps them
	}
	r.Close()
	if err := os.MkdirAll(filepath.Dir(r.path), 0o755); err != nil {
		return fmt.Errorf("on-policy sampler: %w", err)
	}
	if err := export.Write(r.path, em, export.Options{Type: r.ft}); err != nil {
		return fmt.Errorf("on-policy sampler: export %s: %w", r.path, err)
	}
	m, err := infer.Load(r.path, infer.Options{})
	if err != nil {
		return fmt.Errorf("on-policy sampler: %w", err)
	}
	r.m, r.dec = m, m.NewDecoder()
	return nil
}

// Close releases the loaded model.
func (r *RuntimeSampler) Close() {
	if r.m != nil {
		r.m.Close()
		r.m, r.dec = nil, nil
	}
}

// Sample implements Sampler.
func (r *RuntimeSampler) Sample(prompts [][]int32, limits []int, smp *infer.Sampler, eos int32) ([][]int32, int, error) {
	if r.m == nil {
		return nil, 0, fmt.Errorf("on-policy sampler: no weights loaded (Refresh first)")
	}
	V := r.m.Hyper.VocabSize
	out := make([][]int32, len(prompts))
	sess := make([]*infer.Session, len(prompts))
	next := make([][]float32, len(prompts)) // each prompt's logits for its next token
	forwards := 0
	for i, p := range prompts {
		sess[i] = r.m.NewSession(len(p) + limits[i])
		z, err := sess[i].Eval(p)
		if err != nil {
			return nil, forwards, fmt.Errorf("on-policy sampler: prompt %d: %w", i, err)
		}
		next[i] = z
		forwards++
	}
	var act []*infer.Session
	var toks []int32
	var rows []int
	for {
		act, toks, rows = act[:0], toks[:0], rows[:0]
		for i := range prompts {
			if len(out[i]) >= limits[i] {
				continue
			}
			id := smp.Sample(next[i])
			out[i] = append(out[i], id)
			if id == eos {
				limits[i] = len(out[i])
			}
			if len(out[i]) < limits[i] {
				act, toks, rows = append(act, sess[i]), append(toks, id), append(rows, i)
			}
		}
		if len(act) == 0 {
			return out, forwards, nil
		}
		z, err := r.dec.Step(act, toks) // [len(act), V]
		if err != nil {
			return nil, forwards, fmt.Errorf("on-policy sampler: %w", err)
		}
		forwards++
		for j, i := range rows {
			next[i] = append(next[i][:0], z[j*V:(j+1)*V]...)
		}
	}
}
