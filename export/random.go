package export

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/distill-ml/distill/data/tokenizer"

	"github.com/distill-ml/distill/model/student"
)

// SyntheticVocab builds a valid byte-level BPE vocabulary of exactly size
// tokens: the 256 byte tokens, merges of letters and earlier merges, and
// three control tokens at the end (<|endoftext|> = BOS = EOS, <|im_start|>,
// <|im_end|> = EOT). It is for tests and benchmarks with random weights.
func SyntheticVocab(size int) (Vocab, error) {
	const nSpecial = 3
	if size < 256+nSpecial {
		return Vocab{}, fmt.Errorf("synthetic vocab: size %d < %d", size, 256+nSpecial)
	}
	v := Vocab{GGUFVocab: tokenizer.GGUFVocab{Model: "gpt2", Pre: "gpt-2", BOS: -1, EOS: -1, PAD: -1}, EOT: -1}
	seen := map[string]bool{}
	for b := 0; b < 256; b++ {
		s := string(tokenizer.ByteLevelRune(byte(b)))
		v.Tokens = append(v.Tokens, s)
		v.Types = append(v.Types, tokenizer.TypeNormal)
		seen[s] = true
	}
	letters := "etaoinshrdlucmfwypvbgkjqxz"
	bases := []string{"Ġ"}
	for _, l := range letters {
		bases = append(bases, string(l))
	}
	want := size - nSpecial
	// Breadth-first: extend every token of the previous round by one letter.
	frontier := bases
	for len(v.Tokens) < want {
		var next []string
		for _, left := range frontier {
			for _, l := range letters {
				if len(v.Tokens) >= want {
					break
				}
				tok := left + string(l)
				if seen[tok] {
					continue
				}
				seen[tok] = true
				v.Tokens = append(v.Tokens, tok)
				v.Types = append(v.Types, tokenizer.TypeNormal)
				v.Merges = append(v.Merges, left+" "+string(l))
				next = append(next, tok)
			}
		}
		frontier = next
	}
	for _, s := range []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"} {
		v.Tokens = append(v.Tokens, s)
		v.Types = append(v.Types, tokenizer.TypeControl)
	}
	v.BOS = int32(size - 3)
	v.EOS = int32(size - 3)
	v.EOT = int32(size - 1)
	return v, nil
}

// RandomModel is a student with Gaussian random weights (σ = 0.02 for
// matrices, 1 ± 0.1 for norms) and a SyntheticVocab, for tests and benchmarks.
func RandomModel(cfg student.Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	voc, err := SyntheticVocab(cfg.VocabSize)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	m := &Model{Config: cfg, Vocab: voc, Tensors: map[string][]float32{}, Name: "random", Version: "0"}
	sh := shapes(cfg)
	names := make([]string, 0, len(sh))
	for name := range sh {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic draw order
	for _, name := range names {
		shape := sh[name]
		n := 1
		for _, s := range shape {
			n *= s
		}
		x := make([]float32, n)
		for i := range x {
			if len(shape) == 1 {
				x[i] = float32(1 + 0.1*rng.NormFloat64())
			} else {
				x[i] = float32(0.02 * rng.NormFloat64())
			}
		}
		m.Tensors[name] = x
	}
	return m, nil
}
