package teacher

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/distill-ml/distill/model/infer"
)

// LocalConfig configures a local GGUF teacher run by distill's runtime.
type LocalConfig struct {
	Name  string `yaml:"name" json:"name"`   // the teacher's name in the policy
	Model string `yaml:"model" json:"model"` // GGUF path
	// Completion chooses what the student learns to continue with:
	// "reference" scores the prompt file's reference completion (word-level KD on
	// gold text), "generate" lets the teacher write the completion (sequence-level KD).
	Completion   string `yaml:"completion" json:"completion"`
	HiddenLayers []int  `yaml:"hidden_layers" json:"hidden_layers"` // teacher layers whose hidden states are stored (runtime convention: 0 embeddings, L block L)
	Context      int    `yaml:"context" json:"context"`             // session length; default the runtime's cap (the model's context up to infer.DefaultContext)
}

// Validate checks the config.
func (c *LocalConfig) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is empty"))
	}
	if c.Model == "" {
		errs = append(errs, errors.New("model is empty"))
	}
	if c.Completion != "reference" && c.Completion != "generate" {
		errs = append(errs, fmt.Errorf("completion %q: want reference or generate", c.Completion))
	}
	if len(errs) > 0 {
		return fmt.Errorf("local teacher: %w", errors.Join(errs...))
	}
	return nil
}

// Encoder is the student tokenizer the local teacher shares.
type Encoder interface {
	Encode(text string) []int32
}

// Local is a GGUF teacher evaluated in-process. It shares the student's
// tokenizer, so it reports exact token ids, the full distribution reduced to
// top-k + tail mass at the requested temperature, and hidden states.
type Local struct {
	cfg LocalConfig
	m   *infer.Model
	enc Encoder
	eos int32
	ctx int
	// fwd admits one forward pass at a time: the runtime already spreads a
	// forward over every core, and concurrent forwards only contend for its
	// worker pool (measured 0.5x throughput at 2 on 2 cores). Collection
	// concurrency still overlaps the top-k reduction and dataset writing.
	fwd chan struct{}
}

// NewLocal wraps a loaded runtime model. eos is the student tokenizer's end
// token appended to every completion (-1: none).
func NewLocal(cfg LocalConfig, m *infer.Model, enc Encoder, eos int32) (*Local, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx := cfg.Context
	if ctx <= 0 || ctx > m.ContextLength() {
		ctx = m.ContextLength() // the runtime's session cap, not the file's declared context
	}
	for _, l := range cfg.HiddenLayers {
		if l < 0 || l > m.Hyper.NLayers+1 {
			return nil, fmt.Errorf("local teacher: hidden layer %d outside [0, %d]", l, m.Hyper.NLayers+1)
		}
	}
	return &Local{cfg: cfg, m: m, enc: enc, eos: eos, ctx: ctx, fwd: make(chan struct{}, 1)}, nil
}

// Name implements Teacher.
func (t *Local) Name() string { return t.cfg.Name }

// Remote implements Teacher: a local teacher never leaves the process.
func (t *Local) Remote() bool { return false }

// HiddenDim is the teacher's width.
func (t *Local) HiddenDim() int { return t.m.Hyper.DModel }

// Complete implements Teacher. Request.Prompt is the prompt; for completion
// "reference", Request.Reference holds the text to score.
func (t *Local) Complete(ctx context.Context, req Request) (*Response, error) {
	prompt := t.enc.Encode(req.Prompt)
	if len(prompt) == 0 {
		return nil, Permanent("empty_prompt", errors.New("prompt encodes to no tokens"))
	}
	var comp []int32
	var err error
	if t.cfg.Completion == "reference" {
		if req.Reference == "" {
			return nil, Permanent("no_reference", errors.New("completion: reference, but the prompt has no reference completion"))
		}
		comp = t.enc.Encode(req.Reference)
	} else {
		if comp, err = t.generate(ctx, prompt, req); err != nil {
			return nil, err
		}
	}
	if t.eos >= 0 && (len(comp) == 0 || comp[len(comp)-1] != t.eos) {
		comp = append(comp, t.eos)
	}
	full := append(append([]int32{}, prompt...), comp...)
	if len(full) > t.ctx {
		return nil, Permanent("too_long", fmt.Errorf("prompt+completion is %d tokens, the teacher's context is %d", len(full), t.ctx))
	}
	// Inputs are full[:n-1]; position P-1+j predicts comp[j].
	inputs := full[:len(full)-1]
	if err := t.acquire(ctx); err != nil {
		return nil, err
	}
	var logits []float32
	var hs [][]float32
	// Sessions sized to the sequence: the KV cache and RoPE tables of the
	// whole context would be allocated and filled for every row otherwise.
	sess := t.m.NewSession(len(inputs))
	if eh, ok := any(sess).(evalAllHidden); ok && len(t.cfg.HiddenLayers) > 0 {
		logits, hs, err = eh.EvalAllHidden(inputs, t.cfg.HiddenLayers)
	} else {
		logits, err = sess.EvalAll(inputs)
		if err == nil && len(t.cfg.HiddenLayers) > 0 {
			// A second forward until the runtime offers EvalAllHidden: it
			// doubles the cost of collecting hidden states.
			hs, err = t.m.NewSession(len(inputs)).HiddenStates(inputs, t.cfg.HiddenLayers)
		}
	}
	<-t.fwd
	if err != nil {
		return nil, fmt.Errorf("local teacher forward: %w", err)
	}
	v := t.m.Hyper.VocabSize
	P := len(prompt)
	k := req.TopLogprobs
	if k > v {
		k = v
	}
	temp := req.Temperature
	if temp <= 0 {
		temp = 1 // greedy generation still stores the model's distribution at T=1
	}
	resp := &Response{IDs: true, PromptIDs: prompt, PromptTokens: P, CompletionTokens: len(comp), FinishReason: "stop"}
	resp.Positions = make([]Position, len(comp))
	resp.TailMass = make([]float64, len(comp))
	// The stored distribution p is softmax(x/temp), so p^(1/T) ∝ exp(x/(temp·T)):
	// its tail tempered at the KD temperature T is the tail of softmax(x/(temp·T)).
	kdT := req.KDTemperature
	if kdT > 0 && k > 0 {
		resp.TailTempered = make([]float64, len(comp))
	}
	inv := 1 / temp
	ids, lps := make([]int32, k), make([]float64, k)
	for j := range comp {
		row := logits[(P-1+j)*v : (P+j)*v]
		chosen := comp[j]
		var lse, tail, tailT float64
		if k > 0 {
			lse, tail, tailT = TopKTail(row, temp, kdT, ids, lps)
		} else {
			lse = logSumExpScaled(row, temp)
		}
		pos := Position{Alt: Alt{ID: chosen, Logprob: float64(row[chosen])*inv - lse}}
		if k > 0 {
			pos.Top = make([]Alt, k)
			for r, id := range ids {
				pos.Top[r] = Alt{ID: id, Logprob: lps[r]}
			}
			resp.TailMass[j] = tail
			if resp.TailTempered != nil {
				resp.TailTempered[j] = tailT
			}
		}
		resp.Positions[j] = pos
	}
	var text strings.Builder
	for _, id := range comp {
		if b, ok := t.m.TokenBytes(id); ok {
			text.Write(b)
		}
	}
	resp.Text = text.String()
	if len(t.cfg.HiddenLayers) > 0 {
		d := t.m.Hyper.DModel
		resp.HiddenDim = d
		resp.Hidden = make([][]float32, len(hs))
		for i, h := range hs {
			resp.Hidden[i] = append([]float32(nil), h[(P-1)*d:]...)
		}
	}
	return resp, nil
}

// TopKTail reduces one position's logits row [V] to what a dataset stores
// of the distribution p = softmax(row/temp): the len(ids) most likely ids
// (descending, ties by the lower id) into ids, their natural-log
// probabilities into lps, the log-normaliser lse = log Σ exp(row/temp), the
// mass of p outside them, and for kdT > 0 the tail of p tempered at kdT
// (q_T = Σ_tail p^{1/T} / Σ p^{1/T}, the tail of softmax(row/(temp·kdT)); 0
// when kdT ≤ 0). Collection and the trainer's online teacher share it.
func TopKTail(row []float32, temp, kdT float64, ids []int32, lps []float64) (lse, tail, tailT float64) {
	lse = logSumExpScaled(row, temp)
	inv := 1 / temp
	top := topK(row, len(ids), ids[:0]) // x/T is monotonic in x
	mass := 0.0
	for r, id := range top {
		lps[r] = float64(row[id])*inv - lse
		mass += math.Exp(lps[r])
	}
	tail = math.Min(1, math.Max(0, 1-mass))
	if kdT > 0 {
		lseT := logSumExpScaled(row, temp*kdT)
		invT := 1 / (temp * kdT)
		massT := 0.0
		for _, id := range top {
			massT += math.Exp(float64(row[id])*invT - lseT)
		}
		tailT = math.Min(1, math.Max(0, 1-massT))
	}
	return lse, tail, tailT
}

// topK returns the ids of the k largest scores, descending, ties by lower id,
// using dst as storage: one pass with insertion into a k-long sorted list.
func topK[F float32 | float64](scores []F, k int, dst []int32) []int32 {
	top := dst[:0]
	for i, s := range scores {
		if len(top) == k && s <= scores[top[k-1]] {
			continue
		}
		pos := len(top)
		for pos > 0 && scores[top[pos-1]] < s {
			pos--
		}
		if len(top) < k {
			top = append(top, 0)
		}
		copy(top[pos+1:], top[pos:len(top)-1])
		top[pos] = int32(i)
	}
	return top
}

// evalAllHidden is the one-pass call proposed for the runtime's Session:
// the logits after every token (as EvalAll) and the residual stream at the
// given layers (as HiddenStates) from a single forward. Used when present.
type evalAllHidden interface {
	EvalAllHidden(tokens []int32, layers []int) (logits []float32, hidden [][]float32, err error)
}

func (t *Local) acquire(ctx context.Context) error {
	select {
	case t.fwd <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// logSumExpScaled returns log Σ exp(row[i]/temp), in float64.
func logSumExpScaled(row []float32, temp float64) float64 {
	mx := float32(math.Inf(-1))
	for _, x := range row {
		if x > mx {
			mx = x
		}
	}
	inv := 1 / temp
	m := float64(mx) * inv
	var sum float64
	for _, x := range row {
		sum += expNonPositive(float64(x)*inv - m)
	}
	return m + math.Log(sum)
}

// expNonPositive is e^x for x <= 0 with a relative error below 1e-8 (the
// stored logprobs are quantized to 1/64 nat), cheaper than math.Exp: x =
// k·ln2 + r with |r| <= ln2/2 (ln2 split in two parts, Cody–Waite), e^r by
// its Taylor series to r^7 (truncation < 7e-9 relative), and 2^k put into
// the exponent bits.
func expNonPositive(x float64) float64 {
	if x < -708 || x != x {
		return 0
	}
	const (
		ln2Hi  = 6.93147180369123816490e-01
		ln2Lo  = 1.90821492927058770002e-10
		invLn2 = 1.44269504088896338700e+00
	)
	k := math.Floor(x*invLn2 + 0.5)
	r := (x - k*ln2Hi) - k*ln2Lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return p * math.Float64frombits(uint64(int64(k)+1023)<<52)
}

// generate samples a completion with the runtime (greedy at temperature 0).
func (t *Local) generate(ctx context.Context, prompt []int32, req Request) ([]int32, error) {
	if req.MaxTokens <= 0 {
		return nil, Permanent("bad_request", fmt.Errorf("max tokens %d must be > 0", req.MaxTokens))
	}
	seed := int64(0)
	if req.Seed != nil {
		seed = int64(*req.Seed)
	}
	sess := t.m.NewSession(t.ctx)
	res, err := sess.Generate(prompt, infer.GenerateOptions{
		MaxTokens: min(req.MaxTokens, t.ctx-len(prompt)-1),
		Sampler:   infer.SamplerConfig{Temperature: req.Temperature, TopP: req.TopP, Seed: seed},
		Stop:      req.Stop,
	})
	if err != nil {
		return nil, fmt.Errorf("local teacher generate: %w", err)
	}
	return res.Tokens, ctx.Err()
}
