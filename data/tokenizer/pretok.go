package tokenizer

import (
	"fmt"
	"sync"
	"unicode"
	"unicode/utf8"
)

// PreGPT2, PreLlama3 and PreQwen2 name the split patterns this package
// implements. The names are llama.cpp's tokenizer.ggml.pre values.
const (
	PreGPT2   = "gpt-2"
	PreLlama3 = "llama-bpe"
	PreQwen2  = "qwen2"
	// PreCustom is Pre() of a tokenizer.json whose pipeline runs through
	// the general path (no llama.cpp name).
	PreCustom = "custom"
)

// The split regexes as they appear in tokenizer.json files.
const (
	patternGPT2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	patternLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	patternQwen2  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// preKind selects the hand-written scanner for one split pattern.
type preKind uint8

const (
	preGPT2 preKind = iota + 1
	preLlama3
	preQwen2
)

func (p preKind) String() string {
	switch p {
	case preGPT2:
		return PreGPT2
	case preLlama3:
		return PreLlama3
	case preQwen2:
		return PreQwen2
	}
	return fmt.Sprintf("pre(%d)", uint8(p))
}

func (p preKind) pattern() string {
	switch p {
	case preGPT2:
		return patternGPT2
	case preLlama3:
		return patternLlama3
	case preQwen2:
		return patternQwen2
	}
	return ""
}

// preKindByName resolves a llama.cpp pre-tokenizer name (and a few aliases).
func preKindByName(name string) (preKind, error) {
	switch name {
	case PreGPT2, "gpt2":
		return preGPT2, nil
	case PreLlama3, "llama3", "llama-v3":
		return preLlama3, nil
	case PreQwen2, "qwen3":
		return preQwen2, nil
	}
	return 0, fmt.Errorf("unknown pre-tokenizer %q (want %s, %s or %s)", name, PreLlama3, PreQwen2, PreGPT2)
}

// preKindByPattern recognises a split regex from a tokenizer.json.
func preKindByPattern(re string) (preKind, bool) {
	switch re {
	case patternGPT2:
		return preGPT2, true
	case patternLlama3:
		return preLlama3, true
	case patternQwen2:
		return preQwen2, true
	}
	return 0, false
}

// Character classes of the split patterns.
const (
	clsOther  uint8 = iota // [^\s\p{L}\p{N}]
	clsLetter              // \p{L}
	clsNumber              // \p{N}
	clsSpace               // \s (Unicode White_Space)
)

// bmpClasses holds the class of every code point below U+10000; built once,
// read-only afterwards.
var bmpClasses = sync.OnceValue(func() *[65536]uint8 {
	var t [65536]uint8
	for r := rune(0); r < 65536; r++ {
		t[r] = classifyRune(r)
	}
	return &t
})

func isWhiteSpace(r rune) bool {
	switch {
	case r >= 0x09 && r <= 0x0D, r == 0x20, r == 0x85, r == 0xA0, r == 0x1680,
		r >= 0x2000 && r <= 0x200A, r == 0x2028, r == 0x2029, r == 0x202F, r == 0x205F, r == 0x3000:
		return true
	}
	return false
}

func classifyRune(r rune) uint8 {
	switch {
	case isWhiteSpace(r):
		return clsSpace
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	}
	return clsOther
}

// splitter scans valid UTF-8 text into pre-tokens.
type splitter struct {
	kind preKind
	cls  *[65536]uint8
}

func newSplitter(kind preKind) splitter {
	return splitter{kind: kind, cls: bmpClasses()}
}

// at decodes the rune at s[i] and classifies it. s must be valid UTF-8.
func (sp *splitter) at(s string, i int) (rune, int, uint8) {
	if b := s[i]; b < utf8.RuneSelf {
		return rune(b), 1, sp.cls[b]
	}
	r, w := utf8.DecodeRuneInString(s[i:])
	if r < 65536 {
		return r, w, sp.cls[r]
	}
	return r, w, classifyRune(r)
}

// scan advances from i over runes of class c and returns the end offset.
func (sp *splitter) scan(s string, i int, c uint8) int {
	for i < len(s) {
		_, w, ci := sp.at(s, i)
		if ci != c {
			break
		}
		i += w
	}
	return i
}

// contraction returns the length of a contraction suffix ('s 't 're 've 'm
// 'll 'd) starting at s[i] (just after the apostrophe), or 0.
func contraction(s string, i int, foldCase bool) int {
	if i >= len(s) {
		return 0
	}
	lower := func(b byte) byte {
		if foldCase && b >= 'A' && b <= 'Z' {
			return b + 32
		}
		return b
	}
	switch lower(s[i]) {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v':
		if i+1 < len(s) && lower(s[i+1]) == 'e' {
			return 2
		}
	case 'l':
		if i+1 < len(s) && lower(s[i+1]) == 'l' {
			return 2
		}
	}
	return 0
}

// split appends the end offsets of the pre-tokens of s (valid UTF-8) to ends.
func (sp *splitter) split(s string, ends []int) []int {
	if sp.kind == preGPT2 {
		return sp.splitGPT2(s, ends)
	}
	maxDigits := 3
	if sp.kind == preQwen2 {
		maxDigits = 1
	}
	return sp.splitLlama3(s, ends, maxDigits)
}

// splitLlama3 implements
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}|
//	 ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// (the Llama 3 pattern; with maxDigits 1 the Qwen2 pattern).
func (sp *splitter) splitLlama3(s string, ends []int, maxDigits int) []int {
	i := 0
	for i < len(s) {
		r, w, c := sp.at(s, i)
		// (?i:'s|'t|'re|'ve|'m|'ll|'d)
		if r == '\'' {
			if n := contraction(s, i+1, true); n > 0 {
				i += 1 + n
				ends = append(ends, i)
				continue
			}
		}
		// [^\r\n\p{L}\p{N}]?\p{L}+
		if c == clsLetter {
			i = sp.scan(s, i+w, clsLetter)
			ends = append(ends, i)
			continue
		}
		if c != clsNumber && r != '\r' && r != '\n' && i+w < len(s) {
			if _, w2, c2 := sp.at(s, i+w); c2 == clsLetter {
				i = sp.scan(s, i+w+w2, clsLetter)
				ends = append(ends, i)
				continue
			}
		}
		// \p{N}{1,maxDigits}
		if c == clsNumber {
			i += w
			for k := 1; k < maxDigits && i < len(s); k++ {
				_, w2, c2 := sp.at(s, i)
				if c2 != clsNumber {
					break
				}
				i += w2
			}
			ends = append(ends, i)
			continue
		}
		//  ?[^\s\p{L}\p{N}]+[\r\n]*
		j := i
		if r == ' ' {
			j++
		}
		if j < len(s) {
			if _, w2, c2 := sp.at(s, j); c2 == clsOther {
				j = sp.scan(s, j+w2, clsOther)
				for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
					j++
				}
				i = j
				ends = append(ends, i)
				continue
			}
		}
		// Here c == clsSpace.
		end, afterNL, lastStart := sp.spaceRun(s, i)
		switch {
		case afterNL >= 0: // \s*[\r\n]+
			i = afterNL
		case end == len(s) || lastStart == i: // \s+(?!\S) to the end, or \s+
			i = end
		default: // \s+(?!\S): leave the last space to the next token
			i = lastStart
		}
		ends = append(ends, i)
	}
	return ends
}

// spaceRun finds the maximal whitespace run from i: its end, the end of its
// last CR/LF (-1 without one) and the start of its last rune.
func (sp *splitter) spaceRun(s string, i int) (end, afterNL, lastStart int) {
	end, afterNL, lastStart = i, -1, i
	for end < len(s) {
		r, w, c := sp.at(s, end)
		if c != clsSpace {
			break
		}
		lastStart = end
		end += w
		if r == '\r' || r == '\n' {
			afterNL = end
		}
	}
	return end, afterNL, lastStart
}

// splitGPT2 implements 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func (sp *splitter) splitGPT2(s string, ends []int) []int {
	i := 0
	for i < len(s) {
		r, w, c := sp.at(s, i)
		if r == '\'' {
			if n := contraction(s, i+1, false); n > 0 {
				i += 1 + n
				ends = append(ends, i)
				continue
			}
		}
		j, cj := i, c
		if r == ' ' && i+1 < len(s) {
			// ' ?' followed by a letter, number or other character.
			if _, w2, c2 := sp.at(s, i+1); c2 != clsSpace {
				j, w, cj = i+1, w2, c2
			}
		}
		if cj != clsSpace {
			i = sp.scan(s, j+w, cj)
			ends = append(ends, i)
			continue
		}
		end, _, lastStart := sp.spaceRun(s, i)
		if end == len(s) || lastStart == i {
			i = end
		} else {
			i = lastStart
		}
		ends = append(ends, i)
	}
	return ends
}
