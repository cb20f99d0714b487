package tokenizer

import (
	"fmt"
	"unicode/utf8"
)

// byteLevel is GPT-2's reversible byte-to-character table: printable
// Latin-1 bytes map to themselves, the other 68 bytes to U+0100 onwards, so
// that every byte string becomes a string of visible characters without spaces.
type byteLevel struct {
	toRune   [256]rune
	fromRune [byteLevelRunes]int16 // -1: not in the alphabet
}

// byteLevelRunes bounds the alphabet's code points (the highest is U+0143).
const byteLevelRunes = 0x144

// gpt2Bytes is the one byte-level table; it is never modified after init.
var gpt2Bytes = newByteLevel()

// ByteLevelRune is the character byte b is written as in byte-level BPE
// token texts (GPT-2's bytes_to_unicode: space → Ġ, newline → Ċ).
func ByteLevelRune(b byte) rune { return gpt2Bytes.toRune[b] }

// ByteLevelByte is the byte the byte-level character r stands for, or false
// when r is not one of the 256 characters of the alphabet.
func ByteLevelByte(r rune) (byte, bool) {
	if r < 0 || r >= byteLevelRunes || gpt2Bytes.fromRune[r] < 0 {
		return 0, false
	}
	return byte(gpt2Bytes.fromRune[r]), true
}

func newByteLevel() *byteLevel {
	bl := &byteLevel{}
	for i := range bl.fromRune {
		bl.fromRune[i] = -1
	}
	n := 0
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		r := rune(b)
		if !printable {
			r = rune(256 + n)
			n++
		}
		bl.toRune[b] = r
		bl.fromRune[r] = int16(b)
	}
	return bl
}

// encode maps raw bytes to their byte-level string (nil table: the identity).
func (bl *byteLevel) encode(b []byte) string {
	if bl == nil {
		return string(b)
	}
	out := make([]byte, 0, len(b)*2)
	for _, c := range b {
		out = utf8.AppendRune(out, bl.toRune[c])
	}
	return string(out)
}

// decode maps a byte-level string back to raw bytes; ok is false if s holds a
// character outside the 256-character alphabet. A nil table is the identity
// (vocabularies that spell tokens as text).
func (bl *byteLevel) decode(s string) ([]byte, bool) {
	if bl == nil {
		return []byte(s), true
	}
	out := make([]byte, 0, len(s))
	for _, r := range s {
		b, ok := ByteLevelByte(r)
		if !ok {
			return nil, false
		}
		out = append(out, b)
	}
	return out, true
}

func (bl *byteLevel) mustDecode(s string) ([]byte, error) {
	b, ok := bl.decode(s)
	if !ok {
		return nil, fmt.Errorf("token %q is not a byte-level string", s)
	}
	return b, nil
}
