// Package datasettest generates synthetic teacher-signal records for tests and
// benchmarks of the dataset, loader and importer packages.
//
// The synthetic teacher imitates what real ones produce: token frequencies
// follow a Zipf law with frequent tokens at low ids (as BPE merge order gives),
// each position's distribution is a noisy re-weighting of a candidate set
// drawn from those frequencies with the true next token usually near the top,
// and the tail mass is whatever the top-K leaves. Numbers measured on it
// (bytes/token) are indicative, not a substitute for a real teacher's.
package datasettest

import (
	"cmp"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strings"

	"github.com/distill-ml/distill/data/dataset"
)

// Config shapes the generated records.
type Config struct {
	Vocab         int   // vocabulary size
	K             int   // top-k per position; 0 for text-only rows
	Rows          int   // number of records
	PromptLen     int   // mean prompt tokens (>= 1)
	CompletionLen int   // mean completion tokens (>= 1)
	HiddenLayers  []int // teacher layers with hidden states (nil: none)
	HiddenDim     int
	Seed          int64
	// RandomIDs maps frequency rank to a random id permutation instead of
	// rank ≈ id: the worst case for the varint id coding.
	RandomIDs bool
	Splits    []string // assigned round-robin; default {"train"}
	// TailTemperature > 0 stores each position's tail tempered at it
	// (Meta.TailTemperature), computed exactly from the whole distribution.
	TailTemperature float64
}

// Meta returns dataset metadata matching cfg.
func (c Config) Meta() dataset.Meta {
	return dataset.Meta{
		TokenizerHash: "sha256:synthetic-tokenizer", VocabSize: c.Vocab,
		Teacher: "synthetic-teacher", Temperature: 1, PolicyHash: "sha256:synthetic-policy",
		TopK: c.K, HiddenLayers: c.HiddenLayers, HiddenDim: c.HiddenDim,
		TeacherSettings: map[string]string{"top_p": "1"}, TailTemperature: c.TailTemperature,
	}
}

// Exact holds the unquantized teacher distribution behind a record, for
// measuring the error the stored form introduces.
type Exact struct {
	Logprobs []float64 // [n*K] exact log-probabilities (float64)
	Tail     []float64 // [n]
	TailT    []float64 // [n] tail tempered at Config.TailTemperature, nil without
}

var syllables = strings.Fields("ka lo mi re su ta ne vo pi da ri se mu no la te be ga fu zo ch th st an en or er in ou al")

// word is a deterministic pseudo-word for a token id (~4 chars, as real BPE tokens average).
func word(id int32) string {
	a := syllables[int(id)%len(syllables)]
	b := syllables[int(id/int32(len(syllables)))%len(syllables)]
	return a + b
}

// Generate returns cfg.Rows records and their exact distributions.
func Generate(cfg Config) ([]*dataset.Record, []Exact) {
	r := rand.New(rand.NewSource(cfg.Seed))
	zipf := rand.NewZipf(r, 1.1, 4, uint64(cfg.Vocab-1))
	perm := make([]int32, cfg.Vocab)
	for i := range perm {
		perm[i] = int32(i)
	}
	if cfg.RandomIDs {
		r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	}
	splits := cfg.Splits
	if len(splits) == 0 {
		splits = []string{"train"}
	}
	sample := func() int32 { return perm[zipf.Uint64()] }
	recs := make([]*dataset.Record, cfg.Rows)
	exact := make([]Exact, cfg.Rows)
	for i := range recs {
		pl := 1 + r.Intn(2*cfg.PromptLen)
		cl := 1 + r.Intn(2*cfg.CompletionLen)
		toks := make([]int32, pl+cl)
		for j := range toks {
			toks[j] = sample()
		}
		var pw, cw []string
		for j, t := range toks {
			if j < pl {
				pw = append(pw, word(t))
			} else {
				cw = append(cw, word(t))
			}
		}
		rec := &dataset.Record{
			Split:  splits[i%len(splits)],
			Source: fmt.Sprintf("synthetic/%d", i%7),
			Prompt: strings.Join(pw, " ") + fmt.Sprintf(" #%d", i), Completion: strings.Join(cw, " "),
			Tokens: toks, PromptLen: pl,
			Provenance: fmt.Sprintf(`{"seed":%d,"index":%d}`, cfg.Seed, i),
		}
		if cfg.K > 0 {
			rec.Teacher = "synthetic-teacher"
			ex := Exact{Logprobs: make([]float64, cl*cfg.K), Tail: make([]float64, cl)}
			rec.TopKIDs = make([]int32, cl*cfg.K)
			rec.TopKLogprobs = make([]float32, cl*cfg.K)
			rec.TailMass = make([]float32, cl)
			if cfg.TailTemperature > 0 {
				rec.TailTempered = make([]float32, cl)
				ex.TailT = make([]float64, cl)
			}
			for p := 0; p < cl; p++ {
				ids, lps, tail, tailT := distribution(r, sample, toks[pl+p], cfg.K, cfg.TailTemperature)
				if cfg.TailTemperature > 0 {
					rec.TailTempered[p] = float32(tailT)
					ex.TailT[p] = tailT
				}
				copy(rec.TopKIDs[p*cfg.K:], ids)
				for q, lp := range lps {
					rec.TopKLogprobs[p*cfg.K+q] = float32(lp)
					ex.Logprobs[p*cfg.K+q] = lp
				}
				rec.TailMass[p] = float32(tail)
				ex.Tail[p] = tail
			}
			exact[i] = ex
		}
		if len(cfg.HiddenLayers) > 0 {
			rec.Hidden = make([][]float32, len(cfg.HiddenLayers))
			for l := range rec.Hidden {
				h := make([]float32, cl*cfg.HiddenDim)
				for q := range h {
					h[q] = float32(r.NormFloat64())
				}
				rec.Hidden[l] = h
			}
		}
		recs[i] = rec
	}
	return recs, exact
}

// distribution draws one teacher distribution: ~4K candidates from the
// frequency law with noisy logits, the true token boosted, top-K kept. The
// rest of the vocabulary is N tokens of logit 0. With temp > 0 it also
// returns the tail tempered at temp, Σ_{tail} exp(logit/temp) / Σ_all exp(logit/temp).
func distribution(r *rand.Rand, sample func() int32, truth int32, k int, temp float64) ([]int32, []float64, float64, float64) {
	type cand struct {
		id    int32
		logit float64
	}
	// Per-position sharpness: the top-1 to top-K span ranges over ~5-12 nats.
	sigma := 1.5 + 2*r.Float64()
	cands := []cand{{truth, 2*sigma + 2*r.NormFloat64()}}
	for len(cands) < 4*k+8 {
		id := sample()
		dup := false
		for _, c := range cands {
			if c.id == id {
				dup = true
				break
			}
		}
		if !dup {
			cands = append(cands, cand{id, sigma * r.NormFloat64()})
		}
	}
	// The rest of the vocabulary holds some probability too.
	nRest := float64(20 + r.Intn(200))
	restLogit := math.Log(nRest)
	m := restLogit
	for _, c := range cands {
		m = math.Max(m, c.logit)
	}
	z := math.Exp(restLogit - m)
	for _, c := range cands {
		z += math.Exp(c.logit - m)
	}
	logZ := m + math.Log(z)
	slices.SortFunc(cands, func(a, b cand) int { return cmp.Compare(b.logit, a.logit) })
	ids := make([]int32, k)
	lps := make([]float64, k)
	mass := 0.0
	for i := 0; i < k; i++ {
		ids[i] = cands[i].id
		lps[i] = cands[i].logit - logZ
		mass += math.Exp(lps[i])
	}
	tailT := 0.0
	if temp > 0 {
		// Relative to the largest logit (the rest tokens have logit 0).
		mt := math.Max(0, cands[0].logit)
		top, tail := 0.0, nRest*math.Exp(-mt/temp)
		for i, c := range cands {
			w := math.Exp((c.logit - mt) / temp)
			if i < k {
				top += w
			} else {
				tail += w
			}
		}
		tailT = tail / (top + tail)
	}
	return ids, lps, math.Max(0, 1-mass), tailT
}
