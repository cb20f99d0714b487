package tokenizer

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/distill-ml/distill/data/tokenizer/tokenizertest"
)

// trainCorpus is text for training small test tokenizers.
func trainCorpus(seed uint64, n int) []string {
	var texts []string
	for _, c := range tokenizertest.ParityCorpus(seed, n) {
		texts = append(texts, string(c))
	}
	return texts
}

func trainSmall(t testing.TB, pre string, vocab int) *Tokenizer {
	t.Helper()
	tok, err := TrainStrings(trainCorpus(7, 300<<10), TrainConfig{VocabSize: vocab, Pre: pre}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTrainDeterministicAndRoundTrip(t *testing.T) {
	a := trainSmall(t, "", 1000)
	b := trainSmall(t, "", 1000)
	if a.Hash() != b.Hash() {
		t.Fatalf("training is not deterministic: %s vs %s", a.Hash(), b.Hash())
	}
	if a.VocabSize() != 1000 {
		t.Fatalf("vocab size %d, want 1000", a.VocabSize())
	}
	if a.Pre() != PreLlama3 {
		t.Fatalf("default pre %q", a.Pre())
	}
	sp := a.Special()
	for name, id := range map[string]int32{"BOS": sp.BOS, "EOS": sp.EOS, "PAD": sp.PAD, "ImStart": sp.ImStart, "ImEnd": sp.ImEnd, "EOT": sp.EOT} {
		if id < 0 || a.TokenType(id) != TypeControl {
			t.Errorf("%s = %d (type %d), want a control token", name, id, a.TokenType(id))
		}
	}
	// Round trip of held-out text, including invalid UTF-8 and specials.
	for _, c := range tokenizertest.ParityCorpus(99, 200<<10) {
		ids := a.Encode(string(c))
		if got := a.Decode(ids); !bytes.Equal(got, c) {
			t.Fatalf("round trip differs:\n got %q\nwant %q", head(string(got), 200), head(string(c), 200))
		}
	}
	// Save → Load gives the same tokenizer and the same file.
	c := saveLoad(t, a)
	if c.Hash() != a.Hash() || c.Special() != a.Special() {
		t.Fatalf("Save→Load changed the tokenizer: %s %+v vs %s %+v", c.Hash(), c.Special(), a.Hash(), a.Special())
	}
	j1, _ := a.MarshalJSON()
	j2, _ := c.MarshalJSON()
	if !bytes.Equal(j1, j2) {
		t.Fatal("Save→Load→Save is not byte-identical")
	}
}

// TestTrainedParityWithReference saves trained tokenizers with each
// pre-tokenizer and checks the JS reference, loading those files, gives
// our ids.
func TestTrainedParityWithReference(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with the JS reference tokenizer: not in -short")
	}
	chunks := tokenizertest.ParityCorpus(3, 256<<10)
	for _, pre := range []string{PreLlama3, PreQwen2, PreGPT2} {
		t.Run(pre, func(t *testing.T) {
			t.Parallel()
			tok := trainSmall(t, pre, 2000)
			path := filepath.Join(t.TempDir(), "tokenizer.json")
			if err := tok.Save(path); err != nil {
				t.Fatal(err)
			}
			want := referenceIDs(t, path, ConfigPath(path), chunks)
			compareIDs(t, tok, chunks, want)
		})
	}
}
