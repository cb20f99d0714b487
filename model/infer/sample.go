package infer

import (
	"fmt"
	"math"
	"math/rand"
	"sort"
)

// SamplerConfig chooses the next token from logits. Temperature ≤ 0 is
// greedy (argmax, lowest id on ties). Otherwise logits are divided by
// Temperature, cut to the TopK most likely (0: no cut), then to the smallest
// set whose probability reaches TopP (0 or ≥ 1: no cut), renormalised and
// sampled with a generator seeded by Seed.
type SamplerConfig struct {
	Temperature float64
	TopK        int
	TopP        float64
	Seed        int64
}

// Validate checks the ranges once.
func (c SamplerConfig) Validate() error {
	switch {
	case math.IsNaN(c.Temperature) || c.Temperature < 0:
		return fmt.Errorf("sampler: temperature %g must be ≥ 0", c.Temperature)
	case c.TopK < 0:
		return fmt.Errorf("sampler: top-k %d must be ≥ 0", c.TopK)
	case math.IsNaN(c.TopP) || c.TopP < 0 || c.TopP > 1:
		return fmt.Errorf("sampler: top-p %g must be in [0, 1]", c.TopP)
	}
	return nil
}

// Sampler draws tokens; it owns its random generator and scratch.
type Sampler struct {
	cfg  SamplerConfig
	rng  *rand.Rand
	cand []candidate
}

type candidate struct {
	id int32
	p  float64
}

// NewSampler makes a sampler for cfg (call cfg.Validate first).
func NewSampler(cfg SamplerConfig) *Sampler {
	return &Sampler{cfg: cfg, rng: rand.New(rand.NewSource(cfg.Seed))}
}

// Argmax is the index of the largest logit (the lowest on ties).
func Argmax(logits []float32) int32 {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return int32(best)
}

// Sample picks the next token from logits [vocab].
func (s *Sampler) Sample(logits []float32) int32 {
	c := s.cfg
	if c.Temperature <= 0 {
		return Argmax(logits)
	}
	s.cand = s.cand[:0]
	for i, v := range logits {
		s.cand = append(s.cand, candidate{int32(i), float64(v) / c.Temperature})
	}
	sort.Slice(s.cand, func(a, b int) bool {
		if s.cand[a].p != s.cand[b].p {
			return s.cand[a].p > s.cand[b].p
		}
		return s.cand[a].id < s.cand[b].id
	})
	if c.TopK > 0 && c.TopK < len(s.cand) {
		s.cand = s.cand[:c.TopK]
	}
	maxv := s.cand[0].p
	var sum float64
	for i := range s.cand {
		s.cand[i].p = math.Exp(s.cand[i].p - maxv)
		sum += s.cand[i].p
	}
	for i := range s.cand {
		s.cand[i].p /= sum
	}
	if c.TopP > 0 && c.TopP < 1 {
		var cum float64
		for i := range s.cand {
			cum += s.cand[i].p
			if cum >= c.TopP {
				s.cand = s.cand[:i+1]
				break
			}
		}
		sum = 0
		for _, cd := range s.cand {
			sum += cd.p
		}
		for i := range s.cand {
			s.cand[i].p /= sum
		}
	}
	r := s.rng.Float64()
	var cum float64
	for _, cd := range s.cand {
		cum += cd.p
		if r < cum {
			return cd.id
		}
	}
	return s.cand[len(s.cand)-1].id
}
