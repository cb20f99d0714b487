package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Token types, as llama.cpp's tokenizer.ggml.token_type uses them.
const (
	TypeNormal      int32 = 1
	TypeControl     int32 = 3 // special added token (BOS, EOS, chat markers)
	TypeUserDefined int32 = 4 // non-special added token
	TypeUnused      int32 = 5 // an id no token uses
)

// Special names the tokenizer's special token ids; -1 means none.
type Special struct {
	BOS, EOS, PAD int32
	// Chat markers: ImStart/ImEnd are ChatML's <|im_start|> and <|im_end|>;
	// EOT ends an assistant turn (<|im_end|> in ChatML, <|eot_id|> in Llama 3).
	ImStart, ImEnd, EOT int32
	// ChatTemplate is the Jinja chat template, "" if none.
	ChatTemplate string
}

// addedToken is a token matched verbatim in the input before pre-tokenization.
type addedToken struct {
	id         int32
	content    string
	special    bool
	lstrip     bool
	rstrip     bool
	singleWord bool
	normalized bool
}

// Tokenizer is an immutable byte-level BPE tokenizer; its methods are safe
// for concurrent use.
type Tokenizer struct {
	name         string
	pre          preKind
	prefixSpace  bool   // ByteLevel add_prefix_space
	normalizer   string // "", "NFC", "NFD", "NFKC" or "NFKD"
	ignoreMerges bool   // look a whole piece up in the vocab before merging
	byteFallback bool   // kept for round trips; byte-level BPE never needs it

	tokens [][]byte // id → raw bytes; nil for an unused id
	types  []int32  // id → Type*
	vocab  map[string]int32
	byteID [256]int32

	mergeList [][2]int32        // in rank order
	merges    map[uint64]uint64 // mergeKey → mergeVal

	added      []addedToken
	addedByStr map[string]int // content → index in added
	addedFirst [256]bool      // first bytes of added contents
	addedLens  [256][]int     // first byte → distinct content lengths, longest first

	special Special
	split   splitter

	// The general pipeline (nil: the fast path above) and what decoding
	// needs beyond concatenating bytes.
	gen        *pipeline
	decoders   []decStep // nil: concatenate token bytes (ByteLevel)
	textDecode bool      // char-level vocabulary: decode through decoders
	unkID      int32     // unknown token (char-level), -1 if none
	fuseUnk    bool
	pieces     [][]byte         // textDecode: each id's decoded text
	pieceID    map[string]int32 // textDecode: decoded text → id

	// Raw JSON sections kept for Save (nil: write our defaults).
	normalizerJSON, preJSON []byte

	states sync.Pool // *encState, per-goroutine scratch and piece cache

	// Raw JSON sections kept for Save (nil: write our defaults).
	postProcessor []byte
	decoder       []byte
}

// Name is where the tokenizer came from (a path or "trained").
func (t *Tokenizer) Name() string { return t.name }

// Pre is the llama.cpp name of the pre-tokenizer pattern, or "custom" for a
// tokenizer.json pipeline with no such name.
func (t *Tokenizer) Pre() string {
	if t.gen != nil {
		if t.gen.charLevel {
			return PreCustom
		}
		return ggufPreName(t.normalizerJSON, t.preJSON)
	}
	return t.pre.String()
}

// Normalizer is the normalization applied before pre-tokenization ("" for
// none, "NFC" for Qwen, the steps joined by "+" for a general pipeline).
func (t *Tokenizer) Normalizer() string {
	if t.gen != nil {
		return describeNormalizers(t.gen.norm)
	}
	return t.normalizer
}

// NumMerges is the number of BPE merges.
func (t *Tokenizer) NumMerges() int { return len(t.mergeList) }

// NumAdded is the number of added (special and user-defined) tokens.
func (t *Tokenizer) NumAdded() int { return len(t.added) }

// VocabSize is the number of ids (the highest id + 1).
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// Special returns the special token ids and chat template.
func (t *Tokenizer) Special() Special { return t.special }

// TokenBytes returns the raw bytes of id (an added token's content for
// added tokens; for a text vocabulary such as SentencePiece's, the token's
// decoded text: "▁the" is " the", "<0x0A>" is "\n"); false if id is out of
// range or unused.
func (t *Tokenizer) TokenBytes(id int32) ([]byte, bool) {
	if id < 0 || int(id) >= len(t.tokens) || t.tokens[id] == nil {
		return nil, false
	}
	if t.pieces != nil {
		return t.pieces[id], true
	}
	return t.tokens[id], true
}

// TokenType returns the Type* of id (TypeUnused if out of range).
func (t *Tokenizer) TokenType(id int32) int32 {
	if id < 0 || int(id) >= len(t.types) {
		return TypeUnused
	}
	return t.types[id]
}

// IDForBytes returns the id of the model token with exactly these bytes, or
// of the added token with this content.
func (t *Tokenizer) IDForBytes(b []byte) (int32, bool) {
	if i, ok := t.addedByStr[string(b)]; ok {
		return t.added[i].id, true
	}
	if t.pieceID != nil {
		id, ok := t.pieceID[string(b)]
		return id, ok
	}
	id, ok := t.vocab[string(b)]
	return id, ok
}

// Encode tokenizes text. It adds no BOS or EOS; added-token strings in the
// text (e.g. "<|im_start|>") become their ids.
func (t *Tokenizer) Encode(text string) []int32 {
	out := make([]int32, 0, len(text)/3+4)
	st, _ := t.states.Get().(*encState)
	if st == nil {
		st = newEncState()
	}
	defer t.states.Put(st)
	if len(t.added) == 0 {
		return t.encodeSection(text, true, out, st)
	}
	start := 0 // start of the pending ordinary text
	for i := 0; i < len(text); {
		if !t.addedFirst[text[i]] {
			i++
			continue
		}
		k, n := t.matchAdded(text, i)
		if n == 0 {
			i++
			continue
		}
		a := &t.added[k]
		seg := text[start:i]
		if a.lstrip {
			seg = strings.TrimRightFunc(seg, unicode.IsSpace)
		}
		out = t.encodeSection(seg, start == 0, out, st)
		out = append(out, a.id)
		i += n
		if a.rstrip {
			for i < len(text) {
				r, w := utf8.DecodeRuneInString(text[i:])
				if !unicode.IsSpace(r) {
					break
				}
				i += w
			}
		}
		start = i
	}
	return t.encodeSection(text[start:], start == 0, out, st)
}

// matchAdded returns the index and length of the longest added token
// starting at text[i] (n == 0: none).
func (t *Tokenizer) matchAdded(text string, i int) (k, n int) {
	for _, l := range t.addedLens[text[i]] {
		if i+l > len(text) {
			continue
		}
		k, ok := t.addedByStr[text[i:i+l]]
		if !ok {
			continue
		}
		if t.added[k].singleWord && !t.atWordBoundary(text, i, i+l) {
			continue
		}
		return k, l
	}
	return 0, 0
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func (t *Tokenizer) atWordBoundary(text string, lo, hi int) bool {
	if lo > 0 {
		if r, _ := utf8.DecodeLastRuneInString(text[:lo]); isWordRune(r) {
			return false
		}
	}
	if hi < len(text) {
		if r, _ := utf8.DecodeRuneInString(text[hi:]); isWordRune(r) {
			return false
		}
	}
	return true
}

// encodeSection encodes text holding no added token; first is true when it
// starts the input.
func (t *Tokenizer) encodeSection(s string, first bool, out []int32, st *encState) []int32 {
	if len(s) == 0 {
		return out
	}
	if utf8.ValidString(s) {
		return t.encodeValid(s, first, out, st)
	}
	// Each invalid byte is a boundary and its own byte token.
	start := 0
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w == 1 {
			out = t.encodeValid(s[start:i], first && start == 0, out, st)
			out = append(out, t.invalidByte(s[i]))
			i++
			start = i
			continue
		}
		i += w
	}
	return t.encodeValid(s[start:], first && start == 0, out, st)
}

// encodeValid normalizes, pre-tokenizes and BPE-encodes valid UTF-8 text.
func (t *Tokenizer) encodeValid(s string, first bool, out []int32, st *encState) []int32 {
	if len(s) == 0 {
		return out
	}
	if t.gen != nil {
		return t.encodeGeneral(s, first, out, st)
	}
	s = t.normalize(s)
	if t.prefixSpace && s[0] != ' ' {
		s = " " + s
	}
	st.ends = t.split.split(s, st.ends[:0])
	start := 0
	for _, end := range st.ends {
		out = t.cachedWord(s[start:end], out, st)
		start = end
	}
	return out
}

func (t *Tokenizer) normalize(s string) string {
	switch t.normalizer {
	case "NFC":
		if norm.NFC.IsNormalString(s) {
			return s
		}
		return norm.NFC.String(s)
	case "NFD":
		return norm.NFD.String(s)
	case "NFKC":
		return norm.NFKC.String(s)
	case "NFKD":
		return norm.NFKD.String(s)
	}
	return s
}

// Decode concatenates the bytes of ids. Ids out of range or unused are
// skipped; use DecodeChecked to reject them.
func (t *Tokenizer) Decode(ids []int32) []byte {
	if t.decoders != nil || t.textDecode {
		return t.decodeGeneral(ids)
	}
	out := make([]byte, 0, len(ids)*4)
	for _, id := range ids {
		if id >= 0 && int(id) < len(t.tokens) {
			out = append(out, t.tokens[id]...)
		}
	}
	return out
}

// DecodeChecked is Decode that fails on an id outside the vocabulary.
func (t *Tokenizer) DecodeChecked(ids []int32) ([]byte, error) {
	out := make([]byte, 0, len(ids)*4)
	for i, id := range ids {
		if id < 0 || int(id) >= len(t.tokens) || t.tokens[id] == nil {
			return nil, fmt.Errorf("decode: id %d at position %d is not in the vocabulary (size %d)", id, i, len(t.tokens))
		}
		out = append(out, t.tokens[id]...)
	}
	if t.decoders != nil || t.textDecode {
		return t.decodeGeneral(ids), nil
	}
	return out, nil
}

// encState is per-goroutine scratch space: pre-token ends and a bounded
// cache of BPE results for short pieces.
type encState struct {
	pairs  pairCache
	ends   []int
	pieces []string
	cache  map[string][]int32
	arena  []int32
}

const (
	cacheMaxPiece   = 48      // longest piece (bytes) worth caching
	cacheMaxEntries = 1 << 15 // the cache is cleared when it reaches this size
)

func newEncState() *encState {
	return &encState{ends: make([]int, 0, 256), cache: make(map[string][]int32, 1024)}
}

// cachedWord is bpeWord through the state's cache.
func (t *Tokenizer) cachedWord(w string, out []int32, st *encState) []int32 {
	if len(w) == 1 && !t.textVocab() {
		return append(out, t.byteID[w[0]])
	}
	if len(w) > cacheMaxPiece {
		return t.modelWord(w, out, &st.pairs)
	}
	if ids, ok := st.cache[w]; ok {
		return append(out, ids...)
	}
	n := len(out)
	out = t.modelWord(w, out, &st.pairs)
	if len(st.cache) >= cacheMaxEntries {
		clear(st.cache)
		st.arena = nil
	}
	if cap(st.arena)-len(st.arena) < len(out)-n {
		st.arena = make([]int32, 0, 1<<14)
	}
	start := len(st.arena)
	st.arena = append(st.arena, out[n:]...)
	st.cache[w] = st.arena[start:len(st.arena):len(st.arena)]
	return out
}
