package tokenizer

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// pipeline is the general Hugging Face pipeline of a tokenizer whose
// normalizer or pre-tokenizer is not one of the fast paths (nil pipeline:
// the optional Unicode normalization and a hand-written split scanner).
type pipeline struct {
	norm []normStep
	pre  []preStep
	// charLevel: no ByteLevel pre-tokenizer, so the vocabulary spells tokens
	// as text ("▁the", "<0x0A>") and BPE starts from characters, with
	// byte_fallback or the unknown token for characters not in it.
	charLevel bool
}

// parsePipeline reads the normalizer, pre-tokenizer and decoder of f into s:
// the fast path when the normalizer is at most a Unicode normalization and
// the pre-tokenizer is one of the hand-written patterns, else the general
// pipeline. Errors name the component and its JSON path.
func parsePipeline(s *spec, f *hfFile) error {
	s.normalizerJSON = rawOrNil(f.Normalizer)
	s.preJSON = rawOrNil(f.PreTokenizer)
	dec, err := parseDecoders(f.Decoder, "decoder")
	if err != nil {
		return err
	}
	form, nerr := parseNormalizer(f.Normalizer)
	kind, prefix, perr := parsePreTokenizer(f.PreTokenizer)
	if nerr == nil && perr == nil {
		s.normalizer, s.pre, s.prefixSpace = form, kind, prefix
	} else {
		g := &pipeline{}
		if g.norm, err = parseNormalizers(f.Normalizer, "normalizer"); err != nil {
			return err
		}
		var info preInfo
		if g.pre, err = parsePreTokenizers(f.PreTokenizer, "pre_tokenizer", &info); err != nil {
			return err
		}
		g.charLevel = !info.byteLevel
		s.gen = g
	}
	// A byte-level tokenizer whose decoder is ByteLevel (or none) decodes by
	// concatenating bytes; any other chain runs step by step.
	byteLevelOnly := len(dec) == 0 || (len(dec) == 1 && isByteLevelDec(dec[0]))
	if s.gen == nil || !s.gen.charLevel {
		if !byteLevelOnly {
			s.decoders = dec
		}
	} else {
		s.decoders = dec
		s.textDecode = true
	}
	return nil
}

func isByteLevelDec(d decStep) bool { _, ok := d.(byteLevelDec); return ok }

// encodeGeneral normalizes, pre-tokenizes and BPE-encodes valid UTF-8 text
// through the general pipeline; first is true when s starts the input.
func (t *Tokenizer) encodeGeneral(s string, first bool, out []int32, st *encState) []int32 {
	g := t.gen
	for _, n := range g.norm {
		s = n.normalize(s)
	}
	pieces := append(st.pieces[:0], s)
	for _, p := range g.pre {
		pieces = p.apply(pieces, first)
	}
	for _, p := range pieces {
		if p != "" {
			out = t.cachedWord(p, out, st)
		}
	}
	st.pieces = pieces[:0]
	return out
}

// charWord is BPE over the characters of w (a char-level vocabulary): each
// character is its token, or its UTF-8 bytes as <0xXX> tokens
// (byte_fallback), or the unknown token (consecutive ones fused with
// fuse_unk); then the merges.
func (t *Tokenizer) charWord(w string, out []int32, pc *pairCache) []int32 {
	if t.ignoreMerges {
		if id, ok := t.vocab[w]; ok {
			return append(out, id)
		}
	}
	var buf [stackWord]int32
	sym := buf[:0]
	unkLast := false
	for i := 0; i < len(w); {
		_, n := utf8.DecodeRuneInString(w[i:])
		if id, ok := t.vocab[w[i:i+n]]; ok {
			sym = append(sym, id)
			unkLast = false
		} else if t.byteFallback && t.hasByteTokens(w[i:i+n]) {
			for k := i; k < i+n; k++ {
				sym = append(sym, t.byteID[w[k]])
			}
			unkLast = false
		} else if t.unkID >= 0 {
			if !t.fuseUnk || !unkLast {
				sym = append(sym, t.unkID)
			}
			unkLast = true
		}
		i += n
	}
	return t.mergeSyms(sym, out, pc)
}

func (t *Tokenizer) hasByteTokens(s string) bool {
	for i := 0; i < len(s); i++ {
		if t.byteID[s[i]] < 0 {
			return false
		}
	}
	return true
}

// invalidByte is the token of a byte that is not part of valid UTF-8: its
// byte-level token, its <0xXX> token, or the unknown token.
func (t *Tokenizer) invalidByte(b byte) int32 {
	if t.byteID[b] >= 0 {
		return t.byteID[b]
	}
	return t.unkID
}

// tokenString is id as the vocabulary spells it (an added token's content).
func (t *Tokenizer) tokenString(id int32) string {
	if t.types[id] != TypeNormal || t.textVocab() {
		return string(t.tokens[id])
	}
	return gpt2Bytes.encode(t.tokens[id])
}

func (t *Tokenizer) textVocab() bool { return t.gen != nil && t.gen.charLevel }

// runDecoders applies the decoder chain to token strings and joins the
// result; perToken skips the steps that depend on a token's position
// (Strip, Metaspace's first-token space) to give one token's text.
func (t *Tokenizer) runDecoders(toks []string, perToken bool) []byte {
	added := func(s string) bool { _, ok := t.addedByStr[s]; return ok }
	for _, d := range t.decoders {
		if perToken {
			switch x := d.(type) {
			case stripDec:
				continue
			case metaspaceDec:
				x.stripFirst = false
				d = x
			}
		}
		toks = d.decode(toks, added)
	}
	if len(t.decoders) == 0 && t.textDecode {
		return []byte(strings.Join(toks, " ")) // Hugging Face's default
	}
	return []byte(strings.Join(toks, ""))
}

// decodeGeneral decodes through the decoder chain; bad ids are skipped.
func (t *Tokenizer) decodeGeneral(ids []int32) []byte {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if id >= 0 && int(id) < len(t.tokens) && t.tokens[id] != nil {
			toks = append(toks, t.tokenString(id))
		}
	}
	return t.runDecoders(toks, false)
}

// initPieces sets each token's decoded text (TokenBytes) and the map back
// from it (IDForBytes) for tokenizers that decode through a chain.
func (t *Tokenizer) initPieces() {
	t.pieces = make([][]byte, len(t.tokens))
	t.pieceID = make(map[string]int32, len(t.tokens))
	for id := range t.tokens {
		if t.tokens[id] == nil {
			continue
		}
		t.pieces[id] = t.runDecoders([]string{t.tokenString(int32(id))}, true)
	}
	// Model tokens first (lowest id wins), then byte-fallback tokens for
	// bytes no model token spells.
	for pass := 0; pass < 2; pass++ {
		for id, p := range t.pieces {
			if p == nil || t.types[id] != TypeNormal {
				continue
			}
			_, isByte := byteFallbackValue(string(t.tokens[id]))
			if isByte != (pass == 1) {
				continue
			}
			if _, dup := t.pieceID[string(p)]; !dup {
				t.pieceID[string(p)] = int32(id)
			}
		}
	}
}

// canonicalJSON re-encodes a JSON section with sorted keys and no spaces, so
// that formatting does not change Hash.
func canonicalJSON(raw []byte) string {
	if raw == nil {
		return "null"
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return string(raw)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return string(raw)
	}
	return string(out)
}

// describeNormalizers names the normalizer steps for Normalizer().
func describeNormalizers(steps []normStep) string {
	names := make([]string, len(steps))
	for i, s := range steps {
		switch x := s.(type) {
		case unicodeNorm:
			names[i] = x.name
		case lowercaseNorm:
			names[i] = "Lowercase"
		case prependNorm:
			names[i] = "Prepend"
		case replaceNorm:
			names[i] = "Replace"
		case stripNorm:
			names[i] = "Strip"
		}
	}
	return strings.Join(names, "+")
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// stripTrimOffsets drops every "trim_offsets" key (it changes offsets, not ids).
func stripTrimOffsets(raw []byte) []byte {
	var v any
	if raw == nil || json.Unmarshal(raw, &v) != nil {
		return raw
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "trim_offsets")
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	out, _ := json.Marshal(v)
	return out
}
