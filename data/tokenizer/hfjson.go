package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxFileSize bounds a tokenizer.json read from disk.
const maxFileSize = 1 << 30

// Load reads a Hugging Face tokenizer.json. BOS/EOS/PAD and the chat
// template come from the tokenizer_config.json beside it (ConfigPath), when
// present; otherwise well-known token names decide them.
func Load(path string) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	if st.Size() > maxFileSize {
		return nil, fmt.Errorf("load tokenizer %s: %d bytes is too large", path, st.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	cfg, err := os.ReadFile(ConfigPath(path))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load tokenizer %s: %w", path, err)
	}
	return parse(data, path, cfg)
}

// Parse reads a Hugging Face tokenizer.json from data; name is used in errors.
func Parse(data []byte, name string) (*Tokenizer, error) { return parse(data, name, nil) }

// ParseWithConfig is Parse with the contents of a tokenizer_config.json
// (bos_token, eos_token, pad_token, chat_template); config may be nil.
func ParseWithConfig(data, config []byte, name string) (*Tokenizer, error) {
	return parse(data, name, config)
}

// ConfigPath is where Save writes, and Load reads, the tokenizer_config.json
// of the tokenizer file at path: "tokenizer_config.json" beside a file named
// tokenizer.json, else "<name>_config.json" beside "<name>.json".
func ConfigPath(path string) string {
	dir, base := filepath.Split(path)
	if base == "tokenizer.json" {
		return filepath.Join(dir, "tokenizer_config.json")
	}
	return filepath.Join(dir, strings.TrimSuffix(base, ".json")+"_config.json")
}

type hfFile struct {
	Version       string          `json:"version"`
	AddedTokens   []hfAdded       `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         *hfModel        `json:"model"`
}

type hfAdded struct {
	ID         *int64 `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type hfModel struct {
	Type                    string           `json:"type"`
	Dropout                 *float64         `json:"dropout"`
	UnkToken                *string          `json:"unk_token"`
	ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
	ByteFallback            bool             `json:"byte_fallback"`
	FuseUnk                 bool             `json:"fuse_unk"`
	IgnoreMerges            bool             `json:"ignore_merges"`
	Vocab                   map[string]int64 `json:"vocab"`
	Merges                  json.RawMessage  `json:"merges"`
}

// hfSpecial is the special-token part of a tokenizer_config.json.
type hfSpecial struct {
	BOS          json.RawMessage `json:"bos_token"`
	EOS          json.RawMessage `json:"eos_token"`
	PAD          json.RawMessage `json:"pad_token"`
	ChatTemplate json.RawMessage `json:"chat_template"`
}

func parse(data []byte, name string, config []byte) (*Tokenizer, error) {
	t, err := parseHF(data, name, config)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", name, err)
	}
	return t, nil
}

func parseHF(data []byte, name string, config []byte) (*Tokenizer, error) {
	var f hfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse JSON: %w", err)
	}
	if f.Model == nil {
		return nil, errors.New("no model section")
	}
	m := f.Model
	if m.Type != "BPE" && m.Type != "" {
		return nil, fmt.Errorf("model.type %q: only BPE is supported", m.Type)
	}
	if m.Dropout != nil && *m.Dropout != 0 {
		return nil, fmt.Errorf("model.dropout %v: BPE dropout is not supported", *m.Dropout)
	}
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" {
		return nil, fmt.Errorf("model.continuing_subword_prefix %q is not supported", *m.ContinuingSubwordPrefix)
	}
	if m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" {
		return nil, fmt.Errorf("model.end_of_word_suffix %q is not supported", *m.EndOfWordSuffix)
	}
	s := &spec{
		name:          name,
		ignoreMerges:  m.IgnoreMerges,
		byteFallback:  m.ByteFallback,
		postProcessor: rawOrNil(f.PostProcessor),
		decoder:       rawOrNil(f.Decoder),
	}
	var err error
	if err = parsePipeline(s, &f); err != nil {
		return nil, err
	}
	if s.gen != nil && s.gen.charLevel && m.UnkToken != nil {
		s.unk = *m.UnkToken
	}
	s.fuseUnk = m.FuseUnk
	if len(f.AddedTokens) > maxAddedToks {
		return nil, fmt.Errorf("added_tokens: %d entries exceed the limit %d", len(f.AddedTokens), maxAddedToks)
	}
	addedContent := make(map[string]bool, len(f.AddedTokens))
	for i, a := range f.AddedTokens {
		if a.ID == nil {
			return nil, fmt.Errorf("added_tokens[%d] (%q): no id", i, a.Content)
		}
		if *a.ID < 0 || *a.ID >= maxVocab {
			return nil, fmt.Errorf("added_tokens[%d] (%q): id %d out of range", i, a.Content, *a.ID)
		}
		s.added = append(s.added, addedToken{
			id: int32(*a.ID), content: a.Content, special: a.Special,
			lstrip: a.LStrip, rstrip: a.RStrip, singleWord: a.SingleWord, normalized: a.Normalized,
		})
		addedContent[a.Content] = true
	}
	if len(m.Vocab) > maxVocab {
		return nil, fmt.Errorf("model.vocab: %d entries exceed the limit %d", len(m.Vocab), maxVocab)
	}
	bl := gpt2Bytes
	if s.gen != nil && s.gen.charLevel {
		bl = nil // the vocabulary spells tokens as text
	}
	s.vocab = make([]vocabEntry, 0, len(m.Vocab))
	for tok, id := range m.Vocab {
		if id < 0 || id >= maxVocab {
			return nil, fmt.Errorf("model.vocab[%q]: id %d out of range", tok, id)
		}
		b, ok := bl.decode(tok)
		if !ok {
			if addedContent[tok] {
				continue // declared by added_tokens
			}
			return nil, fmt.Errorf("model.vocab[%q] (id %d): not a byte-level token", tok, id)
		}
		s.vocab = append(s.vocab, vocabEntry{bytes: string(b), id: int32(id)})
	}
	if s.merges, err = parseMerges(m.Merges, bl); err != nil {
		return nil, fmt.Errorf("model.merges: %w", err)
	}

	s.bosFromPost = firstTemplateSpecial(f.PostProcessor)
	if config != nil {
		sp := &hfSpecial{}
		if err := json.Unmarshal(config, sp); err != nil {
			return nil, fmt.Errorf("tokenizer_config.json (%s): %w", ConfigPath(name), err)
		}
		if s.bos, err = specialContent(sp.BOS); err != nil {
			return nil, fmt.Errorf("bos_token: %w", err)
		}
		if s.eos, err = specialContent(sp.EOS); err != nil {
			return nil, fmt.Errorf("eos_token: %w", err)
		}
		if s.pad, err = specialContent(sp.PAD); err != nil {
			return nil, fmt.Errorf("pad_token: %w", err)
		}
		if s.chatTemplate, err = chatTemplate(sp.ChatTemplate); err != nil {
			return nil, fmt.Errorf("chat_template: %w", err)
		}
	}
	return build(s)
}

func rawOrNil(r json.RawMessage) []byte {
	if len(r) == 0 || string(bytes.TrimSpace(r)) == "null" {
		return nil
	}
	return bytes.Clone(r)
}

func parseNormalizer(raw json.RawMessage) (string, error) {
	if rawOrNil(raw) == nil {
		return "", nil
	}
	var n struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	switch n.Type {
	case "NFC", "NFD", "NFKC", "NFKD":
		return n.Type, nil
	case "Sequence":
		form := ""
		for _, sub := range n.Normalizers {
			f, err := parseNormalizer(sub)
			if err != nil {
				return "", err
			}
			if f != "" && form != "" {
				return "", errors.New("more than one Unicode normalization in a Sequence")
			}
			if f != "" {
				form = f
			}
		}
		return form, nil
	}
	return "", fmt.Errorf("unsupported normalizer type %q", n.Type)
}

type hfPre struct {
	Type           string            `json:"type"`
	AddPrefixSpace bool              `json:"add_prefix_space"`
	UseRegex       *bool             `json:"use_regex"`
	Pretokenizers  []json.RawMessage `json:"pretokenizers"`
	Pattern        struct {
		Regex  *string `json:"Regex"`
		String *string `json:"String"`
	} `json:"pattern"`
	Behavior string `json:"behavior"`
	Invert   bool   `json:"invert"`
}

// parsePreTokenizer accepts ByteLevel with its built-in (GPT-2) regex, or a
// Sequence of a Split with a known pattern and a ByteLevel without regex.
func parsePreTokenizer(raw json.RawMessage) (preKind, bool, error) {
	if rawOrNil(raw) == nil {
		return 0, false, errors.New("missing: a ByteLevel pre-tokenizer is required")
	}
	var p hfPre
	if err := json.Unmarshal(raw, &p); err != nil {
		return 0, false, err
	}
	switch p.Type {
	case "ByteLevel":
		if p.UseRegex != nil && !*p.UseRegex {
			return 0, false, errors.New("ByteLevel without use_regex needs a Split before it")
		}
		return preGPT2, p.AddPrefixSpace, nil
	case "Sequence":
		if len(p.Pretokenizers) != 2 {
			return 0, false, fmt.Errorf("Sequence of %d pre-tokenizers: want Split then ByteLevel", len(p.Pretokenizers))
		}
		var split, bl hfPre
		if err := json.Unmarshal(p.Pretokenizers[0], &split); err != nil {
			return 0, false, err
		}
		if err := json.Unmarshal(p.Pretokenizers[1], &bl); err != nil {
			return 0, false, err
		}
		if split.Type != "Split" || bl.Type != "ByteLevel" {
			return 0, false, fmt.Errorf("Sequence of %s, %s: want Split then ByteLevel", split.Type, bl.Type)
		}
		if bl.UseRegex == nil || *bl.UseRegex {
			return 0, false, errors.New("ByteLevel after Split must have use_regex false")
		}
		// Removed with invert keeps exactly the matches; the three patterns
		// match every character, so there are no gaps and this is Isolated.
		isolated := !split.Invert && (split.Behavior == "Isolated" || split.Behavior == "")
		matchesOnly := split.Invert && split.Behavior == "Removed"
		if !isolated && !matchesOnly {
			return 0, false, fmt.Errorf("Split behavior %q invert %v: want Isolated, not inverted", split.Behavior, split.Invert)
		}
		if split.Pattern.Regex == nil {
			return 0, false, errors.New("Split needs a Regex pattern")
		}
		kind, ok := preKindByPattern(*split.Pattern.Regex)
		if !ok {
			return 0, false, fmt.Errorf("unsupported Split pattern %q (supported: the GPT-2, Llama 3 and Qwen2 patterns)", *split.Pattern.Regex)
		}
		return kind, bl.AddPrefixSpace, nil
	}
	return 0, false, fmt.Errorf("unsupported pre-tokenizer type %q", p.Type)
}

// parseMerges reads merges in either format: ["a b", ...] or [["a","b"], ...].
func parseMerges(raw json.RawMessage, bl *byteLevel) ([][2]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	inner := bytes.TrimLeft(raw[1:], " \t\r\n")
	var pairs [][2]string
	if len(raw) > 0 && raw[0] == '[' && len(inner) > 0 && inner[0] == '[' {
		var list [][]string
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, err
		}
		pairs = make([][2]string, len(list))
		for i, p := range list {
			if len(p) != 2 {
				return nil, fmt.Errorf("merge %d has %d parts, want 2", i, len(p))
			}
			pairs[i] = [2]string{p[0], p[1]}
		}
	} else {
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, err
		}
		pairs = make([][2]string, len(list))
		for i, p := range list {
			a, b, ok := bytes.Cut([]byte(p), []byte{' '})
			if !ok || bytes.IndexByte(b, ' ') >= 0 {
				return nil, fmt.Errorf("merge %d %q: want two tokens separated by one space", i, p)
			}
			pairs[i] = [2]string{string(a), string(b)}
		}
	}
	for i, p := range pairs {
		for k := 0; k < 2; k++ {
			b, ok := bl.decode(p[k])
			if !ok {
				return nil, fmt.Errorf("merge %d: %q is not a byte-level token", i, p[k])
			}
			pairs[i][k] = string(b)
		}
	}
	return pairs, nil
}

// firstTemplateSpecial returns the first special token a TemplateProcessing
// post-processor puts before the sequence (Llama 3's BOS), or "".
func firstTemplateSpecial(raw json.RawMessage) string {
	if rawOrNil(raw) == nil {
		return ""
	}
	var p struct {
		Type       string            `json:"type"`
		Processors []json.RawMessage `json:"processors"`
		Single     []struct {
			SpecialToken *struct {
				ID string `json:"id"`
			} `json:"SpecialToken"`
			Sequence *struct{} `json:"Sequence"`
		} `json:"single"`
	}
	if json.Unmarshal(raw, &p) != nil {
		return ""
	}
	if p.Type == "Sequence" {
		for _, sub := range p.Processors {
			if s := firstTemplateSpecial(sub); s != "" {
				return s
			}
		}
		return ""
	}
	if p.Type != "TemplateProcessing" || len(p.Single) == 0 || p.Single[0].SpecialToken == nil {
		return ""
	}
	return p.Single[0].SpecialToken.ID
}

// specialContent reads a token given as a string, an AddedToken object or null.
func specialContent(raw json.RawMessage) (*string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	empty := ""
	if string(bytes.TrimSpace(raw)) == "null" {
		return &empty, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return &s, nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("want a string or an object with content: %w", err)
	}
	return &obj.Content, nil
}

// chatTemplate reads a template given as a string or as a list of
// {name, template} (the "default" one, else the first).
func chatTemplate(raw json.RawMessage) (string, error) {
	if rawOrNil(raw) == nil {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var list []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", fmt.Errorf("want a string or a list of {name, template}: %w", err)
	}
	for _, e := range list {
		if e.Name == "default" {
			return e.Template, nil
		}
	}
	if len(list) > 0 {
		return list[0].Template, nil
	}
	return "", nil
}

// appendJSONString appends s as a JSON string literal (no HTML escaping;
// invalid UTF-8 becomes U+FFFD, which never happens for our tokens).
func appendJSONString(out []byte, s string) []byte {
	out = append(out, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				out = append(out, '\\', c)
			case c == '\n':
				out = append(out, '\\', 'n')
			case c == '\r':
				out = append(out, '\\', 'r')
			case c == '\t':
				out = append(out, '\\', 't')
			case c < 0x20 || c == 0x7f:
				out = append(out, `\u00`...)
				out = append(out, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
			default:
				out = append(out, c)
			}
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			out = append(out, `\u`+strconv.FormatInt(int64(r), 16)...)
		} else {
			out = utf8.AppendRune(out, r)
		}
		i += w
	}
	return append(out, '"')
}
