package infer

import (
	"errors"
	"fmt"

	"github.com/distill-ml/distill/num/kernels/qdot"
)

// Decoder advances several sequences by one token each in one forward: the
// weight products run once over all of them (one row per sequence, so the
// weights are read once per step instead of once per sequence), attention
// runs per sequence over its own KV cache. It is how many sampled
// completions are generated together (distill/onpolicy). Each row's
// arithmetic is the batch path's (the weight products of a batch of n rows),
// so a sequence's logits can differ in the last bits from a lone Eval.
type Decoder struct {
	m   *Model
	drv *Session // scratch for the batch rows; never holds a sequence
}

// NewDecoder makes a decoder for sessions of m.
func (m *Model) NewDecoder() *Decoder { return &Decoder{m: m, drv: m.NewSession(1)} }

// Step appends tokens[i] to sessions[i] (distinct sessions of the
// decoder's model, at most 256) and returns the logits after each,
// [len(sessions), vocab], valid until the next call.
func (d *Decoder) Step(sessions []*Session, tokens []int32) ([]float32, error) {
	m, drv := d.m, d.drv
	hp := m.Hyper
	n := len(sessions)
	if n == 0 || n != len(tokens) {
		return nil, fmt.Errorf("decode batch: %d sessions, %d tokens", n, len(tokens))
	}
	if n > maxBatch {
		return nil, fmt.Errorf("decode batch: %d sessions, at most %d", n, maxBatch)
	}
	seen := make(map[*Session]bool, n)
	for i, s := range sessions {
		switch {
		case s == nil || s.m != m:
			return nil, errors.New("decode batch: a session of another model")
		case seen[s]:
			return nil, fmt.Errorf("decode batch: session %d appears twice", i)
		case s.pos+1 > s.ctxLen:
			return nil, fmt.Errorf("decode batch: session %d is full (%d tokens)", i, s.ctxLen)
		case tokens[i] < 0 || int(tokens[i]) >= hp.VocabSize:
			return nil, fmt.Errorf("decode batch: token %d of session %d is outside the vocabulary [0, %d)", tokens[i], i, hp.VocabSize)
		}
		seen[s] = true
		s.growKV(s.pos + 1)
		s.ensureScratch(1)
	}
	drv.ensureScratch(n)
	D, F := hp.DModel, hp.FFNDim
	qDim, kvDim := hp.NHeads*hp.HeadDim, drv.kvDim
	x, hb := drv.x[:n*D], drv.h[:n*D]
	q, k, v := drv.q[:n*qDim], drv.k[:n*kvDim], drv.v[:n*kvDim]
	att, o := drv.att[:n*qDim], drv.o[:n*D]
	g, u := drv.g[:n*F], drv.u[:n*F]
	for i, t := range tokens {
		_ = m.tokEmbd.Row(x[i*D:(i+1)*D], int(t))
	}
	for l := range m.blocks {
		b := &m.blocks[l]
		for i := 0; i < n; i++ {
			rmsNorm(hb[i*D:(i+1)*D], x[i*D:(i+1)*D], b.attnNorm, hp.NormEps)
		}
		drv.mul([]*qdot.Matrix{&b.wq, &b.wk, &b.wv}, [][]float32{q, k, v}, hb, n)
		for i, s := range sessions {
			qi, ki, vi := q[i*qDim:(i+1)*qDim], k[i*kvDim:(i+1)*kvDim], v[i*kvDim:(i+1)*kvDim]
			s.rope(qi, hp.NHeads, s.pos)
			s.rope(ki, hp.NKVHeads, s.pos)
			s.storeKVRows(l, s.pos, ki, vi, 0)
			s.attention(l, qi, att[i*qDim:(i+1)*qDim], 1)
		}
		drv.mul([]*qdot.Matrix{&b.wo}, [][]float32{o}, att, n)
		for i := range x {
			x[i] += o[i]
		}
		for i := 0; i < n; i++ {
			rmsNorm(hb[i*D:(i+1)*D], x[i*D:(i+1)*D], b.ffnNorm, hp.NormEps)
		}
		drv.mul([]*qdot.Matrix{&b.wGate, &b.wUp}, [][]float32{g, u}, hb, n)
		for i := 0; i < n; i++ {
			swiGLU(g[i*F:(i+1)*F], u[i*F:(i+1)*F])
		}
		drv.mul([]*qdot.Matrix{&b.wDown}, [][]float32{o}, g, n)
		for i := range x {
			x[i] += o[i]
		}
	}
	for i := 0; i < n; i++ {
		rmsNorm(hb[i*D:(i+1)*D], x[i*D:(i+1)*D], m.outNorm, hp.NormEps)
	}
	if cap(drv.logits) < n*hp.VocabSize {
		drv.logits = make([]float32, n*hp.VocabSize)
	}
	logits := drv.logits[:n*hp.VocabSize]
	drv.mul([]*qdot.Matrix{&m.output}, [][]float32{logits}, hb, n)
	for _, s := range sessions {
		s.pos++
	}
	return logits, nil
}
