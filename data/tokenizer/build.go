package tokenizer

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Bounds on untrusted sizes, checked before allocating.
const (
	maxVocab     = 1 << 22 // ids
	maxIDSlack   = 1 << 16 // unused ids allowed beyond the number of tokens
	maxTokenLen  = 1 << 16 // bytes in one token
	maxMerges    = 1 << 23
	maxAddedToks = 1 << 16
)

// spec is everything a Tokenizer is built from, before validation.
type spec struct {
	name         string
	pre          preKind
	prefixSpace  bool
	normalizer   string
	ignoreMerges bool
	byteFallback bool

	vocab  []vocabEntry // model vocabulary
	merges [][2]string  // raw-byte pairs, in rank order (a later duplicate wins)
	added  []addedToken

	// Special token contents from configuration; nil means "infer".
	bos, eos, pad *string
	chatTemplate  string
	// bosFromPost is the first special token of a TemplateProcessing post-processor.
	bosFromPost string

	postProcessor, decoder []byte

	// The general pipeline (nil: fast path) and its decoding; see Tokenizer.
	gen                     *pipeline
	decoders                []decStep
	textDecode              bool
	unk                     string // unknown token of a text vocabulary, "" if none
	fuseUnk                 bool
	normalizerJSON, preJSON []byte
}

type vocabEntry struct {
	bytes string
	id    int32
}

// build validates s and constructs the Tokenizer.
func build(s *spec) (*Tokenizer, error) {
	if s.pre == 0 && s.gen == nil {
		return nil, errors.New("no pre-tokenizer")
	}
	switch s.normalizer {
	case "", "NFC", "NFD", "NFKC", "NFKD":
	default:
		return nil, fmt.Errorf("unsupported normalizer %q", s.normalizer)
	}
	n := len(s.vocab) + len(s.added)
	if n == 0 {
		return nil, errors.New("empty vocabulary")
	}
	if n > maxVocab {
		return nil, fmt.Errorf("vocabulary of %d tokens exceeds the limit %d", n, maxVocab)
	}
	if len(s.added) > maxAddedToks {
		return nil, fmt.Errorf("%d added tokens exceed the limit %d", len(s.added), maxAddedToks)
	}
	if len(s.merges) > maxMerges {
		return nil, fmt.Errorf("%d merges exceed the limit %d", len(s.merges), maxMerges)
	}
	maxID := int32(-1)
	for _, v := range s.vocab {
		if v.id < 0 {
			return nil, fmt.Errorf("vocab token %q has negative id %d", v.bytes, v.id)
		}
		maxID = max(maxID, v.id)
	}
	for _, a := range s.added {
		if a.id < 0 {
			return nil, fmt.Errorf("added token %q has negative id %d", a.content, a.id)
		}
		maxID = max(maxID, a.id)
	}
	if int(maxID) >= n+maxIDSlack || int(maxID) >= maxVocab {
		return nil, fmt.Errorf("token id %d is far beyond the %d tokens (ids must be dense)", maxID, n)
	}
	t := &Tokenizer{
		name:          s.name,
		pre:           s.pre,
		prefixSpace:   s.prefixSpace,
		normalizer:    s.normalizer,
		ignoreMerges:  s.ignoreMerges,
		byteFallback:  s.byteFallback,
		tokens:        make([][]byte, maxID+1),
		types:         make([]int32, maxID+1),
		vocab:         make(map[string]int32, len(s.vocab)),
		postProcessor: s.postProcessor,
		decoder:       s.decoder,
		split:         newSplitter(s.pre),

		gen:            s.gen,
		decoders:       s.decoders,
		textDecode:     s.textDecode,
		unkID:          -1,
		fuseUnk:        s.fuseUnk,
		normalizerJSON: s.normalizerJSON,
		preJSON:        s.preJSON,
	}
	textVocab := t.textVocab()
	for i := range t.types {
		t.types[i] = TypeUnused
	}
	for _, v := range s.vocab {
		if len(v.bytes) == 0 {
			return nil, fmt.Errorf("vocab id %d: empty token", v.id)
		}
		if len(v.bytes) > maxTokenLen {
			return nil, fmt.Errorf("vocab id %d: token of %d bytes is too long", v.id, len(v.bytes))
		}
		if t.tokens[v.id] != nil {
			return nil, fmt.Errorf("vocab id %d is used twice (%q and %q)", v.id, t.tokens[v.id], v.bytes)
		}
		if prev, dup := t.vocab[v.bytes]; dup {
			return nil, fmt.Errorf("vocab token %q has two ids (%d and %d)", v.bytes, prev, v.id)
		}
		t.tokens[v.id] = []byte(v.bytes)
		t.types[v.id] = TypeNormal
		t.vocab[v.bytes] = v.id
	}
	for b := 0; b < 256; b++ {
		if textVocab {
			// SentencePiece-style byte-fallback tokens, where present.
			id, ok := t.vocab[fmt.Sprintf("<0x%02X>", b)]
			if !ok || !s.byteFallback {
				id = -1
			}
			t.byteID[b] = id
			continue
		}
		id, ok := t.vocab[string([]byte{byte(b)})]
		if !ok {
			return nil, fmt.Errorf("vocabulary lacks the token of byte 0x%02x (byte-level BPE needs all 256)", b)
		}
		t.byteID[b] = id
	}

	// Merges: a later duplicate of a pair overrides the earlier one, as in
	// Hugging Face tokenizers; ranks are then renumbered densely in
	// effective order.
	type mergeAt struct{ left, right, result int32 }
	all := make([]mergeAt, len(s.merges))
	t.merges = make(map[uint64]uint64, len(s.merges))
	dups := false
	for i, m := range s.merges {
		l, okL := t.vocab[m[0]]
		r, okR := t.vocab[m[1]]
		if !okL || !okR {
			return nil, fmt.Errorf("merge %d (%q %q): token not in vocabulary", i, m[0], m[1])
		}
		res, ok := t.vocab[m[0]+m[1]]
		if !ok {
			return nil, fmt.Errorf("merge %d (%q %q): merged token %q not in vocabulary", i, m[0], m[1], m[0]+m[1])
		}
		all[i] = mergeAt{l, r, res}
		k := mergeKey(l, r)
		if _, seen := t.merges[k]; seen {
			dups = true
		}
		t.merges[k] = mergeVal(int32(i), res)
	}
	t.mergeList = make([][2]int32, 0, len(all))
	if !dups {
		for _, m := range all {
			t.mergeList = append(t.mergeList, [2]int32{m.left, m.right})
		}
	} else {
		for i, m := range all {
			k := mergeKey(m.left, m.right)
			if int32(t.merges[k]>>32) == int32(i) {
				t.mergeList = append(t.mergeList, [2]int32{m.left, m.right})
			}
		}
		for rank, m := range t.mergeList {
			k := mergeKey(m[0], m[1])
			t.merges[k] = mergeVal(int32(rank), int32(uint32(t.merges[k])))
		}
	}

	t.addedByStr = make(map[string]int, len(s.added))
	for _, a := range s.added {
		if a.content == "" {
			return nil, fmt.Errorf("added token id %d has empty content", a.id)
		}
		if !utf8.ValidString(a.content) {
			return nil, fmt.Errorf("added token id %d: content %q is not valid UTF-8", a.id, a.content)
		}
		if _, dup := t.addedByStr[a.content]; dup {
			return nil, fmt.Errorf("added token %q appears twice", a.content)
		}
		if t.types[a.id] != TypeNormal && t.types[a.id] != TypeUnused {
			return nil, fmt.Errorf("added token id %d is used twice", a.id)
		}
		if t.types[a.id] == TypeNormal {
			// A model token re-declared as added (GPT-2's <|endoftext|>).
			delete(t.vocab, string(t.tokens[a.id]))
		}
		t.tokens[a.id] = []byte(a.content)
		t.types[a.id] = TypeUserDefined
		if a.special {
			t.types[a.id] = TypeControl
		}
		t.addedByStr[a.content] = len(t.added)
		t.added = append(t.added, a)
		c := a.content[0]
		t.addedFirst[c] = true
		l := len(a.content)
		lens := t.addedLens[c]
		pos := 0
		for pos < len(lens) && lens[pos] > l {
			pos++
		}
		if pos == len(lens) || lens[pos] != l {
			lens = append(lens, 0)
			copy(lens[pos+1:], lens[pos:])
			lens[pos] = l
		}
		t.addedLens[c] = lens
	}
	for b := 0; b < 256 && !textVocab; b++ {
		if _, ok := t.vocab[string([]byte{byte(b)})]; !ok {
			return nil, fmt.Errorf("the token of byte 0x%02x is redeclared as an added token", b)
		}
	}
	if textVocab {
		if s.unk != "" {
			id, ok := t.IDForBytes([]byte(s.unk))
			if !ok {
				return nil, fmt.Errorf("model.unk_token %q is not in the vocabulary", s.unk)
			}
			t.unkID = id
		}
		for b := 0; b < 256 && t.unkID < 0; b++ {
			if t.byteID[b] < 0 {
				return nil, fmt.Errorf("model: no ByteLevel pre-tokenizer, so the vocabulary is text, and a character outside it has no token (byte_fallback lacks <0x%02X> and there is no unk_token)", b)
			}
		}
	}
	if t.textDecode {
		t.initPieces()
	}
	sp, err := t.resolveSpecial(s)
	if err != nil {
		return nil, err
	}
	t.special = sp
	return t, nil
}

// resolveSpecial fills Special from configuration, falling back to
// well-known token names.
func (t *Tokenizer) resolveSpecial(s *spec) (Special, error) {
	sp := Special{BOS: -1, EOS: -1, PAD: -1, ImStart: -1, ImEnd: -1, EOT: -1, ChatTemplate: s.chatTemplate}
	lookup := func(field string, content *string, fallback ...string) (int32, error) {
		if content != nil {
			if *content == "" {
				return -1, nil
			}
			if id, ok := t.IDForBytes([]byte(*content)); ok {
				return id, nil
			}
			return -1, fmt.Errorf("%s %q is not a token", field, *content)
		}
		for _, f := range fallback {
			if i, ok := t.addedByStr[f]; ok && f != "" {
				return t.added[i].id, nil
			}
		}
		return -1, nil
	}
	var err error
	if sp.BOS, err = lookup("bos_token", s.bos, s.bosFromPost, "<|begin_of_text|>", "<s>", "<|startoftext|>"); err != nil {
		return sp, err
	}
	if sp.EOS, err = lookup("eos_token", s.eos, "<|end_of_text|>", "<|endoftext|>", "</s>"); err != nil {
		return sp, err
	}
	if sp.PAD, err = lookup("pad_token", s.pad, "<|pad|>", "<pad>", "<|finetune_right_pad_id|>"); err != nil {
		return sp, err
	}
	sp.ImStart, _ = lookup("", nil, "<|im_start|>")
	sp.ImEnd, _ = lookup("", nil, "<|im_end|>")
	sp.EOT, _ = lookup("", nil, "<|eot_id|>", "<|im_end|>")
	return sp, nil
}
