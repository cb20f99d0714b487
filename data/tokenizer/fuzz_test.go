package tokenizer

import (
	"bytes"
	"testing"

	"github.com/distill-ml/distill/data/tokenizer/tokenizertest"
)

// FuzzParseTokenizerJSON: the loader never panics, and whatever it accepts
// survives Save → Parse with the same hash and encodes without panicking.
func FuzzParseTokenizerJSON(f *testing.F) {
	for _, pre := range []string{PreLlama3, PreGPT2} {
		tok, err := TrainStrings([]string{"hello world, hello there! 123 <|im_end|> naïve 中文"}, TrainConfig{VocabSize: 270, Pre: pre}, nil)
		if err != nil {
			f.Fatal(err)
		}
		good, _ := tok.MarshalJSON()
		f.Add(good)
		f.Add(good[:len(good)/2])
		f.Add(bytes.Replace(good, []byte(`"merges": [`), []byte(`"merges": ["h e", `), 1))
		f.Add(bytes.Replace(good, []byte(`"normalizer": null`), []byte(`"normalizer": {"type": "NFC"}`), 1))
	}
	f.Add([]byte(`{"model": {"vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}`))
	f.Add([]byte(`{"added_tokens": [{"id": 5, "content": "x"}], "model": {"vocab": {}, "merges": [["a","b"]]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := Parse(data, "fuzz.json")
		if err != nil {
			return
		}
		out, err := tok.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(out, "saved.json")
		if err != nil {
			t.Fatalf("re-parse of saved tokenizer: %v", err)
		}
		if again.Hash() != tok.Hash() {
			t.Fatal("Save→Parse changed the hash")
		}
		text := "Hello, wörld 12 <|im_end|>\xff  \n"
		ids := tok.Encode(text)
		if tok.normalizer == "" {
			if got := tok.Decode(ids); string(got) != text {
				t.Fatalf("round trip %q → %q", text, got)
			}
		}
	})
}

// FuzzEncodeDecode: Decode(Encode(b)) == b for any bytes, with every
// fast-path pre-tokenizer and a general pipeline, and every id is inside
// the vocabulary.
func FuzzEncodeDecode(f *testing.F) {
	var toks []*Tokenizer
	texts := trainCorpus(21, 64<<10)
	for _, pre := range []string{PreLlama3, PreQwen2, PreGPT2} {
		tok, err := TrainStrings(texts, TrainConfig{VocabSize: 700, Pre: pre}, nil)
		if err != nil {
			f.Fatal(err)
		}
		toks = append(toks, tok)
	}
	toks = append(toks, generalVariant(f, toks[0])) // the general pipeline
	// Small seeds: the fuzzer minimizes every new interesting input, which
	// is slow for inputs of kilobytes.
	for _, c := range tokenizertest.ParityCorpus(4, 64<<10)[:8] {
		f.Add(c[:min(len(c), 160)])
	}
	f.Add([]byte("\xed\xa0\x80<|im_start|>\xff\xfe   \r\n\t 'S 'll 123456 ⑩ 👍🏽"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tok := range toks {
			ids := tok.Encode(string(data))
			for _, id := range ids {
				if id < 0 || int(id) >= tok.VocabSize() {
					t.Fatalf("%s: id %d outside vocab %d", tok.Pre(), id, tok.VocabSize())
				}
			}
			if got := tok.Decode(ids); !bytes.Equal(got, data) {
				t.Fatalf("%s: round trip %q → %q", tok.Pre(), data, got)
			}
		}
	})
}
