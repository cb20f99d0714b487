package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/tokenizer/tokenizertest"
)

// TestSplitBehaviors checks Split's five behaviors on Hugging Face's own
// documented example (tokenizers' SplitDelimiterBehavior docs: "-" in
// "the-final--countdown").
func TestSplitBehaviors(t *testing.T) {
	for _, c := range []struct {
		behavior string
		want     []string
	}{
		{"Removed", []string{"the", "final", "countdown"}},
		{"Isolated", []string{"the", "-", "final", "-", "-", "countdown"}},
		{"MergedWithPrevious", []string{"the-", "final-", "-", "countdown"}},
		{"MergedWithNext", []string{"the", "-final", "-", "-countdown"}},
		{"Contiguous", []string{"the", "-", "final", "--", "countdown"}},
	} {
		for _, pattern := range []string{`{"String": "-"}`, `{"Regex": "-"}`} {
			raw := `{"type": "Split", "pattern": ` + pattern + `, "behavior": "` + c.behavior + `", "invert": false}`
			got := preTokenizeWith(t, raw, "the-final--countdown")
			if !slices.Equal(got, c.want) {
				t.Errorf("%s %s: got %q, want %q", c.behavior, pattern, got, c.want)
			}
		}
	}
	// invert: the matches are the pieces, the gaps the delimiters.
	got := preTokenizeWith(t, `{"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Removed", "invert": true}`, "Hey, friend!")
	if want := []string{"Hey", "friend"}; !slices.Equal(got, want) {
		t.Errorf("Removed inverted: got %q, want %q", got, want)
	}
}

// TestPreTokenizerComponents checks Digits and Metaspace on the examples of
// Hugging Face's pre-tokenizer documentation, and a lookahead regex Go's
// RE2 cannot compile.
func TestPreTokenizerComponents(t *testing.T) {
	for _, c := range []struct {
		raw, in string
		want    []string
	}{
		{`{"type": "Digits", "individual_digits": false}`, "Call 123 please", []string{"Call ", "123", " please"}},
		{`{"type": "Digits", "individual_digits": true}`, "Call 123 please", []string{"Call ", "1", "2", "3", " please"}},
		{`{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}`, "Hey friend!", []string{"▁Hey", "▁friend!"}},
		{`{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": false}`, "Hey friend!", []string{"Hey▁friend!"}},
		{`{"type": "Split", "pattern": {"Regex": "\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false}`, "a   b", []string{"a", "  ", " ", "b"}},
		{`{"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}]}`,
			"x42 yz", []string{"x", "4", "2", " yz"}},
	} {
		if got := preTokenizeWith(t, c.raw, c.in); !slices.Equal(got, c.want) {
			t.Errorf("%s on %q: got %q, want %q", c.raw, c.in, got, c.want)
		}
	}
}

func preTokenizeWith(t *testing.T, raw, text string) []string {
	t.Helper()
	var info preInfo
	steps, err := parsePreTokenizers(json.RawMessage(raw), "pre_tokenizer", &info)
	if err != nil {
		t.Fatal(err)
	}
	pieces := []string{text}
	for _, s := range steps {
		pieces = s.apply(pieces, true)
	}
	return pieces
}

// TestUnsupportedComponentErrors checks that an unsupported component is
// refused with its type and JSON path.
func TestUnsupportedComponentErrors(t *testing.T) {
	base := tinyTokenizerJSON(t)
	for _, c := range []struct {
		key, raw string
		want     []string
	}{
		{"normalizer", `{"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "BertNormalizer"}]}`, []string{"normalizer.normalizers[1]", `"BertNormalizer"`}},
		{"pre_tokenizer", `{"type": "Sequence", "pretokenizers": [{"type": "Digits"}, {"type": "Whitespace"}]}`, []string{"pre_tokenizer.pretokenizers[1]", `"Whitespace"`}},
		{"pre_tokenizer", `{"type": "Split", "pattern": {"Regex": "(?<x"}, "behavior": "Isolated"}`, []string{"pre_tokenizer.pattern.Regex"}},
		{"pre_tokenizer", `{"type": "Split", "pattern": {"String": "x"}, "behavior": "Sideways"}`, []string{"pre_tokenizer.behavior", `"Sideways"`}},
		{"decoder", `{"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "WordPiece"}]}`, []string{"decoder.decoders[1]", `"WordPiece"`}},
	} {
		var f map[string]any
		if err := json.Unmarshal(base, &f); err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal([]byte(c.raw), &v); err != nil {
			t.Fatal(err)
		}
		f[c.key] = v
		data, _ := json.Marshal(f)
		_, err := Parse(data, "bad.json")
		if err == nil {
			t.Errorf("%s %s: no error", c.key, c.raw)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %s: error %q lacks %q", c.key, c.raw, err, w)
			}
		}
	}
}

// tinyTokenizerJSON is a trained byte-level tokenizer as tokenizer.json.
func tinyTokenizerJSON(t *testing.T) []byte {
	t.Helper()
	tok := trainSmall(t, PreLlama3, 300)
	data, err := tok.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestCharLevelBPE checks a SentencePiece-style vocabulary built here:
// characters outside it fall back to <0xXX> bytes (or the fused unknown
// token without byte_fallback), merges apply over characters, and the
// decoder chain (Replace, ByteFallback, Fuse, Strip) restores the text.
func TestCharLevelBPE(t *testing.T) {
	vocab := map[string]int{"<unk>": 0, "▁": 1, "a": 2, "b": 3, "▁a": 4, "▁ab": 5, "é": 6}
	for b := 0; b < 256; b++ {
		vocab[fmt.Sprintf("<0x%02X>", b)] = 7 + b
	}
	file := func(byteFallback bool) []byte {
		f := map[string]any{
			"added_tokens": []any{map[string]any{"id": 0, "content": "<unk>", "special": true}},
			"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
				map[string]any{"type": "Prepend", "prepend": "▁"},
				map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"}}},
			"pre_tokenizer": nil,
			"decoder": map[string]any{"type": "Sequence", "decoders": []any{
				map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
				map[string]any{"type": "ByteFallback"}, map[string]any{"type": "Fuse"},
				map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0}}},
			"model": map[string]any{"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": byteFallback,
				"vocab": vocab, "merges": []string{"▁ a", "▁a b"}},
		}
		data, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	tok, err := Parse(file(true), "spm.json")
	if err != nil {
		t.Fatal(err)
	}
	// "ab aé→" → "▁ab▁aé→": ▁ab, ▁a, é, then → (E2 86 92) as bytes.
	got := tok.Encode("ab aé→")
	want := []int32{5, 4, 6, 7 + 0xE2, 7 + 0x86, 7 + 0x92}
	if !slices.Equal(got, want) {
		t.Errorf("encode: got %v, want %v", got, want)
	}
	if d := string(tok.Decode(got)); d != "ab aé→" {
		t.Errorf("decode: %q", d)
	}
	if b, _ := tok.TokenBytes(5); string(b) != " ab" {
		t.Errorf("TokenBytes(▁ab) = %q, want \" ab\"", b)
	}
	if id, ok := tok.IDForBytes([]byte(" ab")); !ok || id != 5 {
		t.Errorf("IDForBytes(\" ab\") = %d, %v", id, ok)
	}
	noFallback, err := Parse(file(false), "spm.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := noFallback.Encode("a→→b"); !slices.Equal(got, []int32{4, 0, 3}) {
		t.Errorf("fused unk: got %v, want [4 0 3]", got)
	}
}

// TestFastPathsEqualGeneralPath proves the hand-written split scanners
// identical to the general pipeline (the same regex run by regexp2) on the
// parity corpus: each real tokenizer is loaded once as shipped (fast path)
// and once with its pattern wrapped in (?:…), which no fast path recognises.
func TestFastPathsEqualGeneralPath(t *testing.T) {
	if testing.Short() {
		t.Skip("loads real tokenizers twice and encodes 1 MB with each: not in -short")
	}
	chunks := tokenizertest.ParityCorpus(2, parityCorpusBytes)
	for _, model := range []string{"llama3", "qwen3", "gpt35turbo", "claude"} {
		t.Run(model, func(t *testing.T) {
			fast := loadLenml(t, model)
			general := loadGeneral(t, model)
			if fast.gen != nil || general.gen == nil {
				t.Fatalf("fast path %v, general path %v", fast.gen == nil, general.gen != nil)
			}
			for i, c := range chunks {
				a, b := fast.Encode(string(c)), general.Encode(string(c))
				if !slices.Equal(a, b) {
					t.Fatalf("chunk %d: fast %v\ngeneral %v", i, pieces(fast, a), pieces(general, b))
				}
			}
		})
	}
}

// loadGeneral loads an @lenml tokenizer with its split regex wrapped in a
// non-capturing group (claude: its ByteLevel regex spelled out as a Split),
// so that it runs through the general pipeline.
func loadGeneral(t testing.TB, model string) *Tokenizer {
	t.Helper()
	jsonPath, configPath := lenmlModel(t, model)
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]json.RawMessage
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	var pre map[string]any
	if err := json.Unmarshal(f["pre_tokenizer"], &pre); err != nil {
		t.Fatal(err)
	}
	if pre["type"] == "ByteLevel" {
		pre = map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "(?:" + patternGPT2 + ")"}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}}}
	} else {
		split := pre["pretokenizers"].([]any)[0].(map[string]any)
		pattern := split["pattern"].(map[string]any)
		pattern["Regex"] = "(?:" + pattern["Regex"].(string) + ")"
	}
	if f["pre_tokenizer"], err = json.Marshal(pre); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ParseWithConfig(out, cfg, model+"-general")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestSaveLoadGeneralTokenizers saves real general-path tokenizers and
// loads them back: same hash, same ids, same decoding.
func TestSaveLoadGeneralTokenizers(t *testing.T) {
	if testing.Short() {
		t.Skip("loads real tokenizers: not in -short")
	}
	text := string(tokenizertest.ParityCorpus(3, 64<<10)[0])
	for _, model := range []string{"llama2", "gptoss"} {
		t.Run(model, func(t *testing.T) {
			a := loadLenml(t, model)
			b := saveLoad(t, a)
			if a.Hash() != b.Hash() {
				t.Errorf("hash %s after a round trip, was %s", b.Hash(), a.Hash())
			}
			ia, ib := a.Encode(text), b.Encode(text)
			if !slices.Equal(ia, ib) {
				t.Errorf("ids differ after a round trip")
			}
			if string(a.Decode(ia)) != string(b.Decode(ib)) {
				t.Errorf("decoding differs after a round trip")
			}
		})
	}
}

// TestGGUFGeneralPreTokenizers converts real tokenizers whose pre-tokenizer
// only the general pipeline runs to GGUF vocabulary arrays (named as
// llama.cpp names them) and back: the ids stay the same on the corpus.
func TestGGUFGeneralPreTokenizers(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a real tokenizer: not in -short")
	}
	tok := loadLenml(t, "gptoss")
	if err := tok.GGUFCompatible(); err != nil {
		t.Errorf("gptoss: %v", err)
	}
	if err := loadLenml(t, "llama2").GGUFCompatible(); err != nil {
		t.Errorf("llama2 (SentencePiece form, a \"llama\" GGUF vocabulary): GGUFCompatible %v", err)
	}
	if err := loadLenml(t, "gemma3").GGUFCompatible(); err == nil || !strings.Contains(err.Error(), "text vocabulary") {
		t.Errorf("gemma3 (text vocabulary split on spaces): GGUFCompatible %v", err)
	}
	v := tok.GGUFVocab()
	if v.Pre != "gpt-4o" {
		t.Fatalf("gptoss pre %q, want gpt-4o (llama.cpp's name)", v.Pre)
	}
	back, err := FromGGUFVocab(v)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range tokenizertest.ParityCorpus(4, 256<<10) {
		a, b := tok.Encode(string(c)), back.Encode(string(c))
		if !slices.Equal(a, b) {
			t.Fatalf("chunk %d: tokenizer.json %v\nGGUF %v", i, pieces(tok, a), pieces(back, b))
		}
	}
	v.Pre = "no-such-pre"
	if _, err := FromGGUFVocab(v); err == nil || !strings.Contains(err.Error(), "smollm") {
		t.Errorf("unknown pre: error %v, want the supported names listed", err)
	}
}

// TestGGUFSmolLMPreTokenizer builds a tokenizer from GGUF arrays named
// "smollm" (single digits, then GPT-2's split) and checks the split.
func TestGGUFSmolLMPreTokenizer(t *testing.T) {
	base := trainSmall(t, PreGPT2, 300)
	v := base.GGUFVocab()
	v.Pre = "smollm"
	tok, err := FromGGUFVocab(v)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Pre() != "smollm" {
		t.Errorf("Pre() = %q, want smollm", tok.Pre())
	}
	var want []int32
	for _, piece := range []string{"x", "4", "2", "1", " yz", "7"} {
		want = append(want, base.Encode(piece)...)
	}
	if got := tok.Encode("x421 yz7"); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", pieces(tok, got), pieces(tok, want))
	}
}

// TestNormalizerName checks Normalizer() names a general pipeline's steps.
func TestNormalizerName(t *testing.T) {
	steps, err := parseNormalizers(json.RawMessage(`{"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "NFKC"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}`), "normalizer")
	if err != nil {
		t.Fatal(err)
	}
	if got := describeNormalizers(steps); got != "Prepend+NFKC+Replace" {
		t.Errorf("got %q", got)
	}
}

// TestDecoderComponents checks decoders on Hugging Face's documented
// behaviour: Metaspace drops the first token's prefix space (not with
// prepend_scheme "never"); ByteFallback joins a run of <0xXX> tokens into
// its bytes; Strip removes up to start/stop copies of its character.
func TestDecoderComponents(t *testing.T) {
	for _, c := range []struct {
		raw    string
		tokens []string
		want   string
	}{
		{`{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}`, []string{"▁Hey", "▁friend!"}, "Hey friend!"},
		{`{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": true}`, []string{"▁Hey", "▁friend!"}, " Hey friend!"},
		{`{"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]}`, []string{"a", "<0xE2>", "<0x86>", "<0x92>", "b", "<0x0A>"}, "a→b\n"},
		{`{"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 2}]}`, []string{"  a", " ", " "}, " a"},
		{`{"type": "Replace", "pattern": {"Regex": "▁+"}, "content": " "}`, []string{"▁▁a▁b"}, " a b"},
	} {
		steps, err := parseDecoders(json.RawMessage(c.raw), "decoder")
		if err != nil {
			t.Fatal(err)
		}
		tok := &Tokenizer{decoders: steps}
		if got := string(tok.runDecoders(c.tokens, false)); got != c.want {
			t.Errorf("%s on %q: got %q, want %q", c.raw, c.tokens, got, c.want)
		}
	}
}
