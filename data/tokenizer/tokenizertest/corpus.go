// Package tokenizertest holds test data for tokenizers: ParityCorpus, the
// deterministic text the parity checks against Hugging Face's and
// llama.cpp's tokenizers and the tokenizer benchmarks run on. Only tests
// and benchmark commands import it.
package tokenizertest

import (
	"math/rand/v2"
	"strings"
	"unicode/utf8"
)

// ParityCorpus deterministically generates at least minBytes of test text
// for tokenizer parity checks and benchmarks, as documents of 100 bytes to
// 6 KB: prose with contractions, source code, emoji (modifiers, ZWJ
// sequences, flags, keycaps), CJK and Hangul, accented Latin in composed and
// decomposed forms, whitespace runs (tabs, CRLF, NBSP, ideographic space,
// trailing spaces), digits in many scripts, mixed scripts with combining
// marks, right-to-left text (Arabic, Hebrew, bidi controls), special-token strings (whole and partial), and invalid UTF-8
// (stray continuation bytes, truncated, overlong and surrogate sequences,
// bytes 0xF5-0xFF).
//
// It uses only characters assigned in Unicode 15.0 (Go's tables; newer
// letters would be classified differently by newer engines) and avoids
// U+0085 and U+FEFF, the two code points on which JavaScript's \s differs
// from Unicode White_Space.
func ParityCorpus(seed uint64, minBytes int) [][]byte {
	g := &corpusGen{r: rand.New(rand.NewPCG(seed, 0x746f6b656e697a65))}
	var docs [][]byte
	total := 0
	for total < minBytes {
		target := 100 + g.r.IntN(6000)
		var b strings.Builder
		for b.Len() < target {
			g.paragraph(&b)
		}
		docs = append(docs, []byte(b.String()))
		total += b.Len()
	}
	return docs
}

type corpusGen struct{ r *rand.Rand }

func (g *corpusGen) pick(list []string) string { return list[g.r.IntN(len(list))] }

// runeFrom returns a random rune from [lo, hi].
func (g *corpusGen) runeFrom(lo, hi rune) rune { return lo + rune(g.r.IntN(int(hi-lo+1))) }

var (
	corpusWords = []string{"the", "policy", "scanner", "battery", "is", "not", "covered", "by", "warranty", "replace",
		"within", "days", "of", "notice", "and", "a", "to", "device", "fleet", "maintenance", "section", "paragraph",
		"Hello", "World", "API", "HTTPServer", "JSON", "iPhone", "eBay", "McDonald", "NASA", "x", "I", "O'Brien",
		"rock'n'roll", "e-mail", "naïve", "café", "coöperate", "Straße", "résumé", "Ελλάδα", "Москва", "東京"}
	contractions = []string{"don't", "it's", "we're", "they've", "I'm", "you'll", "he'd", "DON'T", "IT'S", "WE'RE",
		"They'VE", "I'M", "YOU'LL", "She'D", "'s", "'S", "'t", "'re", "'Re", "'rE", "'ll", "'lL", "'d", "'x", "''",
		"'", "it’s", "rock 'n' roll", "'twas", "' s", "'\n", "'1"}
	codeSnippets = []string{
		"func main() {\n\tfmt.Println(\"hello, world\")\n}\n",
		"for i := 0; i < len(xs); i++ {\n\t\tif xs[i] == nil { continue }\n\t}\n",
		"def forward(self, x):\n    return self.proj(x) @ self.w.T  # [batch, seq, d]\n",
		"if (a !== b && c >= 0x1F) { return a ?? b; } // TODO(fix)\n",
		"#include <stdio.h>\nint main(void){printf(\"%d\\n\", 42);return 0;}\r\n",
		"SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;\n",
		"    \n    x = [1, 2, 3]\n\n\n    y = {'a': 1, \"b\": 2}\n",
		"<div class=\"x\">&nbsp;&lt;tag&gt;</div>\n",
		"$ ls -la /tmp && echo $HOME | grep -E '^/home'\n",
		"    }\r\n  }\r\n}\r\n",
		"let s = `template ${x + 1}`;;;\n=== --- +++ *** ///\n",
		"\t\t\treturn nil, fmt.Errorf(\"read shard %s row %d: %w\", name, i, err)\n",
		"x=1;y=2;z=x**y//3%4\n",
		"@decorator\nclass Foo(Base):\n\t'''doc'''\n\tpass\n",
	}
	emoji = []string{"😀", "😂", "🥲", "👍", "👍🏽", "👍🏿", "👨‍👩‍👧‍👦", "🧑‍💻", "🏳️‍🌈", "🇫🇷", "🇯🇵", "🇺🇸",
		"1️⃣", "#️⃣", "❤️", "✨", "🔥🔥🔥", "🚀", "☕", "🤖", "👀", "🎉🎉", "⚠️", "✅", "🙏🏻"}
	cjk = []string{"我们今天去北京。", "这是一个测试，包含标点符号！", "東京都渋谷区", "ひらがなとカタカナ、漢字。",
		"日本語の文章です。", "한국어 문장입니다.", "안녕하세요, 세계!", "中文English混合123测试",
		"ＡＢＣ１２３全角", "「引用」『二重』【括弧】", "〇一二三四五六七八九十", "你好　世界"}
	accents = []string{"Ça va très bien, merci.", "Über die Brücke gehen wir.", "¿Dónde está la estación?",
		"Việt Nam có nhiều phở ngon.", "Zażółć gęślą jaźń.", "Příliš žluťoučký kůň.", "İstanbul ılık ışık",
		"e\u0301le\u0300ve", "A\u030angstro\u0308m", "\u212b\u2126\u0340", "n\u0303o\u0302", "Ǆemal ǅ ǆ",
		"ﬁnance ﬂow", "\uf900\ufa0d\uf9a8", "\u1100\u1161\u11a8\u1112\u1175", "x\u0323\u0307y\u0307\u0323"}
	whitespace = []string{" ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r\n\r\n",
		" \n", "  \n", "\t\n", " \n ", "\n    ", "\n\t", "\u00a0", "\u3000", "\u2003", " \u00a0 ", "\v", "\f",
		"\r", "          ", " \t \t", "\u2028", "\u202f", "\n \n \n"}
	specialStrings = []string{"<|im_start|>", "<|im_end|>", "<|im_start|>user\n", "<|im_start|>assistant\n",
		"<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|endoftext|>", "<|start_header_id|>",
		"<|end_header_id|>", "<|reserved_special_token_5|>", "<think>", "</think>", "<tool_call>",
		"<|im_sta", "<|im_end", "<|", "|>", "<<|im_end|>>", "<|im_end|><|im_start|>", " <|eot_id|> ",
		"<|pad|>", "<|fim_prefix|>", "<|unknown_token|>",
		// Llama 2, Gemma, gpt-oss and Claude specials, whole and in text.
		"<s>", "</s>", "<unk>", " <s> ", "<s>[INST] ", "<bos>", "<eos>", "<start_of_turn>user\n", "<end_of_turn>\n",
		"<|startoftext|>", "<|return|>", "<|start|>assistant<|channel|>final<|message|>", "<EOT>", "<mask>"}
	// Right-to-left scripts, with bidi controls, Arabic-Indic digits and
	// harakat (combining marks).
	rtl = []string{"مرحبا بالعالم", "السَّلَامُ عَلَيْكُمْ", "العدد ١٢٣٤٥ والرقم 678", "שלום עולם", "עִבְרִית עם ניקוד",
		"‫مقلوب‬", "‏טקסט‎ mixed English", "ایران ۱۴۰۲", "اردو زبان", "ܫܠܡܐ"}
	invalidUTF8 = []string{"\x80", "\xbf", "\xc0\xaf", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xed\xa0\x80",
		"\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5", "\xfe", "\xff", "\xe0\x80\xaf", "\xc1\xbf", "\xff\xfe",
		"\x80\x80\x80", "\xf8\x88\x80\x80\x80"}
	digitStrings = []string{"0", "7", "42", "123", "1234", "12345", "1234567890123", "3.14159", "1,000,000",
		"2024-01-15", "+1 (555) 010-9999", "v1.2.3", "0x1F", "1e-9", "²³", "½¼", "Ⅻ", "ⅷ", "٠١٢٣٤٥",
		"०१२३", "１２３４", "①②", "⑩", "𝟘𝟙𝟚", "12ab34", "a1b2c3", "99%", "$19.99", "€5"}
)

// letterRanges are blocks fully assigned in Unicode 15.0.
var letterRanges = [][2]rune{
	{0x0100, 0x017F}, {0x0391, 0x03A1}, {0x03B1, 0x03C9}, {0x0410, 0x044F}, {0x05D0, 0x05EA},
	{0x0627, 0x063A}, {0x0641, 0x064A}, {0x0905, 0x0939}, {0x0E01, 0x0E2E}, {0x10D0, 0x10F0},
	{0x0531, 0x0556}, {0x3041, 0x3096}, {0x30A1, 0x30FA}, {0x4E00, 0x9FA5}, {0xAC00, 0xD7A3},
	{0x1D400, 0x1D454}, {0x1D49E, 0x1D49F},
}

var symbolRanges = [][2]rune{
	{0x2190, 0x21FF}, {0x2200, 0x22FF}, {0x2500, 0x257F}, {0x1F300, 0x1F5FF}, {0x1F600, 0x1F64F},
	{0x0300, 0x036F}, {0x064B, 0x0652}, {0x093E, 0x094D}, {0x0021, 0x002F}, {0x2010, 0x2027},
	{0x0001, 0x0008}, {0x000E, 0x001F}, {0x0080, 0x0084}, {0x0086, 0x009F}, {0x200B, 0x200F},
}

func (g *corpusGen) randomRunes(b *strings.Builder, ranges [][2]rune, n int) {
	for i := 0; i < n; i++ {
		rg := ranges[g.r.IntN(len(ranges))]
		b.WriteRune(g.runeFrom(rg[0], rg[1]))
	}
}

func (g *corpusGen) sentence(b *strings.Builder) {
	n := 3 + g.r.IntN(12)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(g.pick([]string{" ", " ", " ", " ", ", ", "  ", " - ", "; "}))
		}
		switch g.r.IntN(10) {
		case 0:
			b.WriteString(g.pick(contractions))
		case 1:
			b.WriteString(g.pick(digitStrings))
		default:
			w := g.pick(corpusWords)
			if g.r.IntN(8) == 0 {
				w = strings.ToUpper(w)
			}
			b.WriteString(w)
		}
	}
	b.WriteString(g.pick([]string{".", "!", "?", "...", ":", "", ".\"", ")."}))
}

// paragraph appends one randomly chosen kind of content.
func (g *corpusGen) paragraph(b *strings.Builder) {
	switch g.r.IntN(13) {
	case 0, 1:
		for k := 1 + g.r.IntN(4); k > 0; k-- {
			g.sentence(b)
			b.WriteString(g.pick([]string{" ", "  ", "\n", " "}))
		}
	case 2:
		b.WriteString(g.pick(codeSnippets))
	case 3:
		for k := 1 + g.r.IntN(6); k > 0; k-- {
			b.WriteString(g.pick(emoji))
			b.WriteString(g.pick([]string{"", " ", "ok", "!", "\n", "  "}))
		}
	case 4:
		b.WriteString(g.pick(cjk))
	case 5:
		b.WriteString(g.pick(accents))
		b.WriteString(" ")
	case 6:
		b.WriteString(g.pick(corpusWords))
		for k := 1 + g.r.IntN(3); k > 0; k-- {
			b.WriteString(g.pick(whitespace))
		}
		b.WriteString(g.pick(corpusWords))
	case 7:
		for k := 1 + g.r.IntN(5); k > 0; k-- {
			b.WriteString(g.pick(digitStrings))
			b.WriteString(g.pick([]string{" ", "", "x", "\n", ", ", " + "}))
		}
	case 8:
		g.randomRunes(b, letterRanges, 1+g.r.IntN(12))
		b.WriteString(g.pick([]string{" ", "", "\n"}))
		if g.r.IntN(2) == 0 {
			g.randomRunes(b, symbolRanges, 1+g.r.IntN(4))
		}
	case 9:
		b.WriteString(g.pick(specialStrings))
		if g.r.IntN(2) == 0 {
			g.sentence(b)
		}
	case 10:
		// Invalid UTF-8 inside and between words.
		w := g.pick(corpusWords)
		cut := g.r.IntN(len(w) + 1)
		for cut < len(w) && !utf8.RuneStart(w[cut]) {
			cut++
		}
		b.WriteString(w[:cut])
		b.WriteString(g.pick(invalidUTF8))
		b.WriteString(w[cut:])
		b.WriteString(g.pick([]string{" ", "", "\u0301", "\n", "<|im_end|>"}))
	case 11:
		// Long runs: letters, spaces, digits, punctuation.
		unit := g.pick([]string{"a", " ", "9", "=", "ab", "\t", "-", "é", "中"})
		b.WriteString(strings.Repeat(unit, 1+g.r.IntN(300)))
		b.WriteString(g.pick([]string{"x", " ", "\n", ""}))
	case 12:
		b.WriteString(g.pick(rtl))
		b.WriteString(g.pick([]string{" ", ". ", "\n", "، "}))
	}
}
