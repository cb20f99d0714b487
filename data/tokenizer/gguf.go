package tokenizer

import (
	"fmt"
	"math"
	"strings"

	"github.com/distill-ml/distill/format/gguf"
)

// GGUFVocab is a tokenizer as the tokenizer.ggml.* keys of a GGUF file hold
// it for llama.cpp's "gpt2" (byte-level BPE) model, or, read from a file, its
// "llama" (SentencePiece) model (spm.go).
type GGUFVocab struct {
	Model string // tokenizer.ggml.model: "gpt2" (or "llama")
	Pre   string // tokenizer.ggml.pre: "llama-bpe", "qwen2" or "gpt-2"
	// Tokens are byte-level strings for normal tokens and the verbatim
	// content for control and user-defined tokens ("llama": text with ▁ for
	// spaces, <0xXX> byte tokens).
	Tokens []string
	Types  []int32  // TypeNormal, TypeControl, TypeUserDefined (TypeUnused for holes; "llama" also TypeUnknown, TypeByte)
	Merges []string // "left right" byte-level strings, in rank order
	// SentencePiece ("llama") only: Scores [len(Tokens)] (merge priority,
	// higher first), the unknown token's id (-1 if none) and
	// tokenizer.ggml.add_space_prefix (nil: absent, llama.cpp's default true).
	Scores         []float32
	UNK            int32
	AddSpacePrefix *bool
	// Special ids, -1 if none.
	BOS, EOS, PAD int32
	ChatTemplate  string
}

// ReadGGUFVocab reads the tokenizer.ggml.* keys of a GGUF file (nil when it
// has no tokens). With vocabSize > 0 (the rows of token_embd.weight) the
// tokens and their types must have that many entries. The special ids must
// name tokens; a missing one is -1.
func ReadGGUFVocab(f *gguf.File, vocabSize int) (*GGUFVocab, error) {
	if _, ok := f.KV(gguf.KeyTokenizerTokens); !ok {
		return nil, nil
	}
	v := &GGUFVocab{BOS: -1, EOS: -1, PAD: -1, UNK: -1}
	var err error
	str := func(key string, dst *string) {
		if _, ok := f.KV(key); ok && err == nil {
			*dst, err = f.String(key)
		}
	}
	str(gguf.KeyTokenizerModel, &v.Model)
	str(gguf.KeyTokenizerPre, &v.Pre)
	if err != nil {
		return nil, err
	}
	if v.Tokens, err = f.Strings(gguf.KeyTokenizerTokens); err != nil {
		return nil, err
	}
	if vocabSize > 0 && len(v.Tokens) != vocabSize {
		return nil, fmt.Errorf("tokenizer.ggml.tokens has %d entries but token_embd.weight has %d rows", len(v.Tokens), vocabSize)
	}
	if _, ok := f.KV(gguf.KeyTokenizerTokenTypes); ok {
		if v.Types, err = f.Int32s(gguf.KeyTokenizerTokenTypes); err != nil {
			return nil, err
		}
		if vocabSize > 0 && len(v.Types) != vocabSize {
			return nil, fmt.Errorf("tokenizer.ggml.token_type has %d entries, want %d", len(v.Types), vocabSize)
		}
	}
	if _, ok := f.KV(gguf.KeyTokenizerMerges); ok {
		if v.Merges, err = f.Strings(gguf.KeyTokenizerMerges); err != nil {
			return nil, err
		}
	}
	if _, ok := f.KV(gguf.KeyTokenizerScores); ok {
		if v.Scores, err = f.Float32s(gguf.KeyTokenizerScores); err != nil {
			return nil, err
		}
		if len(v.Scores) != len(v.Tokens) {
			return nil, fmt.Errorf("%s has %d entries for %d tokens", gguf.KeyTokenizerScores, len(v.Scores), len(v.Tokens))
		}
	}
	if _, ok := f.KV(gguf.KeyTokenizerAddSpacePrefix); ok {
		b, err := f.Bool(gguf.KeyTokenizerAddSpacePrefix)
		if err != nil {
			return nil, err
		}
		v.AddSpacePrefix = &b
	}
	if str(gguf.KeyChatTemplate, &v.ChatTemplate); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		key string
		dst *int32
	}{{gguf.KeyTokenizerBOS, &v.BOS}, {gguf.KeyTokenizerEOS, &v.EOS}, {gguf.KeyTokenizerPAD, &v.PAD}, {gguf.KeyTokenizerUNK, &v.UNK}} {
		if _, ok := f.KV(s.key); !ok {
			continue
		}
		u, err := f.Uint(s.key)
		if err != nil {
			return nil, err
		}
		if u >= uint64(len(v.Tokens)) || u > math.MaxInt32 {
			return nil, fmt.Errorf("%s = %d is outside the vocabulary [0, %d)", s.key, u, len(v.Tokens))
		}
		*s.dst = int32(u)
	}
	return v, nil
}

// ggufModel is the only tokenizer.ggml.model this package writes and reads.
const ggufModel = "gpt2"

// GGUFVocab returns the vocabulary in GGUF form: "gpt2", or "llama" for a
// SentencePiece-form text vocabulary (Llama 2's). A normalizer (Qwen's NFC)
// has no GGUF representation and is dropped, as llama.cpp does not normalize.
func (t *Tokenizer) GGUFVocab() GGUFVocab {
	if prefix, ok := t.spmSpacePrefix(); ok {
		return t.spmGGUFVocab(prefix)
	}
	bl := gpt2Bytes
	v := GGUFVocab{
		Model:        ggufModel,
		Pre:          t.Pre(),
		Tokens:       make([]string, len(t.tokens)),
		Types:        append([]int32(nil), t.types...),
		Merges:       make([]string, len(t.mergeList)),
		BOS:          t.special.BOS,
		EOS:          t.special.EOS,
		PAD:          t.special.PAD,
		ChatTemplate: t.special.ChatTemplate,
	}
	for id, b := range t.tokens {
		switch t.types[id] {
		case TypeNormal:
			v.Tokens[id] = bl.encode(b)
		case TypeUnused:
			v.Tokens[id] = fmt.Sprintf("[PAD%d]", id)
		default:
			v.Tokens[id] = string(b)
		}
	}
	for i, m := range t.mergeList {
		v.Merges[i] = bl.encode(t.tokens[m[0]]) + " " + bl.encode(t.tokens[m[1]])
	}
	return v
}

// ggufPreTokenizer is the tokenizer.json pre_tokenizer of a llama.cpp
// pre-tokenizer name beyond the three fast-path patterns (the form the
// models' own tokenizer.json files use; llama.cpp's regexes for the name in
// llama-vocab.cpp split identically).
func ggufPreTokenizer(name string) (string, bool) {
	switch name {
	case "smollm": // SmolLM/SmolLM2: single digits, then GPT-2's split
		return `{"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":true},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}]}`, true
	case "gpt-4o": // o200k (GPT-4o, gpt-oss)
		return `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":` + jsonQuote(patternO200k) + `},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]}`, true
	}
	return "", false
}

// patternO200k is the split regex of the o200k tokenizers (GPT-4o, gpt-oss).
const patternO200k = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// GGUFPreNames lists the tokenizer.ggml.pre names FromGGUFVocab accepts.
func GGUFPreNames() []string { return []string{PreLlama3, PreQwen2, PreGPT2, "smollm", "gpt-4o"} }

// ggufPreName is the llama.cpp name of a general pipeline's pre-tokenizer
// when it is one ggufPreTokenizer knows (trim_offsets, which does not change
// ids, ignored), else PreCustom.
func ggufPreName(normalizerJSON, preJSON []byte) string {
	if normalizerJSON != nil {
		return PreCustom
	}
	have := canonicalJSON(stripTrimOffsets(preJSON))
	for _, name := range GGUFPreNames() {
		if raw, ok := ggufPreTokenizer(name); ok && canonicalJSON(stripTrimOffsets([]byte(raw))) == have {
			return name
		}
	}
	return PreCustom
}

// GGUFCompatible says whether GGUFVocab represents the tokenizer in
// llama.cpp's "gpt2" or "llama" form: nil, or why not (a text vocabulary
// whose pipeline is not SentencePiece's escaping, or a pipeline llama.cpp has
// no pre-tokenizer name for). As before, a Unicode normalization alone
// (Qwen's NFC) is dropped: llama.cpp does not normalize.
func (t *Tokenizer) GGUFCompatible() error {
	if _, ok := t.spmSpacePrefix(); ok {
		return nil
	}
	switch {
	case t.textVocab():
		return fmt.Errorf("tokenizer %s: a text vocabulary has a GGUF (\"llama\") form only with SentencePiece's escaping (normalizer Prepend ▁ + Replace \" \" → ▁, or the Replace alone; no pre-tokenizer)", t.name)
	case t.Pre() == PreCustom:
		return fmt.Errorf("tokenizer %s: its pre-tokenizer has no llama.cpp name (known: %s)", t.name, strings.Join(GGUFPreNames(), ", "))
	}
	return nil
}

// FromGGUFVocab builds a tokenizer from GGUF vocabulary arrays. As in
// llama.cpp, the llama-bpe pre-tokenizer implies ignore_merges.
func FromGGUFVocab(v GGUFVocab) (*Tokenizer, error) {
	t, err := fromGGUF(v)
	if err != nil {
		return nil, fmt.Errorf("tokenizer from GGUF: %w", err)
	}
	return t, nil
}

func fromGGUF(v GGUFVocab) (*Tokenizer, error) {
	if v.Model == ggufModelSPM {
		return fromGGUFSPM(v)
	}
	if v.Model != ggufModel {
		return nil, fmt.Errorf("tokenizer.ggml.model %q: only %q (byte-level BPE) and %q (SentencePiece) are supported", v.Model, ggufModel, ggufModelSPM)
	}
	kind, err := preKindByName(v.Pre)
	var gen *pipeline
	var preJSON []byte
	if err != nil {
		raw, ok := ggufPreTokenizer(v.Pre)
		if !ok {
			return nil, fmt.Errorf("tokenizer.ggml.pre: unknown pre-tokenizer %q (want %s)", v.Pre, strings.Join(GGUFPreNames(), ", "))
		}
		var info preInfo
		steps, err := parsePreTokenizers([]byte(raw), "tokenizer.ggml.pre "+v.Pre, &info)
		if err != nil {
			return nil, err
		}
		kind, gen, preJSON = 0, &pipeline{pre: steps}, []byte(raw)
	}
	if len(v.Tokens) > maxVocab {
		return nil, fmt.Errorf("tokenizer.ggml.tokens: %d tokens exceed the limit %d", len(v.Tokens), maxVocab)
	}
	if len(v.Types) != len(v.Tokens) {
		return nil, fmt.Errorf("tokenizer.ggml.token_type has %d entries for %d tokens", len(v.Types), len(v.Tokens))
	}
	if len(v.Merges) > maxMerges {
		return nil, fmt.Errorf("tokenizer.ggml.merges: %d merges exceed the limit %d", len(v.Merges), maxMerges)
	}
	bl := gpt2Bytes
	s := &spec{name: "gguf", pre: kind, ignoreMerges: kind == preLlama3, chatTemplate: v.ChatTemplate, gen: gen, preJSON: preJSON}
	for id, tok := range v.Tokens {
		switch v.Types[id] {
		case TypeNormal:
			b, ok := bl.decode(tok)
			if !ok {
				return nil, fmt.Errorf("tokenizer.ggml.tokens[%d] %q: not a byte-level token", id, tok)
			}
			s.vocab = append(s.vocab, vocabEntry{bytes: string(b), id: int32(id)})
		case TypeControl, TypeUserDefined:
			s.added = append(s.added, addedToken{id: int32(id), content: tok, special: v.Types[id] == TypeControl})
		case TypeUnused:
		default:
			return nil, fmt.Errorf("tokenizer.ggml.token_type[%d] = %d: unsupported (want 1, 3, 4 or 5)", id, v.Types[id])
		}
	}
	s.merges = make([][2]string, len(v.Merges))
	for i, m := range v.Merges {
		a, b, ok := strings.Cut(m, " ")
		if !ok || strings.Contains(b, " ") {
			return nil, fmt.Errorf("tokenizer.ggml.merges[%d] %q: want two tokens separated by one space", i, m)
		}
		ab, okA := bl.decode(a)
		bb, okB := bl.decode(b)
		if !okA || !okB {
			return nil, fmt.Errorf("tokenizer.ggml.merges[%d] %q: not byte-level tokens", i, m)
		}
		s.merges[i] = [2]string{string(ab), string(bb)}
	}
	content := func(field string, id int32) (*string, error) {
		c := ""
		if id < 0 {
			return &c, nil
		}
		if int(id) >= len(v.Tokens) {
			return nil, fmt.Errorf("%s %d is outside the %d tokens", field, id, len(v.Tokens))
		}
		if v.Types[id] == TypeNormal {
			b, _ := bl.decode(v.Tokens[id])
			c = string(b)
		} else {
			c = v.Tokens[id]
		}
		return &c, nil
	}
	if s.bos, err = content(gguf.KeyTokenizerBOS, v.BOS); err != nil {
		return nil, err
	}
	if s.eos, err = content(gguf.KeyTokenizerEOS, v.EOS); err != nil {
		return nil, err
	}
	if s.pad, err = content(gguf.KeyTokenizerPAD, v.PAD); err != nil {
		return nil, err
	}
	return build(s)
}
