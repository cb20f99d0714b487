package gate

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/distill-ml/distill/num/stats"
)

// KLDStats compares a candidate's next-token distributions with the
// baseline's on the same tokens, with the statistics and definitions of
// llama.cpp's `llama-perplexity --kl-divergence` (tools/perplexity): per
// scored position, KLD = KL(baseline‖candidate) in nats, Δp = p_candidate −
// p_baseline of the actual next token, and "same top" when both put their
// largest probability on the same token (the first one on ties). A mean's
// uncertainty is its standard error, sqrt((E[x²] − E[x]²)/(n − 1)), zero
// for 10 or fewer positions; percentiles interpolate linearly between
// order statistics; the perplexity ratio's uncertainty accounts for the
// covariance of the two per-token NLLs. The baseline's log-probabilities
// are exact here, where llama.cpp stores them as 16-bit codes.
type KLDStats struct {
	Tokens int `json:"tokens"` // scored positions
	// KL(baseline‖candidate), nats.
	MeanKLD    float64 `json:"mean_kld"`
	MeanKLDUnc float64 `json:"mean_kld_uncertainty"`
	KLDMedian  float64 `json:"kld_median"`
	KLDP90     float64 `json:"kld_p90"`
	KLDP95     float64 `json:"kld_p95"`
	KLDP99     float64 `json:"kld_p99"`
	KLDMax     float64 `json:"kld_max"`
	// Δp: the candidate's probability of the actual token minus the baseline's.
	MeanDeltaP    float64 `json:"mean_delta_p"`
	MeanDeltaPUnc float64 `json:"mean_delta_p_uncertainty"`
	RMSDeltaP     float64 `json:"rms_delta_p"`
	DeltaPMin     float64 `json:"delta_p_min"`
	DeltaPP01     float64 `json:"delta_p_p01"`
	DeltaPP05     float64 `json:"delta_p_p05"`
	DeltaPMedian  float64 `json:"delta_p_median"`
	DeltaPP95     float64 `json:"delta_p_p95"`
	DeltaPP99     float64 `json:"delta_p_p99"`
	DeltaPMax     float64 `json:"delta_p_max"`
	// SameTop is the fraction of positions whose top token agrees.
	SameTop    float64 `json:"same_top"`
	SameTopUnc float64 `json:"same_top_uncertainty"`
	// Perplexities over the scored positions and their ratio.
	PPL            float64 `json:"ppl"`
	PPLBase        float64 `json:"ppl_base"`
	LogPPLRatio    float64 `json:"log_ppl_ratio"` // mean ln(PPL(candidate)/PPL(baseline))
	LogPPLRatioUnc float64 `json:"log_ppl_ratio_uncertainty"`
	PPLRatio       float64 `json:"ppl_ratio"`
	PPLRatioUnc    float64 `json:"ppl_ratio_uncertainty"`
}

// kldAccumulator gathers the per-position values of one token set.
type kldAccumulator struct {
	sumNLL, sumNLL2, sumBase, sumBase2, sumNLLBase float64
	sumKLD, sumKLD2                                float64
	sumDP, sumDP2, sumDP4                          float64
	sameTop                                        int
	klds, dps                                      []float64
}

// add scores one position: base and cand are log-softmax rows over the
// same vocabulary, tok the actual next token.
func (a *kldAccumulator) add(base, cand []float32, tok int32) error {
	if len(base) != len(cand) {
		return fmt.Errorf("baseline vocabulary %d != candidate vocabulary %d", len(base), len(cand))
	}
	if tok < 0 || int(tok) >= len(base) {
		return fmt.Errorf("token %d outside the vocabulary %d", tok, len(base))
	}
	nll, nllBase := -float64(cand[tok]), -float64(base[tok])
	a.sumNLL += nll
	a.sumNLL2 += nll * nll
	a.sumBase += nllBase
	a.sumBase2 += nllBase * nllBase
	a.sumNLLBase += nll * nllBase
	kld := klDiv(base, cand)
	a.sumKLD += kld
	a.sumKLD2 += kld * kld
	if argmax(base) == argmax(cand) {
		a.sameTop++
	}
	dp := math.Exp(-nll) - math.Exp(-nllBase)
	a.sumDP += dp
	a.sumDP2 += dp * dp
	a.sumDP4 += dp * dp * dp * dp
	a.klds = append(a.klds, kld)
	a.dps = append(a.dps, dp)
	return nil
}

// meanAndUncertainty is llama-perplexity's mean_and_uncertainty.
func meanAndUncertainty(sum, sum2 float64, n int) (float64, float64) {
	if n < 1 {
		return 0, 0
	}
	f := sum / float64(n)
	df := sum2/float64(n) - f*f
	if df > 0 && n > 10 {
		return f, math.Sqrt(df / float64(n-1))
	}
	return f, 0
}

// stats finishes the set; nil when no position was scored.
func (a *kldAccumulator) stats() *KLDStats {
	n := len(a.klds)
	if n == 0 {
		return nil
	}
	s := &KLDStats{Tokens: n}
	s.MeanKLD, s.MeanKLDUnc = meanAndUncertainty(a.sumKLD, a.sumKLD2, n)
	k := append([]float64(nil), a.klds...)
	sort.Float64s(k)
	s.KLDMedian, s.KLDP90, s.KLDP95, s.KLDP99, s.KLDMax = stats.Quantile(k, 0.5), stats.Quantile(k, 0.9), stats.Quantile(k, 0.95), stats.Quantile(k, 0.99), k[n-1]
	s.MeanDeltaP, s.MeanDeltaPUnc = meanAndUncertainty(a.sumDP, a.sumDP2, n)
	mse, _ := meanAndUncertainty(a.sumDP2, a.sumDP4, n)
	s.RMSDeltaP = math.Sqrt(mse)
	d := append([]float64(nil), a.dps...)
	sort.Float64s(d)
	s.DeltaPMin, s.DeltaPP01, s.DeltaPP05, s.DeltaPMedian = d[0], stats.Quantile(d, 0.01), stats.Quantile(d, 0.05), stats.Quantile(d, 0.5)
	s.DeltaPP95, s.DeltaPP99, s.DeltaPMax = stats.Quantile(d, 0.95), stats.Quantile(d, 0.99), d[n-1]
	s.SameTop = float64(a.sameTop) / float64(n)
	if n > 1 {
		s.SameTopUnc = math.Sqrt(s.SameTop * (1 - s.SameTop) / float64(n-1))
	}
	logPPL, logPPLUnc := meanAndUncertainty(a.sumNLL, a.sumNLL2, n)
	logBase, logBaseUnc := meanAndUncertainty(a.sumBase, a.sumBase2, n)
	cov := 0.0
	if n >= 10 {
		cov = (a.sumNLLBase/float64(n) - (a.sumNLL/float64(n))*(a.sumBase/float64(n))) / float64(n-1)
	}
	s.PPL, s.PPLBase = math.Exp(logPPL), math.Exp(logBase)
	s.LogPPLRatio = logPPL - logBase
	s.LogPPLRatioUnc = math.Sqrt(math.Max(0, logPPLUnc*logPPLUnc+logBaseUnc*logBaseUnc-2*cov))
	s.PPLRatio = math.Exp(s.LogPPLRatio)
	s.PPLRatioUnc = s.PPLRatio * s.LogPPLRatioUnc
	return s
}

// baseSpool keeps the baseline's log-probability rows on disk, in the order
// they were measured, so that each candidate is compared row by row without
// holding the baseline model or its distributions in memory (as llama.cpp's
// --kl-divergence-base file does). Each row is its token id then the row.
type baseSpool struct {
	f     *os.File
	w     *bufio.Writer
	r     *bufio.Reader
	vocab int
	buf   []byte
}

func newBaseSpool() (*baseSpool, error) {
	f, err := os.CreateTemp("", "distill-gate-baseline-*.logprobs")
	if err != nil {
		return nil, fmt.Errorf("baseline log-prob spool: %w", err)
	}
	return &baseSpool{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

// Close removes the spool.
func (s *baseSpool) Close() error {
	err := s.f.Close()
	return errors.Join(err, os.Remove(s.f.Name()))
}

// write appends rows, whose next tokens are toks.
func (s *baseSpool) write(toks []int32, rows [][]float32) error {
	for i, row := range rows {
		if s.vocab == 0 {
			s.vocab = len(row)
		}
		if len(row) != s.vocab {
			return fmt.Errorf("baseline row of %d log-probs, earlier rows %d", len(row), s.vocab)
		}
		if err := binary.Write(s.w, binary.LittleEndian, toks[i]); err != nil {
			return fmt.Errorf("baseline log-prob spool: %w", err)
		}
		if err := binary.Write(s.w, binary.LittleEndian, row); err != nil {
			return fmt.Errorf("baseline log-prob spool: %w", err)
		}
	}
	return nil
}

// rewind starts reading from the first row.
func (s *baseSpool) rewind() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("baseline log-prob spool: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("baseline log-prob spool: %w", err)
	}
	s.r = bufio.NewReaderSize(s.f, 1<<20)
	return nil
}

// next reads the next row and checks that it scored the same token.
func (s *baseSpool) next(tok int32) ([]float32, error) {
	var baseTok int32
	if err := binary.Read(s.r, binary.LittleEndian, &baseTok); err != nil {
		return nil, fmt.Errorf("the baseline scored fewer positions: %w", err)
	}
	if baseTok != tok {
		return nil, fmt.Errorf("the baseline scored token %d where this artifact scores %d: they must tokenize alike", baseTok, tok)
	}
	row := make([]float32, s.vocab)
	if err := binary.Read(s.r, binary.LittleEndian, row); err != nil {
		return nil, fmt.Errorf("baseline log-prob spool: %w", err)
	}
	return row, nil
}

// kldPass routes one artifact's log-prob rows: the baseline's into the
// spool, a candidate's against the spooled rows into one accumulator per
// token set (a route's golden completions, the held-out text).
type kldPass struct {
	spool  *baseSpool
	record bool // the baseline
	sets   map[string]*kldAccumulator
}

// add handles rows[k], the distribution of toks[k], for token set set.
func (p *kldPass) add(set string, toks []int32, rows [][]float32) error {
	if p == nil {
		return nil
	}
	if p.record {
		return p.spool.write(toks, rows)
	}
	acc := p.sets[set]
	if acc == nil {
		acc = &kldAccumulator{}
		p.sets[set] = acc
	}
	for k, row := range rows {
		base, err := p.spool.next(toks[k])
		if err != nil {
			return err
		}
		if err := acc.add(base, row, toks[k]); err != nil {
			return err
		}
	}
	return nil
}

// results finishes every set.
func (p *kldPass) results() map[string]*KLDStats {
	out := map[string]*KLDStats{}
	for name, acc := range p.sets {
		if s := acc.stats(); s != nil {
			out[name] = s
		}
	}
	return out
}

// HeldOutSet names the held-out text's token set in Artifact.KLD.
const HeldOutSet = "held_out"

// scoreHeldOut runs m over text as llama-perplexity does: the text is
// tokenized once (with BOS if the model adds one), cut into chunks of
// nCtx tokens (at most maxChunks, 0 = all), each chunk's first token is
// replaced by BOS if the model adds one, and positions nCtx/2 … nCtx−2 of
// each chunk are scored, each predicting the token after it.
func scoreHeldOut(m Model, text string, nCtx, maxChunks int, kp *kldPass) error {
	tokens := m.Tokenize(text)
	bos := m.Tokenize("") // [BOS] when the model adds one, else empty
	if len(tokens) < 2*nCtx {
		return fmt.Errorf("held-out text: %d tokens; need at least %d (twice held_out.context %d), as llama-perplexity does", len(tokens), 2*nCtx, nCtx)
	}
	nChunk := len(tokens) / nCtx
	if maxChunks > 0 {
		nChunk = min(nChunk, maxChunks)
	}
	first := nCtx / 2
	for c := range nChunk {
		chunk := append([]int32(nil), tokens[c*nCtx:(c+1)*nCtx]...)
		if len(bos) == 1 {
			chunk[0] = bos[0]
		}
		rows, err := m.LogProbs(chunk, first)
		if err != nil {
			return fmt.Errorf("held-out chunk %d: %w", c, err)
		}
		if err := kp.add(HeldOutSet, chunk[first+1:], rows); err != nil {
			return fmt.Errorf("held-out chunk %d: %w", c, err)
		}
	}
	return nil
}
