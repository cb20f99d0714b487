package tokenizer

import "testing"

func TestByteLevelTableIsGPT2s(t *testing.T) {
	// GPT-2's bytes_to_unicode: space is Ġ, newline Ċ, '!' itself, 0xAD (soft hyphen) Ń.
	for b, want := range map[byte]rune{' ': 'Ġ', '\n': 'Ċ', '!': '!', 0xAD: 'Ń', 0: 'Ā'} {
		if got := ByteLevelRune(b); got != want {
			t.Errorf("ByteLevelRune(%#x) = %q, want %q", b, got, want)
		}
	}
	for b := 0; b < 256; b++ {
		if got, ok := ByteLevelByte(ByteLevelRune(byte(b))); !ok || got != byte(b) {
			t.Fatalf("ByteLevelByte(ByteLevelRune(%#x)) = %#x, %v", b, got, ok)
		}
	}
	if _, ok := ByteLevelByte(' '); ok {
		t.Error("a space is not in the byte-level alphabet")
	}
}
