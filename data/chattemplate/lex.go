package chattemplate

import (
	"fmt"
	"strings"
	"unicode"
)

// tokKind classifies a lexical token inside a tag.
type tokKind int

const (
	tokEOF       tokKind = iota
	tokText              // literal template text between tags
	tokExprOpen          // {{
	tokExprClose         // }}
	tokStmtOpen          // {%
	tokStmtClose         // %}
	tokName
	tokString
	tokInt
	tokFloat
	tokOp
)

type token struct {
	kind tokKind
	val  string
	line int
}

// lex splits a template into text and tag tokens, in the environment
// transformers renders chat templates with: Jinja drops one trailing
// newline; trim_blocks drops the newline right after a block tag or comment;
// lstrip_blocks drops the spaces and tabs before a block tag or comment that
// starts a line; and whitespace control ("{{-", "-%}") strips all the
// whitespace of the neighbouring text. Done here rather than by rewriting
// the source, so that token lines are the source's lines.
func lex(src string) ([]token, error) {
	src = strings.TrimSuffix(src, "\n")
	var toks []token
	line := 1
	stripNext := false // the last tag ended with '-'
	lineStart := true  // src starts a line
	for len(src) > 0 {
		open := indexTagOpen(src)
		text := src
		if open >= 0 {
			text = src[:open]
		}
		if stripNext {
			text = strings.TrimLeftFunc(text, unicode.IsSpace)
			stripNext = false
		}
		if open >= 0 {
			switch {
			case open+2 < len(src) && src[open+2] == '-':
				text = strings.TrimRightFunc(text, unicode.IsSpace)
			case src[open+1] != '{': // lstrip_blocks
				nl := strings.LastIndexByte(text, '\n')
				if (nl >= 0 || lineStart) && strings.Trim(text[nl+1:], " \t") == "" {
					text = text[:nl+1]
				}
			}
		}
		if text != "" {
			toks = append(toks, token{kind: tokText, val: text, line: line})
		}
		if open < 0 {
			break
		}
		line += strings.Count(src[:open], "\n")
		src = src[open:]
		kind := src[1]
		body := 2
		if len(src) > 2 && src[2] == '-' {
			body = 3
		}
		if kind == '#' {
			end := strings.Index(src[body:], "#}")
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated comment", line)
			}
			end += body
			if end > 0 && src[end-1] == '-' {
				stripNext = true
			}
			line += strings.Count(src[:end+2], "\n")
			src = src[end+2:]
		} else {
			openKind, closeKind, closer := tokExprOpen, tokExprClose, "}}"
			if kind == '%' {
				openKind, closeKind, closer = tokStmtOpen, tokStmtClose, "%}"
			}
			toks = append(toks, token{kind: openKind, line: line})
			rest, strip, err := lexTag(src[body:], closer, &line, &toks)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: closeKind, line: line})
			stripNext = strip
			src = rest
			if kind == '{' {
				lineStart = false
				continue
			}
		}
		// trim_blocks: the newline after a block tag or comment goes.
		lineStart = false
		if strings.HasPrefix(src, "\n") {
			src = src[1:]
			line++
			lineStart = true
		}
	}
	toks = append(toks, token{kind: tokEOF, line: line})
	return toks, nil
}

// indexTagOpen finds the next "{{", "{%" or "{#".
func indexTagOpen(s string) int {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '{' && (s[i+1] == '{' || s[i+1] == '%' || s[i+1] == '#') {
			return i
		}
	}
	return -1
}

// twoCharOps are the operators of two characters, tried before single ones.
var twoCharOps = []string{"==", "!=", "<=", ">=", "//", "**"}

// lexTag tokenizes the inside of a tag up to closer ("}}" or "%}", optionally
// preceded by '-'); it returns the rest of the template and whether the
// closer asked to strip the following whitespace.
func lexTag(s, closer string, line *int, toks *[]token) (rest string, strip bool, err error) {
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			if s[i] == '\n' {
				*line++
			}
			i++
		}
		if i >= len(s) {
			return "", false, fmt.Errorf("line %d: unterminated tag (want %q)", *line, closer)
		}
		if strings.HasPrefix(s[i:], "-"+closer) {
			return s[i+3:], true, nil
		}
		if strings.HasPrefix(s[i:], closer) {
			return s[i+2:], false, nil
		}
		c := s[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			var b strings.Builder
			for j < len(s) && s[j] != c {
				if s[j] == '\\' && j+1 < len(s) {
					j++
					switch s[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					case 'b':
						b.WriteByte('\b')
					case 'f':
						b.WriteByte('\f')
					case 'v':
						b.WriteByte('\v')
					case '\\', '\'', '"':
						b.WriteByte(s[j])
					default:
						b.WriteByte('\\')
						b.WriteByte(s[j])
					}
					j++
					continue
				}
				if s[j] == '\n' {
					*line++
				}
				b.WriteByte(s[j])
				j++
			}
			if j >= len(s) {
				return "", false, fmt.Errorf("line %d: unterminated string literal", *line)
			}
			*toks = append(*toks, token{kind: tokString, val: b.String(), line: *line})
			i = j + 1
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '_') {
				j++
			}
			kind := tokInt
			if j+1 < len(s) && s[j] == '.' && s[j+1] >= '0' && s[j+1] <= '9' {
				kind = tokFloat
				j++
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
			}
			if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
				k := j + 1
				if k < len(s) && (s[k] == '+' || s[k] == '-') {
					k++
				}
				if k < len(s) && s[k] >= '0' && s[k] <= '9' {
					kind = tokFloat
					for k < len(s) && s[k] >= '0' && s[k] <= '9' {
						k++
					}
					j = k
				}
			}
			*toks = append(*toks, token{kind: kind, val: strings.ReplaceAll(s[i:j], "_", ""), line: *line})
			i = j
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			*toks = append(*toks, token{kind: tokName, val: s[i:j], line: *line})
			i = j
		default:
			op := ""
			for _, o := range twoCharOps {
				if strings.HasPrefix(s[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				if !strings.ContainsRune("+-*/%~|.,:()[]{}=<>!", rune(c)) {
					return "", false, fmt.Errorf("line %d: unexpected character %q in tag", *line, c)
				}
				op = s[i : i+1]
			}
			*toks = append(*toks, token{kind: tokOp, val: op, line: *line})
			i += len(op)
		}
	}
}
