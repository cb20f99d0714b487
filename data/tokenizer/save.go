package tokenizer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"github.com/distill-ml/distill/internal/atomicfile"
	"strconv"
)

// Default JSON sections for tokenizers that did not come from a file.
const (
	defaultPostProcessor = `{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}`
	defaultDecoder       = `{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}`
)

// MarshalJSON returns the tokenizer as a Hugging Face tokenizer.json.
// Special-token roles and the chat template are not part of that format;
// MarshalConfigJSON holds them.
func (t *Tokenizer) MarshalJSON() ([]byte, error) {
	bl := gpt2Bytes
	if t.textVocab() {
		bl = nil // the vocabulary spells tokens as text
	}
	out := make([]byte, 0, 64*len(t.tokens))
	out = append(out, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": ["...)
	for i, a := range t.added {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, "\n    {\"id\": "...)
		out = strconv.AppendInt(out, int64(a.id), 10)
		out = append(out, ", \"content\": "...)
		out = appendJSONString(out, a.content)
		out = append(out, fmt.Sprintf(`, "single_word": %v, "lstrip": %v, "rstrip": %v, "normalized": %v, "special": %v}`,
			a.singleWord, a.lstrip, a.rstrip, a.normalized, a.special)...)
	}
	if len(t.added) > 0 {
		out = append(out, "\n  "...)
	}
	out = append(out, "],\n  \"normalizer\": "...)
	if t.normalizerJSON != nil {
		out = append(out, t.normalizerJSON...)
	} else if t.normalizer == "" {
		out = append(out, "null"...)
	} else {
		out = append(out, `{"type": "`+t.normalizer+`"}`...)
	}
	out = append(out, ",\n  \"pre_tokenizer\": "...)
	if t.preJSON != nil || t.gen != nil {
		out = appendRawOr(out, t.preJSON, "null")
	} else if t.pre == preGPT2 {
		out = append(out, fmt.Sprintf(`{"type": "ByteLevel", "add_prefix_space": %v, "trim_offsets": true, "use_regex": true}`, t.prefixSpace)...)
	} else {
		out = append(out, `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": `...)
		out = appendJSONString(out, t.pre.pattern())
		out = append(out, fmt.Sprintf(`}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": %v, "trim_offsets": false, "use_regex": false}]}`, t.prefixSpace)...)
	}
	out = append(out, ",\n  \"post_processor\": "...)
	out = appendRawOr(out, t.postProcessor, defaultPostProcessor)
	out = append(out, ",\n  \"decoder\": "...)
	out = appendRawOr(out, t.decoder, defaultDecoder)
	out = append(out, fmt.Sprintf(",\n  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": %s,\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": %v,\n    \"byte_fallback\": %v,\n    \"ignore_merges\": %v,\n    \"vocab\": {", t.unkJSON(), t.fuseUnk, t.byteFallback, t.ignoreMerges)...)
	first := true
	for id, b := range t.tokens {
		// A text vocabulary (SentencePiece's) lists its added tokens too:
		// the unknown token must be in it.
		if t.types[id] != TypeNormal && (!t.textVocab() || t.types[id] == TypeUnused) {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, "\n      "...)
		out = appendJSONString(out, bl.encode(b))
		out = append(out, ": "...)
		out = strconv.AppendInt(out, int64(id), 10)
	}
	out = append(out, "\n    },\n    \"merges\": ["...)
	for i, m := range t.mergeList {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, "\n      ["...)
		out = appendJSONString(out, bl.encode(t.tokens[m[0]]))
		out = append(out, ", "...)
		out = appendJSONString(out, bl.encode(t.tokens[m[1]]))
		out = append(out, ']')
	}
	out = append(out, "\n    ]\n  }\n}\n"...)
	return out, nil
}

// MarshalConfigJSON returns a Hugging Face tokenizer_config.json holding
// bos_token, eos_token, pad_token (null when none) and chat_template.
func (t *Tokenizer) MarshalConfigJSON() ([]byte, error) {
	out := []byte("{\n")
	for _, f := range []struct {
		key string
		id  int32
	}{{"bos_token", t.special.BOS}, {"eos_token", t.special.EOS}, {"pad_token", t.special.PAD}} {
		out = append(out, "  \""+f.key+"\": "...)
		if f.id < 0 {
			out = append(out, "null"...)
		} else {
			out = appendJSONString(out, string(t.tokens[f.id]))
		}
		out = append(out, ",\n"...)
	}
	out = append(out, "  \"add_bos_token\": false,\n  \"add_eos_token\": false,\n  \"clean_up_tokenization_spaces\": false,\n  \"model_max_length\": 1000000000,\n  \"tokenizer_class\": \"PreTrainedTokenizerFast\",\n  \"chat_template\": "...)
	out = appendJSONString(out, t.special.ChatTemplate)
	out = append(out, "\n}\n"...)
	return out, nil
}

func (t *Tokenizer) unkJSON() string {
	if t.unkID < 0 {
		return "null"
	}
	return string(appendJSONString(nil, string(t.tokens[t.unkID])))
}

func appendRawOr(out, raw []byte, def string) []byte {
	if raw == nil {
		return append(out, def...)
	}
	return append(out, raw...)
}

// Save writes the tokenizer as a Hugging Face tokenizer.json at path and
// its tokenizer_config.json at ConfigPath(path), each atomically (temporary
// file in the same directory, fsync, rename).
func (t *Tokenizer) Save(path string) error {
	data, err := t.MarshalJSON()
	if err != nil {
		return fmt.Errorf("save tokenizer %s: %w", path, err)
	}
	cfg, err := t.MarshalConfigJSON()
	if err != nil {
		return fmt.Errorf("save tokenizer %s: %w", path, err)
	}
	if err := writeFileAtomic(ConfigPath(path), cfg); err != nil {
		return fmt.Errorf("save tokenizer: %w", err)
	}
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("save tokenizer: %w", err)
	}
	return nil
}

// writeFileAtomic writes path through internal/atomicfile (temp file in the
// same directory, fsync, rename, directory fsync).
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o644)
}

// Hash is "sha256:<hex>" of a canonical serialization of what determines
// the ids: pre-tokenizer, normalizer, ignore_merges, every token's type and
// bytes, the merges in rank order, added-token matching flags, and the
// BOS/EOS/PAD ids. The chat template and the file's formatting do not count.
func (t *Tokenizer) Hash() string {
	h := sha256.New()
	var buf []byte
	u := func(v uint64) { buf = binary.AppendUvarint(buf, v) }
	str := func(s string) { u(uint64(len(s))); buf = append(buf, s...) }
	flush := func() {
		if len(buf) > 1<<16 {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	str("distill-tokenizer-v1")
	str(t.pre.String())
	str(t.normalizer)
	u(b2u(t.prefixSpace))
	u(b2u(t.ignoreMerges))
	u(uint64(len(t.tokens)))
	for id, b := range t.tokens {
		u(uint64(t.types[id]))
		str(string(b))
		flush()
	}
	u(uint64(len(t.mergeList)))
	for _, m := range t.mergeList {
		u(uint64(m[0]))
		u(uint64(m[1]))
		flush()
	}
	u(uint64(len(t.added)))
	for _, a := range t.added {
		u(uint64(a.id))
		u(b2u(a.lstrip) | b2u(a.rstrip)<<1 | b2u(a.singleWord)<<2)
	}
	for _, id := range []int32{t.special.BOS, t.special.EOS, t.special.PAD} {
		u(uint64(id + 1))
	}
	if t.gen != nil {
		// The general pipeline (fast-path tokenizers keep their old hash).
		str("general-v1")
		str(canonicalJSON(t.normalizerJSON))
		str(canonicalJSON(stripTrimOffsets(t.preJSON)))
		u(b2u(t.gen.charLevel) | b2u(t.byteFallback)<<1 | b2u(t.fuseUnk)<<2)
		u(uint64(t.unkID + 1))
	}
	h.Write(buf)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
