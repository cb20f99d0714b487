package tokenizer

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/distill-ml/distill/format/gguf"
)

// SentencePiece vocabularies in GGUF files (tokenizer.ggml.model "llama":
// Llama 2, TinyLlama, Mistral): text tokens with ▁ for spaces, a score per
// token, <0xXX> byte tokens. llama.cpp's llm_tokenizer_spm splits the
// escaped text into characters and repeatedly merges the adjacent pair
// whose concatenation is a token with the highest score (leftmost first),
// then spells characters outside the vocabulary as their byte tokens.
//
// That is char-level BPE with byte_fallback, the form Hugging Face gives
// the same models (Llama 2's tokenizer.json): fromGGUFSPM rebuilds such a
// tokenizer.json, with the merges derived from the vocabulary as
// transformers' SentencePiece converter derives them (every split of a
// token into two tokens, ordered by the token's score, then by the two
// pieces' ids), and loads it through the general pipeline.

// ggufModelSPM is llama.cpp's name of the SentencePiece tokenizer model.
const ggufModelSPM = "llama"

// Token types of llama.cpp's SentencePiece vocabularies beyond those above.
const (
	TypeUnknown int32 = 2 // the unknown token (<unk>)
	TypeByte    int32 = 6 // a byte-fallback token (<0x0A>)
)

// spmMetaspace is SentencePiece's visible space.
const spmMetaspace = "▁"

func fromGGUFSPM(v GGUFVocab) (*Tokenizer, error) {
	n := len(v.Tokens)
	switch {
	case n > maxVocab:
		return nil, fmt.Errorf("tokenizer.ggml.tokens: %d tokens exceed the limit %d", n, maxVocab)
	case len(v.Types) != n:
		return nil, fmt.Errorf("tokenizer.ggml.token_type has %d entries for %d tokens", len(v.Types), n)
	case len(v.Scores) != n:
		return nil, fmt.Errorf("%s has %d entries for %d tokens (a %q vocabulary needs a score per token)", gguf.KeyTokenizerScores, len(v.Scores), n, ggufModelSPM)
	}
	vocab := make(map[string]int, n)
	var added []hfAdded
	unk, hasBytes := "", false
	for id, tok := range v.Tokens {
		typ := v.Types[id]
		switch typ {
		case TypeNormal, TypeByte, TypeUnknown, TypeControl, TypeUserDefined:
		case TypeUnused:
			continue
		default:
			return nil, fmt.Errorf("tokenizer.ggml.token_type[%d] = %d: unsupported (want 1..6)", id, typ)
		}
		if tok == "" || !utf8.ValidString(tok) {
			return nil, fmt.Errorf("tokenizer.ggml.tokens[%d] %q: want non-empty UTF-8 text", id, tok)
		}
		if prev, dup := vocab[tok]; dup {
			return nil, fmt.Errorf("tokenizer.ggml.tokens[%d] %q repeats token %d", id, tok, prev)
		}
		vocab[tok] = id
		switch typ {
		case TypeByte:
			if _, ok := byteFallbackValue(tok); !ok {
				return nil, fmt.Errorf("tokenizer.ggml.tokens[%d] %q: a byte token must read <0xXX>", id, tok)
			}
			hasBytes = true
		case TypeUnknown, TypeControl, TypeUserDefined:
			idv := int64(id)
			added = append(added, hfAdded{ID: &idv, Content: tok, Special: typ != TypeUserDefined})
			if typ == TypeUnknown && unk == "" {
				unk = tok
			}
		}
	}
	if v.UNK >= 0 && int(v.UNK) < n {
		unk = v.Tokens[v.UNK]
	}

	// Merges: every split of a normal token into two normal tokens, by the
	// token's score (higher first), then the pieces' ids.
	type merge struct {
		score       float32
		left, right int
		l, r        string
	}
	var merges []merge
	for id, tok := range v.Tokens {
		if v.Types[id] != TypeNormal || !isFinite32(v.Scores[id]) {
			if v.Types[id] == TypeNormal {
				return nil, fmt.Errorf("%s[%d] = %v: want a finite score", gguf.KeyTokenizerScores, id, v.Scores[id])
			}
			continue
		}
		for k := 0; k < len(tok); {
			_, w := utf8.DecodeRuneInString(tok[k:])
			k += w
			if k == len(tok) {
				break
			}
			l, okL := vocab[tok[:k]]
			r, okR := vocab[tok[k:]]
			if okL && okR && v.Types[l] == TypeNormal && v.Types[r] == TypeNormal {
				merges = append(merges, merge{v.Scores[id], l, r, tok[:k], tok[k:]})
			}
		}
	}
	if len(merges) > maxMerges {
		return nil, fmt.Errorf("tokenizer.ggml.tokens: %d derived merges exceed the limit %d", len(merges), maxMerges)
	}
	slices.SortFunc(merges, func(a, b merge) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		if c := cmp.Compare(a.left, b.left); c != 0 {
			return c
		}
		return cmp.Compare(a.right, b.right)
	})
	mergeList := make([][2]string, len(merges))
	for i, m := range merges {
		mergeList[i] = [2]string{m.l, m.r}
	}

	prefix := v.AddSpacePrefix == nil || *v.AddSpacePrefix
	decoders := []any{
		map[string]any{"type": "Replace", "pattern": map[string]string{"String": spmMetaspace}, "content": " "},
		map[string]any{"type": "ByteFallback"},
		map[string]any{"type": "Fuse"},
	}
	if prefix {
		decoders = append(decoders, map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0})
	}
	var unkToken any
	if unk != "" {
		unkToken = unk
	}
	if added == nil {
		added = []hfAdded{}
	}
	doc, err := json.Marshal(map[string]any{
		"version":        "1.0",
		"added_tokens":   added,
		"normalizer":     spmNormalizer(prefix),
		"pre_tokenizer":  nil,
		"post_processor": nil,
		"decoder":        map[string]any{"type": "Sequence", "decoders": decoders},
		"model": map[string]any{
			"type": "BPE", "unk_token": unkToken, "fuse_unk": true, "byte_fallback": hasBytes,
			"vocab": vocab, "merges": mergeList,
		},
	})
	if err != nil {
		return nil, err
	}
	config := map[string]any{}
	for _, s := range []struct {
		key string
		id  int32
	}{{"bos_token", v.BOS}, {"eos_token", v.EOS}, {"pad_token", v.PAD}} {
		if s.id >= 0 && int(s.id) < n {
			config[s.key] = v.Tokens[s.id]
		} else {
			config[s.key] = nil
		}
	}
	if v.ChatTemplate != "" {
		config["chat_template"] = v.ChatTemplate
	}
	cfg, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	return parse(doc, "gguf", cfg)
}

func isFinite32(f float32) bool { return f-f == 0 } // NaN and ±Inf give NaN

// spmNormalizer is the tokenizer.json normalizer of llama.cpp's SentencePiece
// escaping: spaces to ▁, with a leading ▁ when prefix (add_space_prefix).
func spmNormalizer(prefix bool) map[string]any {
	ns := []any{map[string]any{"type": "Replace", "pattern": map[string]string{"String": " "}, "content": spmMetaspace}}
	if prefix {
		ns = append([]any{map[string]any{"type": "Prepend", "prepend": spmMetaspace}}, ns...)
	}
	return map[string]any{"type": "Sequence", "normalizers": ns}
}

// spmSpacePrefix reports whether the tokenizer is llama.cpp's SentencePiece
// form — a text vocabulary, no pre-tokenizer, spmNormalizer — and with which
// add_space_prefix.
func (t *Tokenizer) spmSpacePrefix() (prefix, ok bool) {
	if !t.textVocab() || t.preJSON != nil {
		return false, false
	}
	have := canonicalJSON(t.normalizerJSON)
	for _, p := range []bool{true, false} {
		want, _ := json.Marshal(spmNormalizer(p))
		if have == canonicalJSON(want) {
			return p, true
		}
	}
	return false, false
}

// spmGGUFVocab is a SentencePiece-form tokenizer as a "llama" GGUF
// vocabulary: text tokens, byte and unknown tokens typed as llama.cpp types
// them, and scores that make llama.cpp's highest-score-first merging follow
// the merge ranks (the token a merge of rank r makes first scores −r; other
// normal tokens score below every merge).
func (t *Tokenizer) spmGGUFVocab(prefix bool) GGUFVocab {
	n := len(t.tokens)
	v := GGUFVocab{
		Model: ggufModelSPM, Tokens: make([]string, n), Types: append([]int32(nil), t.types...),
		Scores: make([]float32, n), UNK: t.unkID, AddSpacePrefix: &prefix,
		BOS: t.special.BOS, EOS: t.special.EOS, PAD: t.special.PAD, ChatTemplate: t.special.ChatTemplate,
	}
	scored := make([]bool, n)
	for r, m := range t.mergeList {
		res := t.vocab[string(t.tokens[m[0]])+string(t.tokens[m[1]])]
		if !scored[res] {
			v.Scores[res], scored[res] = -float32(r), true
		}
	}
	for id, b := range t.tokens {
		v.Tokens[id] = string(b)
		switch {
		case t.types[id] == TypeUnused:
			v.Tokens[id] = fmt.Sprintf("[PAD%d]", id)
		case int32(id) == t.unkID:
			v.Types[id] = TypeUnknown
		case t.types[id] != TypeNormal:
		case t.isByteToken(int32(id)):
			v.Types[id] = TypeByte
		case !scored[id]:
			v.Scores[id] = -float32(len(t.mergeList) + id)
		}
	}
	return v
}

// isByteToken reports whether id is a byte-fallback token (<0xXX>).
func (t *Tokenizer) isByteToken(id int32) bool {
	b, ok := byteFallbackValue(string(t.tokens[id]))
	return ok && t.byteID[b] == id
}
