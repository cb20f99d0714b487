package infer

import (
	"errors"
	"fmt"
	"sync"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/format/gguf"
)

// vocab is the tokenizer metadata of a GGUF file (tokenizer.ggml.*).
type vocab struct {
	tokenizer.GGUFVocab // Types: 1 normal, 3 control, 4 user-defined, ...; BOS, EOS, PAD −1 when absent
	addBOS              bool
	bytes               [][]byte // the bytes each token stands for (nil for control tokens)

	once sync.Once
	tok  *tokenizer.Tokenizer
	err  error
}

// Token types (llama.cpp's llama_token_type).
const (
	tokenNormal      = 1
	tokenControl     = 3
	tokenUserDefined = 4
)

func readVocab(gf *gguf.File, vocabSize int) (*vocab, error) {
	if _, ok := gf.KV(gguf.KeyTokenizerTokens); !ok {
		return nil, nil
	}
	if _, err := gf.String(gguf.KeyTokenizerModel); err != nil { // required here
		return nil, err
	}
	gv, err := tokenizer.ReadGGUFVocab(gf, vocabSize)
	if err != nil {
		return nil, err
	}
	v := &vocab{GGUFVocab: *gv}
	if _, ok := gf.KV(gguf.KeyTokenizerAddBOS); ok {
		if v.addBOS, err = gf.Bool(gguf.KeyTokenizerAddBOS); err != nil {
			return nil, err
		}
	}
	v.bytes = make([][]byte, len(v.Tokens))
	for i, t := range v.Tokens {
		if v.Types != nil && v.Types[i] == tokenControl {
			continue
		}
		if v.Model != "gpt2" {
			v.bytes[i] = []byte(t)
			continue
		}
		b := make([]byte, 0, len(t))
		for _, r := range t {
			if c, ok := tokenizer.ByteLevelByte(r); ok {
				b = append(b, c)
			} else {
				b = append(b, string(r)...) // user-defined tokens are stored as plain text
			}
		}
		v.bytes[i] = b
	}
	return v, nil
}

// TokenBytes is the text a token stands for (empty for control tokens such
// as BOS/EOS), or false for an id outside the vocabulary or a file without one.
func (m *Model) TokenBytes(id int32) ([]byte, bool) {
	if m.vocab == nil || id < 0 || int(id) >= len(m.vocab.bytes) {
		return nil, false
	}
	return m.vocab.bytes[id], true
}

// Detokenize concatenates the bytes of ids (control tokens render as nothing).
func (m *Model) Detokenize(ids []int32) []byte {
	var out []byte
	for _, id := range ids {
		b, _ := m.TokenBytes(id)
		out = append(out, b...)
	}
	return out
}

// BOS and EOS are the special token ids from the file (−1 when absent).
func (m *Model) BOS() int32 {
	if m.vocab == nil {
		return -1
	}
	return m.vocab.BOS
}

// EOS is the end-of-sequence id (−1 when absent).
func (m *Model) EOS() int32 {
	if m.vocab == nil {
		return -1
	}
	return m.vocab.EOS
}

// AddBOS reports tokenizer.ggml.add_bos_token.
func (m *Model) AddBOS() bool { return m.vocab != nil && m.vocab.addBOS }

// Tokenizer is the file's embedded tokenizer (tokenizer.ggml.*), built on
// first use. Only byte-level BPE ("gpt2") vocabularies are supported.
func (m *Model) Tokenizer() (*tokenizer.Tokenizer, error) {
	v := m.vocab
	if v == nil {
		return nil, errors.New("model file has no tokenizer (tokenizer.ggml.tokens missing)")
	}
	v.once.Do(func() {
		gv := v.GGUFVocab
		if gv.Types == nil {
			gv.Types = make([]int32, len(gv.Tokens))
			for i := range gv.Types {
				gv.Types[i] = tokenNormal
			}
		}
		v.tok, v.err = tokenizer.FromGGUFVocab(gv)
		if v.err != nil {
			v.err = fmt.Errorf("model %s: %w", m.path, v.err)
		}
	})
	return v.tok, v.err
}
