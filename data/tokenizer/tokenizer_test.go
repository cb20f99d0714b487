package tokenizer

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"golang.org/x/text/unicode/norm"

	"github.com/distill-ml/distill/data/tokenizer/tokenizertest"
)

// loadedLenml caches the real tokenizers across tests (they are immutable);
// loading one takes about a second.
var loadedLenml sync.Map

func loadLenml(t testing.TB, model string) *Tokenizer {
	t.Helper()
	if tok, ok := loadedLenml.Load(model); ok {
		return tok.(*Tokenizer)
	}
	jsonPath, _ := lenmlModel(t, model)
	tok, err := Load(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	loadedLenml.Store(model, tok)
	return tok
}

// splitPieces returns the pre-tokens of s under pattern kind.
func splitPieces(kind preKind, s string) []string {
	sp := newSplitter(kind)
	var out []string
	start := 0
	for _, e := range sp.split(s, nil) {
		out = append(out, s[start:e])
		start = e
	}
	return out
}

// TestSplitPatterns pins hand-derived splits of the regexes' tricky cases.
func TestSplitPatterns(t *testing.T) {
	cases := []struct {
		kind preKind
		in   string
		want []string
	}{
		{preLlama3, "Hello world", []string{"Hello", " world"}},
		{preLlama3, "I'LL don't 'Re", []string{"I", "'LL", " don", "'t", " '", "Re"}},
		{preLlama3, "12345 x", []string{"123", "45", " x"}},
		{preQwen2, "12345", []string{"1", "2", "3", "4", "5"}},
		{preLlama3, "a  b", []string{"a", " ", " b"}},
		{preLlama3, "a   \n\n  b", []string{"a", "   \n\n", " ", " b"}},
		{preLlama3, "x\t\t1", []string{"x", "\t", "\t", "1"}},
		{preLlama3, "end  ", []string{"end", "  "}},
		{preLlama3, "(word ...\n\nnext", []string{"(word", " ...\n\n", "next"}},
		{preLlama3, "\u3000中文", []string{"\u3000中文"}},
		{preLlama3, "\n word", []string{"\n", " word"}},
		{preGPT2, "I'LL don't  go 42x", []string{"I", "'", "LL", " don", "'t", " ", " go", " 42", "x"}},
		{preGPT2, "a \n b", []string{"a", " \n", " b"}},
		{preGPT2, "!!! ??", []string{"!!!", " ??"}},
	}
	for _, c := range cases {
		if got := splitPieces(c.kind, c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %q: got %q, want %q", c.kind, c.in, got, c.want)
		}
	}
	// \s is Unicode White_Space (HF tokenizers, llama.cpp), not JavaScript's.
	if classifyRune(0x85) != clsSpace || classifyRune(0xFEFF) != clsOther {
		t.Error("U+0085 must be whitespace and U+FEFF not")
	}
}

// TestBPEImplementationsAgree checks the quadratic scan, the passes and
// the heap give the same merges, on fixed and random words.
func TestBPEImplementationsAgree(t *testing.T) {
	llama := loadLenml(t, "llama3")
	trained := trainSmall(t, PreGPT2, 1500)
	words := []string{"hello", "aaaaaaaaaaaaaaaaaaaaa", strings.Repeat("ab", 40), "中文中文中文", strings.Repeat("=-", 33),
		"xyzzyplughfoobarbaz", strings.Repeat("a", 1000), strings.Repeat(" ", 777)}
	r := rand.New(rand.NewPCG(5, 6))
	alphabets := []string{"ab", "abc", "aeinrst ", "=-_ ", "中文字", "0123456789", "etaoinshrdlucmfwyp"}
	for k := 0; k < 400; k++ {
		alpha := []rune(alphabets[k%len(alphabets)])
		var b strings.Builder
		for n := 1 + r.IntN(600); n > 0; n-- {
			b.WriteRune(alpha[r.IntN(len(alpha))])
		}
		words = append(words, b.String())
	}
	for _, tok := range []*Tokenizer{llama, trained} {
		for _, w := range words {
			a := tok.bpeScan(w, nil, &pairCache{})
			b := tok.bpeHeap(w, nil, &pairCache{})
			c := tok.bpePasses(w, nil, &pairCache{})
			if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a, c) {
				t.Fatalf("%q:\n scan   %v\n heap   %v\n passes %v", head(w, 80), a, b, c)
			}
		}
	}
}

func TestSpecialsFromConfig(t *testing.T) {
	llama := loadLenml(t, "llama3")
	sp := llama.Special()
	if sp.BOS != 128000 || sp.EOS != 128001 || sp.EOT != 128009 || sp.ChatTemplate == "" {
		t.Errorf("llama3 specials %+v", sp)
	}
	qwen := loadLenml(t, "qwen3")
	sp = qwen.Special()
	if sp.BOS != -1 || sp.EOS != 151645 || sp.PAD != 151643 || sp.ImStart != 151644 || sp.ImEnd != 151645 || sp.ChatTemplate == "" {
		t.Errorf("qwen3 specials %+v", sp)
	}
	if qwen.VocabSize() != 151669 || llama.VocabSize() != 128256 {
		t.Errorf("vocab sizes %d %d", qwen.VocabSize(), llama.VocabSize())
	}
	if id, ok := llama.IDForBytes([]byte("<|eot_id|>")); !ok || id != 128009 {
		t.Errorf("IDForBytes(<|eot_id|>) = %d %v", id, ok)
	}
	if b, ok := llama.TokenBytes(128009); !ok || string(b) != "<|eot_id|>" {
		t.Errorf("TokenBytes(128009) = %q", b)
	}
	if _, ok := llama.TokenBytes(-1); ok {
		t.Error("TokenBytes(-1) ok")
	}
	if _, err := llama.DecodeChecked([]int32{1, 999999}); err == nil {
		t.Error("DecodeChecked accepted an id outside the vocabulary")
	}
}

// TestSaveLoadRealTokenizers saves the real Qwen3 and Llama 3 tokenizers,
// reloads them, and checks hash, specials and ids are unchanged.
func TestSaveLoadRealTokenizers(t *testing.T) {
	if testing.Short() {
		t.Skip("round-trips the real Qwen3 and Llama 3 tokenizers: not in -short")
	}
	chunks := tokenizertest.ParityCorpus(5, 64<<10)
	for _, model := range []string{"qwen3", "llama3"} {
		t.Run(model, func(t *testing.T) {
			a := loadLenml(t, model)
			b := saveLoad(t, a)
			if a.Hash() != b.Hash() || a.Special() != b.Special() {
				t.Fatalf("Save→Load changed the tokenizer")
			}
			for _, c := range chunks {
				if !reflect.DeepEqual(a.Encode(string(c)), b.Encode(string(c))) {
					t.Fatalf("ids differ after Save→Load on %q", head(string(c), 80))
				}
			}
		})
	}
}

func TestGGUFVocabRoundTrip(t *testing.T) {
	for _, model := range []string{"llama3", "qwen3", "trained"} {
		t.Run(model, func(t *testing.T) {
			if testing.Short() && model != "trained" {
				t.Skip("round-trips a real tokenizer: not in -short")
			}
			var a *Tokenizer
			if model == "trained" {
				a = trainSmall(t, "", 800)
			} else {
				a = loadLenml(t, model)
			}
			v := a.GGUFVocab()
			wantPre := map[string]string{"llama3": "llama-bpe", "qwen3": "qwen2", "trained": "llama-bpe"}[model]
			if v.Model != "gpt2" || v.Pre != wantPre || len(v.Tokens) != a.VocabSize() || len(v.Types) != len(v.Tokens) {
				t.Fatalf("vocab %s/%s with %d tokens", v.Model, v.Pre, len(v.Tokens))
			}
			if sp := a.Special(); sp.BOS >= 0 && v.Types[sp.BOS] != TypeControl {
				t.Errorf("BOS type %d", v.Types[sp.BOS])
			}
			b, err := FromGGUFVocab(v)
			if err != nil {
				t.Fatal(err)
			}
			if a.normalizer == "" && a.Hash() != b.Hash() {
				t.Fatal("GGUF round trip changed the hash")
			}
			for _, c := range tokenizertest.ParityCorpus(9, 32<<10) {
				s := string(c)
				if a.normalizer == "NFC" {
					s = norm.NFC.String(strings.ToValidUTF8(s, ""))
				}
				if !reflect.DeepEqual(a.Encode(s), b.Encode(s)) {
					t.Fatalf("ids differ after the GGUF round trip on %q", head(s, 80))
				}
			}
		})
	}
	if _, err := FromGGUFVocab(GGUFVocab{Model: "llama", Pre: "llama-bpe"}); err == nil {
		t.Error("accepted tokenizer.ggml.model llama")
	}
	if _, err := FromGGUFVocab(GGUFVocab{Model: "gpt2", Pre: "nope"}); err == nil {
		t.Error("accepted an unknown pre")
	}
}

func TestParseErrors(t *testing.T) {
	good, err := trainSmall(t, "", 300).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(good, "good"); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct{ from, to, want string }{
		"truncated":    {"", "", "parse JSON"},
		"model type":   {`"type": "BPE"`, `"type": "WordPiece"`, "only BPE"},
		"pattern":      {`"Regex": "(?i:'s`, `"Regex": "(?<i:'s`, "pre_tokenizer.pretokenizers[0].pattern.Regex"},
		"merge":        {`"merges": [`, `"merges": [["zz", "qq"],`, "not in vocabulary"},
		"dropout":      {`"dropout": null`, `"dropout": 0.1`, "dropout"},
		"huge id":      {`"<|pad|>", "single_word"`, `"<|pad|>", "id": 2000000000, "single_word"`, "id"},
		"no pre":       {`"pre_tokenizer": {`, `"pre_tokenizer": null, "x": {`, "no ByteLevel pre-tokenizer"},
		"normalizer":   {`"normalizer": null`, `"normalizer": {"type": "BertNormalizer"}`, `normalizer: unsupported normalizer type "BertNormalizer"`},
		"vocab dup id": {`"!": 33`, `"!": 34`, "used twice"},
	}
	for name, c := range cases {
		data := good[:len(good)/2]
		if c.from != "" {
			if !bytes.Contains(good, []byte(c.from)) {
				t.Fatalf("%s: fixture lacks %q", name, c.from)
			}
			data = bytes.Replace(good, []byte(c.from), []byte(c.to), 1)
		}
		_, err := Parse(data, "bad.json")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.json") {
			t.Errorf("%s: error %v, want one naming bad.json and %q", name, err, c.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	good, _ := trainSmall(t, "", 300).MarshalJSON()
	for cfg, want := range map[string]string{
		`{"bos_token": "<|nope|>"}`:            "bos_token",
		`{"eos_token": 5}`:                     "eos_token",
		`{"chat_template": 1}`:                 "chat_template",
		`{"pad_token": {"content": "<|pad|>"}`: "tokenizer_config.json",
	} {
		if _, err := ParseWithConfig(good, []byte(cfg), "cfg.json"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %s: error %v, want one naming %q", cfg, err, want)
		}
	}
	tok, err := ParseWithConfig(good, []byte(`{"bos_token": null, "eos_token": {"content": "<|im_end|>"}, "pad_token": "<|pad|>", "chat_template": [{"name": "tool", "template": "T"}, {"name": "default", "template": "D"}]}`), "cfg.json")
	if err != nil {
		t.Fatal(err)
	}
	if sp := tok.Special(); sp.BOS != -1 || sp.EOS != 299 || sp.PAD != 297 || sp.ChatTemplate != "D" {
		t.Errorf("specials from config: %+v", sp)
	}
}

func TestSaveIsAtomic(t *testing.T) {
	tok := trainSmall(t, "", 300)
	dir := t.TempDir()
	path := filepath.Join(dir, "tokenizer.json")
	if err := tok.Save(path); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("Save left %d files, want tokenizer.json and tokenizer_config.json", len(entries))
	}
	if _, err := os.Stat(ConfigPath(path)); err != nil {
		t.Fatal(err)
	}
	if got := ConfigPath(filepath.Join(dir, "x.json")); got != filepath.Join(dir, "x_config.json") {
		t.Fatalf("ConfigPath(x.json) = %s", got)
	}
	// A missing directory is created (as every distill writer does); a
	// parent that is a regular file is an error.
	if err := tok.Save(filepath.Join(dir, "missing", "tokenizer.json")); err != nil {
		t.Fatalf("Save into a missing directory: %v", err)
	}
	if err := tok.Save(filepath.Join(path, "tokenizer.json")); err == nil {
		t.Fatal("Save under a regular file succeeded")
	}
}

// TestConcurrentEncode: Encode is safe for concurrent use (run with -race),
// on the fast path and on the general pipeline (a regexp2 Split, Digits).
func TestConcurrentEncode(t *testing.T) {
	fast := trainSmall(t, "", 500)
	general := generalVariant(t, fast)
	for _, tok := range []*Tokenizer{fast, general} {
		encodeConcurrently(t, tok)
	}
}

// generalVariant is a trained llama-bpe tokenizer changed so that only the
// general pipeline runs it: single digits first, and its split regex with a
// different (?i:…) group.
func generalVariant(t testing.TB, tok *Tokenizer) *Tokenizer {
	t.Helper()
	data, _ := tok.MarshalJSON()
	data = bytes.Replace(data, []byte(`"pretokenizers": [`), []byte(`"pretokenizers": [{"type": "Digits", "individual_digits": true}, `), 1)
	data = bytes.Replace(data, []byte(`"Regex": "(?i:'s`), []byte(`"Regex": "(?:'s`), 1)
	general, err := Parse(data, "general.json")
	if err != nil {
		t.Fatal(err)
	}
	if general.gen == nil {
		t.Fatal("the modified tokenizer is not on the general path")
	}
	return general
}

func encodeConcurrently(t *testing.T, tok *Tokenizer) {
	chunks := tokenizertest.ParityCorpus(8, 64<<10)
	want := make([][]int32, len(chunks))
	for i, c := range chunks {
		want[i] = tok.Encode(string(c))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := range chunks {
				i := (k + g*7) % len(chunks)
				if !reflect.DeepEqual(tok.Encode(string(chunks[i])), want[i]) {
					errs <- "concurrent Encode differs"
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// TestAddedTokenOptions checks lstrip, rstrip and single_word matching
// (Hugging Face AddedToken semantics) on a hand-made tokenizer.json.
func TestAddedTokenOptions(t *testing.T) {
	base := trainSmall(t, "", 300)
	data, _ := base.MarshalJSON()
	extra := `{"id": 300, "content": "[L]", "single_word": false, "lstrip": true, "rstrip": false, "normalized": false, "special": true},
    {"id": 301, "content": "[R]", "single_word": false, "lstrip": false, "rstrip": true, "normalized": false, "special": true},
    {"id": 302, "content": "cat", "single_word": true, "lstrip": false, "rstrip": false, "normalized": false, "special": false},
    {"id": 295,`
	data = bytes.Replace(data, []byte(`{"id": 295,`), []byte(extra), 1)
	tok, err := Parse(data, "options.json")
	if err != nil {
		t.Fatal(err)
	}
	enc := func(s string) []int32 { return tok.Encode(s) }
	plain := func(s string) []int32 { return base.Encode(s) }
	cases := []struct {
		in   string
		want []int32
	}{
		{"a  [L]b", append(append(plain("a"), 300), plain("b")...)},
		{"a[R]  \n b", append(append(plain("a"), 301), plain("b")...)},
		{"a cat b", append(append(plain("a "), 302), plain(" b")...)},
		{"concatenate", plain("concatenate")},
	}
	for _, c := range cases {
		if got := enc(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %v want %v", c.in, got, c.want)
		}
	}
	if tok.TokenType(302) != TypeUserDefined || tok.TokenType(300) != TypeControl {
		t.Error("token types of added tokens")
	}
}

// TestDuplicateMergeLastWins: a pair listed twice takes its later rank, as
// Hugging Face tokenizers and transformers.js build their rank maps.
func TestDuplicateMergeLastWins(t *testing.T) {
	s := &spec{pre: preLlama3, vocab: byteVocab(), merges: [][2]string{{"a", "b"}, {"b", "c"}, {"a", "b"}}}
	s.vocab = append(s.vocab, vocabEntry{"ab", 256}, vocabEntry{"bc", 257})
	tok, err := build(s)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.Encode("abc"), []int32{'a', 257}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Encode(abc) = %v, want %v", got, want)
	}
	if tok.NumMerges() != 2 {
		t.Fatalf("%d merges after de-duplication, want 2", tok.NumMerges())
	}
}

// TestBPEPassesStopOnLowerRank: a merge that creates a pair ranked below
// the current one must be followed by that pair, not by the next
// occurrence of the current pair (merges here are not in training order).
func TestBPEPassesStopOnLowerRank(t *testing.T) {
	s := &spec{pre: preLlama3, vocab: byteVocab(), merges: [][2]string{{"ab", "a"}, {"a", "b"}}}
	s.vocab = append(s.vocab, vocabEntry{"ab", 256}, vocabEntry{"aba", 257})
	tok, err := build(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"abab", strings.Repeat("ab", 200)} {
		a := tok.bpeScan(w, nil, &pairCache{})
		b := tok.bpeHeap(w, nil, &pairCache{})
		c := tok.bpePasses(w, nil, &pairCache{})
		if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a, c) || (w == "abab" && !reflect.DeepEqual(a, []int32{257, 'b'})) {
			t.Fatalf("%q: scan %v heap %v passes %v", head(w, 20), a, b, c)
		}
	}
}

// saveLoad saves tok in a temporary directory and loads it back.
func saveLoad(t *testing.T, tok *Tokenizer) *Tokenizer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := tok.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return back
}
