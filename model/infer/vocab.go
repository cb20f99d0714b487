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
	model, pre   string
	tokens       []string
	types        []int32 // 1 normal, 3 control, 4 user-defined, ...
	merges       []string
	bos, eos     int32 // −1 when absent
	pad          int32
	addBOS       bool
	chatTemplate string
	bytes        [][]byte // the bytes each token stands for (nil for control tokens)

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
	v := &vocab{bos: -1, eos: -1, pad: -1}
	var err error
	if v.model, err = gf.String(gguf.KeyTokenizerModel); err != nil {
		return nil, err
	}
	if _, ok := gf.KV(gguf.KeyTokenizerPre); ok {
		if v.pre, err = gf.String(gguf.KeyTokenizerPre); err != nil {
			return nil, err
		}
	}
	if v.tokens, err = gf.Strings(gguf.KeyTokenizerTokens); err != nil {
		return nil, err
	}
	if len(v.tokens) != vocabSize {
		return nil, fmt.Errorf("tokenizer.ggml.tokens has %d entries but token_embd.weight has %d rows", len(v.tokens), vocabSize)
	}
	if _, ok := gf.KV(gguf.KeyTokenizerTokenTypes); ok {
		if v.types, err = gf.Int32s(gguf.KeyTokenizerTokenTypes); err != nil {
			return nil, err
		}
		if len(v.types) != vocabSize {
			return nil, fmt.Errorf("tokenizer.ggml.token_type has %d entries, want %d", len(v.types), vocabSize)
		}
	}
	if _, ok := gf.KV(gguf.KeyTokenizerMerges); ok {
		if v.merges, err = gf.Strings(gguf.KeyTokenizerMerges); err != nil {
			return nil, err
		}
	}
	if _, ok := gf.KV(gguf.KeyChatTemplate); ok {
		if v.chatTemplate, err = gf.String(gguf.KeyChatTemplate); err != nil {
			return nil, err
		}
	}
	for key, dst := range map[string]*int32{gguf.KeyTokenizerBOS: &v.bos, gguf.KeyTokenizerEOS: &v.eos, gguf.KeyTokenizerPAD: &v.pad} {
		if _, ok := gf.KV(key); !ok {
			continue
		}
		u, err := gf.Uint(key)
		if err != nil {
			return nil, err
		}
		if u >= uint64(vocabSize) {
			return nil, fmt.Errorf("%s = %d is outside the vocabulary [0, %d)", key, u, vocabSize)
		}
		*dst = int32(u)
	}
	if _, ok := gf.KV(gguf.KeyTokenizerAddBOS); ok {
		if v.addBOS, err = gf.Bool(gguf.KeyTokenizerAddBOS); err != nil {
			return nil, err
		}
	}
	v.bytes = make([][]byte, len(v.tokens))
	for i, t := range v.tokens {
		if v.types != nil && v.types[i] == tokenControl {
			continue
		}
		if v.model != "gpt2" {
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
	return m.vocab.bos
}

// EOS is the end-of-sequence id (−1 when absent).
func (m *Model) EOS() int32 {
	if m.vocab == nil {
		return -1
	}
	return m.vocab.eos
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
		types := v.types
		if types == nil {
			types = make([]int32, len(v.tokens))
			for i := range types {
				types[i] = tokenNormal
			}
		}
		v.tok, v.err = tokenizer.FromGGUFVocab(tokenizer.GGUFVocab{
			Model: v.model, Pre: v.pre, Tokens: v.tokens, Types: types, Merges: v.merges,
			BOS: v.bos, EOS: v.eos, PAD: v.pad, ChatTemplate: v.chatTemplate,
		})
		if v.err != nil {
			v.err = fmt.Errorf("model %s: %w", m.path, v.err)
		}
	})
	return v.tok, v.err
}
