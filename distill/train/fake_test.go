package train

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/checkpoint"
	"github.com/distill-ml/distill/model/student"
	"github.com/distill-ml/distill/optim"
)

// fakeStudent is a tiny student config whose llama.cpp tensor set the fake
// model exposes (so checkpoints validate like real ones).
func fakeStudent() student.Config {
	return student.Config{VocabSize: 16, DModel: 8, NLayers: 1, NHeads: 2, NKVHeads: 1, FFNDim: 8,
		ContextLength: 16, RopeBase: 10000, NormEps: 1e-5}
}

// fakeModel is a real, differentiable bigram model: logits = E·E[x] with the
// tied embedding E = token_embd.weight, trained by cross-entropy; every other
// tensor gets a small L2 term so that it has a gradient too. Faults can be
// injected by call number (1-based ForwardBackward calls).
type fakeModel struct {
	cfg    student.Config
	params []optim.Param
	emb    *optim.Param
	calls  int

	nanLossAt int // Terms.Total = NaN
	nanGradAt int // one gradient = +Inf
	poisonAt  int // a weight becomes NaN after the call (finite loss and grads)
	onCall    func(call int)
}

func newFakeModel(seed uint64) *fakeModel {
	cfg := fakeStudent()
	m := &fakeModel{cfg: cfg}
	shapes := checkpoint.ExpectedShapes(cfg)
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sortStrings(names)
	r := rand.New(rand.NewPCG(seed, 99))
	for _, n := range names {
		size := 1
		for _, d := range shapes[n] {
			size *= d
		}
		p := optim.Param{Name: n, Shape: shapes[n], Data: make([]float32, size), Grad: make([]float32, size), Decay: len(shapes[n]) == 2}
		for i := range p.Data {
			p.Data[i] = float32(r.NormFloat64() * 0.3)
		}
		m.params = append(m.params, p)
	}
	for i := range m.params {
		if m.params[i].Name == "token_embd.weight" {
			m.emb = &m.params[i]
		}
	}
	return m
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func (m *fakeModel) Params() []optim.Param { return m.params }

const fakeL2 = 1e-3

func (m *fakeModel) ForwardBackward(b *batch.Batch) (loss.Terms, error) {
	m.calls++
	if m.onCall != nil {
		m.onCall(m.calls)
	}
	for _, p := range m.params {
		for i, w := range p.Data {
			p.Grad[i] = fakeL2 * w
		}
	}
	terms, _ := m.run(b, true)
	for _, p := range m.params {
		for _, w := range p.Data {
			terms.Total += 0.5 * fakeL2 * float64(w) * float64(w)
		}
	}
	if m.calls == m.nanLossAt {
		terms.Total = math.NaN()
	}
	if m.calls == m.nanGradAt {
		m.params[len(m.params)-1].Grad[3] = float32(math.Inf(1))
	}
	if m.calls == m.poisonAt {
		m.params[0].Data[1] = float32(math.NaN())
	}
	return terms, nil
}

func (m *fakeModel) Evaluate(b *batch.Batch) (loss.Terms, loss.Metrics, error) {
	t, met := m.run(b, false)
	return t, met, nil
}

// run computes mean CE over masked positions and, when grad, adds its
// gradient into token_embd's Grad.
func (m *fakeModel) run(b *batch.Batch, grad bool) (loss.Terms, loss.Metrics) {
	V, d := m.cfg.VocabSize, m.cfg.DModel
	E, G := m.emb.Data, m.emb.Grad
	var n float64
	for p := range b.Tokens {
		if b.LossMask[p] != 0 {
			n++
		}
	}
	var ce float64
	correct := 0
	z := make([]float64, V)
	dh := make([]float32, d)
	for p, x := range b.Tokens {
		if b.LossMask[p] == 0 {
			continue
		}
		h := E[int(x)*d : int(x+1)*d]
		mx := math.Inf(-1)
		arg := 0
		for v := 0; v < V; v++ {
			var s float64
			for k := 0; k < d; k++ {
				s += float64(E[v*d+k]) * float64(h[k])
			}
			z[v] = s
			if s > mx {
				mx, arg = s, v
			}
		}
		var sum float64
		for v := range z {
			sum += math.Exp(z[v] - mx)
		}
		y := int(b.Targets[p])
		ce += -(z[y] - mx - math.Log(sum))
		if arg == y {
			correct++
		}
		if !grad {
			continue
		}
		for k := range dh {
			dh[k] = 0
		}
		for v := 0; v < V; v++ {
			dz := math.Exp(z[v]-mx) / sum
			if v == y {
				dz--
			}
			dz /= n
			for k := 0; k < d; k++ {
				G[v*d+k] += float32(dz) * h[k]
				dh[k] += float32(dz) * E[v*d+k]
			}
		}
		for k := 0; k < d; k++ {
			G[int(x)*d+k] += dh[k]
		}
	}
	t := loss.Terms{CE: ce / n, Tokens: int(n)}
	t.Total = t.CE
	return t, loss.Metrics{Tokens: int(n), Accuracy: float64(correct) / n, Perplexity: math.Exp(t.CE)}
}

// fakeLoader generates a learnable stream: next = (3·tok + 1) mod V with 10%
// noise; the first two positions of each row are "prompt" (mask 0). Its state
// is the PCG state plus the batch counter.
type fakeLoader struct {
	B, T, V int
	pcg     *rand.PCG
	count   int
}

func newFakeLoader(seed uint64) *fakeLoader {
	return &fakeLoader{B: 2, T: 8, V: 16, pcg: rand.NewPCG(seed, 7)}
}

func (l *fakeLoader) Next() (*batch.Batch, error) {
	r := rand.New(l.pcg)
	n := l.B * l.T
	b := &batch.Batch{B: l.B, T: l.T, Tokens: make([]int32, n), Targets: make([]int32, n), LossMask: make([]float32, n)}
	for row := 0; row < l.B; row++ {
		tok := int32(r.IntN(l.V))
		for t := 0; t < l.T; t++ {
			p := row*l.T + t
			b.Tokens[p] = tok
			next := (3*tok + 1) % int32(l.V)
			if r.Float64() < 0.1 {
				next = int32(r.IntN(l.V))
			}
			b.Targets[p] = next
			if t >= 2 {
				b.LossMask[p] = 1
			}
			tok = next
		}
	}
	l.count++
	return b, nil
}

type fakeLoaderState struct {
	PCG   []byte `json:"pcg"`
	Count int    `json:"count"`
}

func (l *fakeLoader) State() (json.RawMessage, error) {
	b, err := l.pcg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return json.Marshal(fakeLoaderState{b, l.count})
}

func (l *fakeLoader) Restore(s json.RawMessage) error {
	var st fakeLoaderState
	if err := json.Unmarshal(s, &st); err != nil {
		return fmt.Errorf("fake loader state: %w", err)
	}
	l.count = st.Count
	return l.pcg.UnmarshalBinary(st.PCG)
}

func validationSet(n int) []*batch.Batch {
	l := newFakeLoader(12345)
	var out []*batch.Batch
	for i := 0; i < n; i++ {
		b, _ := l.Next()
		out = append(out, b)
	}
	return out
}
