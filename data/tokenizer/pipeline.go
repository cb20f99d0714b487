package tokenizer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
	"golang.org/x/text/unicode/norm"
)

// This file is the general Hugging Face pipeline: normalizers,
// pre-tokenizers and decoders parsed from a tokenizer.json, each component
// with Hugging Face tokenizers' (Rust) semantics. Tokenizers whose pipeline
// is one of the three hand-written split patterns skip it (the fast path in
// pretok.go); everything else runs through these steps.

// metaspace is SentencePiece's word-boundary character "▁" (U+2581).
const metaspace = "\u2581"

// --- normalizers -------------------------------------------------------------

// normStep is one normalizer; first is true for the text that starts the input.
type normStep interface {
	normalize(s string) string
}

type unicodeNorm struct {
	name string // "NFC", "NFD", "NFKC" or "NFKD"
	form norm.Form
}

func (n unicodeNorm) normalize(s string) string {
	if n.form.IsNormalString(s) {
		return s
	}
	return n.form.String(s)
}

type lowercaseNorm struct{}

func (lowercaseNorm) normalize(s string) string { return strings.ToLower(s) }

// prependNorm is Prepend: the text, when not empty, gets a prefix.
type prependNorm struct{ prefix string }

func (p prependNorm) normalize(s string) string {
	if s == "" {
		return s
	}
	return p.prefix + s
}

// replaceNorm is Replace (also the Replace decoder): every match of a
// literal or a regex becomes content.
type replaceNorm struct {
	m       matcher
	content string
}

func (r replaceNorm) normalize(s string) string {
	if lit, ok := r.m.(literalMatcher); ok {
		return strings.ReplaceAll(s, string(lit), r.content)
	}
	spans := r.m.find(s, nil)
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	prev := 0
	for _, sp := range spans {
		b.WriteString(s[prev:sp[0]])
		b.WriteString(r.content)
		prev = sp[1]
	}
	b.WriteString(s[prev:])
	return b.String()
}

// stripNorm is Strip: leading and/or trailing white space removed.
type stripNorm struct{ left, right bool }

func (p stripNorm) normalize(s string) string {
	if p.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if p.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}

// hfComponent is the union of the fields the supported components use.
type hfComponent struct {
	Type string `json:"type"`
	// Sequences.
	Normalizers   []json.RawMessage `json:"normalizers"`
	Pretokenizers []json.RawMessage `json:"pretokenizers"`
	Decoders      []json.RawMessage `json:"decoders"`
	// Prepend, Replace, Split, Strip, Metaspace, ByteLevel, Digits.
	Prepend          string          `json:"prepend"`
	Pattern          json.RawMessage `json:"pattern"`
	Content          json.RawMessage `json:"content"`
	Behavior         string          `json:"behavior"`
	Invert           bool            `json:"invert"`
	StripLeft        *bool           `json:"strip_left"`
	StripRight       *bool           `json:"strip_right"`
	Start            int             `json:"start"`
	Stop             int             `json:"stop"`
	Replacement      string          `json:"replacement"`
	PrependScheme    string          `json:"prepend_scheme"`
	AddPrefixSpace   *bool           `json:"add_prefix_space"`
	Split            *bool           `json:"split"`
	UseRegex         *bool           `json:"use_regex"`
	IndividualDigits bool            `json:"individual_digits"`
	TrimOffsets      *bool           `json:"trim_offsets"`
	StrRep           *string         `json:"str_rep"`
}

func decodeComponent(raw json.RawMessage, path string) (*hfComponent, error) {
	var c hfComponent
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// parseSteps flattens a pipeline component (JSON null, one component or a
// Sequence) at path into steps of type S: a Sequence's elements, listed under
// its key listKey (read by list), are flattened in turn; one parses any other
// component.
func parseSteps[S any](raw json.RawMessage, path, listKey string, list func(*hfComponent) []json.RawMessage, one func(c *hfComponent, path string) ([]S, error)) ([]S, error) {
	if rawOrNil(raw) == nil {
		return nil, nil
	}
	c, err := decodeComponent(raw, path)
	if err != nil {
		return nil, err
	}
	if c.Type != "Sequence" {
		return one(c, path)
	}
	var out []S
	for i, sub := range list(c) {
		steps, err := parseSteps(sub, fmt.Sprintf("%s.%s[%d]", path, listKey, i), listKey, list, one)
		if err != nil {
			return nil, err
		}
		out = append(out, steps...)
	}
	return out, nil
}

// parseNormalizers flattens a normalizer (null, one component or a
// Sequence) into steps; path is its JSON path ("normalizer").
func parseNormalizers(raw json.RawMessage, path string) ([]normStep, error) {
	return parseSteps(raw, path, "normalizers", func(c *hfComponent) []json.RawMessage { return c.Normalizers }, normalizerSteps)
}

// normalizerSteps is the step of one normalizer other than a Sequence.
func normalizerSteps(c *hfComponent, path string) ([]normStep, error) {
	switch c.Type {
	case "NFC":
		return []normStep{unicodeNorm{"NFC", norm.NFC}}, nil
	case "NFD":
		return []normStep{unicodeNorm{"NFD", norm.NFD}}, nil
	case "NFKC":
		return []normStep{unicodeNorm{"NFKC", norm.NFKC}}, nil
	case "NFKD":
		return []normStep{unicodeNorm{"NFKD", norm.NFKD}}, nil
	case "Lowercase":
		return []normStep{lowercaseNorm{}}, nil
	case "Prepend":
		return []normStep{prependNorm{c.Prepend}}, nil
	case "Replace":
		r, err := parseReplace(c, path)
		if err != nil {
			return nil, err
		}
		return []normStep{r}, nil
	case "Strip":
		return []normStep{stripNorm{left: c.StripLeft == nil || *c.StripLeft, right: c.StripRight == nil || *c.StripRight}}, nil
	}
	return nil, fmt.Errorf("%s: unsupported normalizer type %q (supported: NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, Sequence)", path, c.Type)
}

// parseReplace reads a Replace normalizer or decoder: its pattern and content.
func parseReplace(c *hfComponent, path string) (replaceNorm, error) {
	m, err := parsePattern(c.Pattern, path+".pattern")
	if err != nil {
		return replaceNorm{}, err
	}
	content, err := jsonString(c.Content, path+".content")
	if err != nil {
		return replaceNorm{}, err
	}
	return replaceNorm{m, content}, nil
}

func jsonString(raw json.RawMessage, path string) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s: want a string: %w", path, err)
	}
	return s, nil
}

// --- patterns ----------------------------------------------------------------

// matcher finds the non-empty, non-overlapping matches of a pattern, left to
// right, as byte spans.
type matcher interface {
	find(s string, spans [][2]int) [][2]int
}

type literalMatcher string

func (l literalMatcher) find(s string, spans [][2]int) [][2]int {
	if l == "" {
		return spans
	}
	for off := 0; ; {
		i := strings.Index(s[off:], string(l))
		if i < 0 {
			return spans
		}
		spans = append(spans, [2]int{off + i, off + i + len(l)})
		off += i + len(l)
	}
}

// regexMatcher is a Split/Replace regex in Oniguruma syntax, run by
// regexp2 (lookahead, inline flags, Unicode classes); Go's RE2 lacks
// lookaround.
type regexMatcher struct{ re *regexp2.Regexp }

func (m regexMatcher) find(s string, spans [][2]int) [][2]int {
	// Only a match timeout fails, and none is set.
	idx, _ := m.re.FindAllStringIndex(s, -1)
	for _, p := range idx {
		if p[1] > p[0] {
			spans = append(spans, [2]int{p[0], p[1]})
		}
	}
	return spans
}

// parsePattern reads {"String": s} or {"Regex": r}.
func parsePattern(raw json.RawMessage, path string) (matcher, error) {
	var p struct {
		String *string `json:"String"`
		Regex  *string `json:"Regex"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case p.String != nil:
		return literalMatcher(*p.String), nil
	case p.Regex != nil:
		re, err := compileRegex(*p.Regex)
		if err != nil {
			return nil, fmt.Errorf("%s.Regex %q: %w", path, *p.Regex, err)
		}
		return regexMatcher{re}, nil
	}
	return nil, fmt.Errorf("%s: want {\"String\": ...} or {\"Regex\": ...}", path)
}

func compileRegex(expr string) (*regexp2.Regexp, error) {
	if len(expr) > 1<<16 {
		return nil, fmt.Errorf("pattern of %d bytes is too long", len(expr))
	}
	return regexp2.Compile(expr, regexp2.None)
}

// --- pre-tokenizers ------------------------------------------------------------

// preStep refines pieces: each step maps every piece to zero or more pieces.
// first is true while the piece list is the start of the input (Metaspace's
// prepend_scheme "first").
type preStep interface {
	apply(pieces []string, first bool) []string
}

// splitBehavior is Split's behavior (Hugging Face's SplitDelimiterBehavior).
type splitBehavior uint8

const (
	behaviorRemoved splitBehavior = iota + 1
	behaviorIsolated
	behaviorMergedWithPrevious
	behaviorMergedWithNext
	behaviorContiguous
)

func parseBehavior(s, path string) (splitBehavior, error) {
	switch s {
	case "Removed":
		return behaviorRemoved, nil
	case "Isolated":
		return behaviorIsolated, nil
	case "MergedWithPrevious":
		return behaviorMergedWithPrevious, nil
	case "MergedWithNext":
		return behaviorMergedWithNext, nil
	case "Contiguous":
		return behaviorContiguous, nil
	}
	return 0, fmt.Errorf("%s: unknown behavior %q (want Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)", path, s)
}

// splitStep is the Split pre-tokenizer (and Digits, Metaspace's split).
type splitStep struct {
	m        matcher
	behavior splitBehavior
	invert   bool
}

func (sp splitStep) apply(pieces []string, _ bool) []string {
	out := make([]string, 0, len(pieces)*2)
	var spans [][2]int
	for _, p := range pieces {
		spans = sp.m.find(p, spans[:0])
		out = splitByMatches(p, spans, sp.behavior, sp.invert, out)
	}
	return out
}

type segment struct {
	lo, hi  int
	isMatch bool
}

// splitByMatches cuts s at the match spans as Hugging Face's
// NormalizedString::split does for behavior (invert swaps matches and gaps)
// and appends the non-empty pieces.
func splitByMatches(s string, spans [][2]int, behavior splitBehavior, invert bool, out []string) []string {
	if s == "" {
		return out
	}
	// The whole string as alternating gaps and matches.
	segs := make([]segment, 0, 2*len(spans)+1)
	prev := 0
	for _, sp := range spans {
		if prev < sp[0] {
			segs = append(segs, segment{prev, sp[0], invert})
		}
		segs = append(segs, segment{sp[0], sp[1], !invert})
		prev = sp[1]
	}
	if prev < len(s) {
		segs = append(segs, segment{prev, len(s), invert})
	}
	var acc []segment
	switch behavior {
	case behaviorIsolated:
		acc = segs
	case behaviorRemoved:
		for _, g := range segs {
			if !g.isMatch {
				acc = append(acc, g)
			}
		}
	case behaviorMergedWithPrevious:
		prevMatch := false
		for _, g := range segs {
			if g.isMatch && !prevMatch && len(acc) > 0 {
				acc[len(acc)-1].hi = g.hi
			} else {
				acc = append(acc, g)
			}
			prevMatch = g.isMatch
		}
	case behaviorMergedWithNext:
		prevMatch := false
		for i := len(segs) - 1; i >= 0; i-- {
			g := segs[i]
			if g.isMatch && !prevMatch && len(acc) > 0 {
				acc[len(acc)-1].lo = g.lo
			} else {
				acc = append(acc, g)
			}
			prevMatch = g.isMatch
		}
		for i, j := 0, len(acc)-1; i < j; i, j = i+1, j-1 {
			acc[i], acc[j] = acc[j], acc[i]
		}
	case behaviorContiguous:
		prevMatch := false
		for _, g := range segs {
			if g.isMatch == prevMatch && len(acc) > 0 {
				acc[len(acc)-1].hi = g.hi
			} else {
				acc = append(acc, g)
			}
			prevMatch = g.isMatch
		}
	}
	for _, g := range acc {
		if g.hi > g.lo {
			out = append(out, s[g.lo:g.hi])
		}
	}
	return out
}

// digitMatcher matches each numeric character (Rust's char::is_numeric:
// Unicode N) on its own, as Hugging Face's Digits pre-tokenizer does.
type digitMatcher struct{}

func (digitMatcher) find(s string, spans [][2]int) [][2]int {
	for i, r := range s {
		if unicode.IsNumber(r) {
			spans = append(spans, [2]int{i, i + utf8.RuneLen(r)})
		}
	}
	return spans
}

// byteLevelStep is the ByteLevel pre-tokenizer: an optional prefix space
// and, with use_regex, the GPT-2 split (by the hand-written scanner). The
// byte-to-character mapping itself is implicit: byte-level models work on
// raw bytes.
type byteLevelStep struct {
	prefixSpace bool
	useRegex    bool
	split       splitter
}

func (b byteLevelStep) apply(pieces []string, _ bool) []string {
	out := make([]string, 0, len(pieces)*2)
	var ends []int
	for _, p := range pieces {
		if b.prefixSpace && !strings.HasPrefix(p, " ") {
			p = " " + p
		}
		if !b.useRegex {
			out = append(out, p)
			continue
		}
		ends = b.split.split(p, ends[:0])
		start := 0
		for _, e := range ends {
			out = append(out, p[start:e])
			start = e
		}
	}
	return out
}

// metaspaceStep is the Metaspace pre-tokenizer: spaces become the
// replacement character, which is prepended per prepend_scheme and, with
// split, starts each piece.
type metaspaceStep struct {
	replacement string
	prepend     string // "always", "first" or "never"
	split       bool
}

func (m metaspaceStep) apply(pieces []string, first bool) []string {
	out := make([]string, 0, len(pieces)*2)
	var spans [][2]int
	for i, p := range pieces {
		p = strings.ReplaceAll(p, " ", m.replacement)
		if (m.prepend == "always" || (m.prepend == "first" && first && i == 0)) && !strings.HasPrefix(p, m.replacement) {
			p = m.replacement + p
		}
		if !m.split {
			out = append(out, p)
			continue
		}
		spans = literalMatcher(m.replacement).find(p, spans[:0])
		out = splitByMatches(p, spans, behaviorMergedWithNext, false, out)
	}
	return out
}

// preInfo collects what parsing a pre-tokenizer learned besides its steps.
type preInfo struct {
	byteLevel bool // a ByteLevel step: the model's alphabet is bytes
}

// parsePreTokenizers flattens a pre-tokenizer into steps; path is its JSON
// path ("pre_tokenizer").
func parsePreTokenizers(raw json.RawMessage, path string, info *preInfo) ([]preStep, error) {
	return parseSteps(raw, path, "pretokenizers", func(c *hfComponent) []json.RawMessage { return c.Pretokenizers },
		func(c *hfComponent, path string) ([]preStep, error) { return preTokenizerSteps(c, path, info) })
}

// preTokenizerSteps is the step of one pre-tokenizer other than a Sequence.
func preTokenizerSteps(c *hfComponent, path string, info *preInfo) ([]preStep, error) {
	switch c.Type {
	case "Split":
		m, err := parsePattern(c.Pattern, path+".pattern")
		if err != nil {
			return nil, err
		}
		b, err := parseBehavior(c.Behavior, path+".behavior")
		if err != nil {
			return nil, err
		}
		return []preStep{splitStep{m: m, behavior: b, invert: c.Invert}}, nil
	case "Digits":
		b := behaviorContiguous
		if c.IndividualDigits {
			b = behaviorIsolated
		}
		return []preStep{splitStep{m: digitMatcher{}, behavior: b}}, nil
	case "ByteLevel":
		info.byteLevel = true
		return []preStep{byteLevelStep{
			prefixSpace: c.AddPrefixSpace != nil && *c.AddPrefixSpace,
			useRegex:    c.UseRegex == nil || *c.UseRegex,
			split:       newSplitter(preGPT2),
		}}, nil
	case "Metaspace":
		m := metaspaceStep{replacement: c.Replacement, prepend: c.PrependScheme, split: c.Split == nil || *c.Split}
		if m.replacement == "" {
			m.replacement = metaspace
		}
		if m.prepend == "" {
			m.prepend = "always"
			if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
				m.prepend = "never"
			}
		}
		switch m.prepend {
		case "always", "first", "never":
		default:
			return nil, fmt.Errorf("%s.prepend_scheme: unknown value %q (want always, first or never)", path, m.prepend)
		}
		return []preStep{m}, nil
	}
	return nil, fmt.Errorf("%s: unsupported pre-tokenizer type %q (supported: Split, Digits, ByteLevel, Metaspace, Sequence)", path, c.Type)
}

// --- decoders ------------------------------------------------------------------

// decStep is one decoder: it maps the token strings (as the vocabulary
// spells them; added tokens as their content) to new token strings.
type decStep interface {
	decode(tokens []string, added func(string) bool) []string
}

// byteLevelDec maps byte-level characters back to bytes; added tokens pass
// verbatim. The result is one token.
type byteLevelDec struct{}

func (byteLevelDec) decode(tokens []string, added func(string) bool) []string {
	var b strings.Builder
	for _, t := range tokens {
		if added(t) {
			b.WriteString(t)
			continue
		}
		if raw, ok := gpt2Bytes.decode(t); ok {
			b.Write(raw)
		} else {
			b.WriteString(t)
		}
	}
	return []string{b.String()}
}

type replaceDec struct{ r replaceNorm }

func (d replaceDec) decode(tokens []string, _ func(string) bool) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		out[i] = d.r.normalize(t)
	}
	return out
}

// byteFallbackDec turns runs of <0xXX> tokens into their bytes. Hugging
// Face writes U+FFFD per byte of a run that is not valid UTF-8; here the raw
// bytes are kept so that Decode(Encode(b)) == b for any bytes.
type byteFallbackDec struct{}

func byteFallbackValue(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(t[3:5], 16, 8)
	if err != nil {
		return 0, false
	}
	return byte(v), true
}

func (byteFallbackDec) decode(tokens []string, _ func(string) bool) []string {
	out := make([]string, 0, len(tokens))
	var run []byte
	for _, t := range tokens {
		if b, ok := byteFallbackValue(t); ok {
			run = append(run, b)
			continue
		}
		if len(run) > 0 {
			out = append(out, string(run))
			run = run[:0]
		}
		out = append(out, t)
	}
	if len(run) > 0 {
		out = append(out, string(run))
	}
	return out
}

type fuseDec struct{}

func (fuseDec) decode(tokens []string, _ func(string) bool) []string {
	return []string{strings.Join(tokens, "")}
}

// stripDec removes up to start leading and stop trailing occurrences of
// one character from each token.
type stripDec struct {
	content     rune
	start, stop int
}

func (d stripDec) decode(tokens []string, _ func(string) bool) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		for k := 0; k < d.start; k++ {
			r, w := utf8.DecodeRuneInString(t)
			if w == 0 || r != d.content {
				break
			}
			t = t[w:]
		}
		for k := 0; k < d.stop; k++ {
			r, w := utf8.DecodeLastRuneInString(t)
			if w == 0 || r != d.content {
				break
			}
			t = t[:len(t)-w]
		}
		out[i] = t
	}
	return out
}

// metaspaceDec replaces the replacement character by a space and, unless
// the prepend scheme is "never", drops the first token's leading space.
type metaspaceDec struct {
	replacement string
	stripFirst  bool
}

func (d metaspaceDec) decode(tokens []string, _ func(string) bool) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		t = strings.ReplaceAll(t, d.replacement, " ")
		if i == 0 && d.stripFirst {
			t = strings.TrimPrefix(t, " ")
		}
		out[i] = t
	}
	return out
}

// parseDecoders flattens a decoder into steps; path is its JSON path ("decoder").
func parseDecoders(raw json.RawMessage, path string) ([]decStep, error) {
	return parseSteps(raw, path, "decoders", func(c *hfComponent) []json.RawMessage { return c.Decoders }, decoderSteps)
}

// decoderSteps is the step of one decoder other than a Sequence.
func decoderSteps(c *hfComponent, path string) ([]decStep, error) {
	switch c.Type {
	case "ByteLevel":
		return []decStep{byteLevelDec{}}, nil
	case "Replace":
		r, err := parseReplace(c, path)
		if err != nil {
			return nil, err
		}
		return []decStep{replaceDec{r}}, nil
	case "ByteFallback":
		return []decStep{byteFallbackDec{}}, nil
	case "Fuse":
		return []decStep{fuseDec{}}, nil
	case "Strip":
		content, err := jsonString(c.Content, path+".content")
		if err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(content) != 1 {
			return nil, fmt.Errorf("%s.content %q: want one character", path, content)
		}
		if c.Start < 0 || c.Stop < 0 {
			return nil, fmt.Errorf("%s: negative start/stop", path)
		}
		r, _ := utf8.DecodeRuneInString(content)
		return []decStep{stripDec{content: r, start: c.Start, stop: c.Stop}}, nil
	case "Metaspace":
		d := metaspaceDec{replacement: c.Replacement, stripFirst: true}
		if d.replacement == "" {
			d.replacement = metaspace
		}
		if c.PrependScheme == "never" || (c.PrependScheme == "" && c.AddPrefixSpace != nil && !*c.AddPrefixSpace) {
			d.stripFirst = false
		}
		return []decStep{d}, nil
	}
	return nil, fmt.Errorf("%s: unsupported decoder type %q (supported: ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence)", path, c.Type)
}
