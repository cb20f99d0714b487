package chattemplate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Value is a template value: nil (None), Undefined, bool, int64, float64,
// string, []Value (list), *Dict (mapping with insertion order), or a callable
// (macro, builtin or bound method).
type Value = any

// undefinedType is the type of Undefined.
type undefinedType struct{}

// Undefined is the value of a missing variable, attribute or item. It renders
// as "" and is falsy; `is defined` tells it apart from None.
var Undefined Value = undefinedType{}

// Dict is a string-keyed mapping that keeps insertion order, as Python dicts
// and JSON objects do (tojson and items() follow it).
type Dict struct {
	keys []string
	m    map[string]Value
	ns   bool // a namespace(): the one mapping whose attributes `set` may assign
}

// NewDict returns an empty Dict.
func NewDict() *Dict { return &Dict{m: map[string]Value{}} }

// Set stores key, appending it to the order when new.
func (d *Dict) Set(key string, v Value) {
	if _, ok := d.m[key]; !ok {
		d.keys = append(d.keys, key)
	}
	d.m[key] = v
}

// Get returns the value at key.
func (d *Dict) Get(key string) (Value, bool) {
	v, ok := d.m[key]
	return v, ok
}

// Keys returns the keys in insertion order.
func (d *Dict) Keys() []string { return d.keys }

// Len is the number of keys.
func (d *Dict) Len() int { return len(d.keys) }

// maxJSONDepth bounds nesting of decoded values.
const maxJSONDepth = 256

// FromJSON decodes JSON into template values, keeping object key order;
// numbers without a fraction or exponent become int64, others float64.
func FromJSON(data []byte) (Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeJSON(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

func decodeJSON(dec *json.Decoder, depth int) (Value, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
	}
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			d := NewDict()
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeJSON(dec, depth+1)
				if err != nil {
					return nil, fmt.Errorf("key %q: %w", k, err)
				}
				d.Set(k.(string), v)
			}
			_, err := dec.Token()
			return d, err
		case '[':
			l := []Value{}
			for dec.More() {
				v, err := decodeJSON(dec, depth+1)
				if err != nil {
					return nil, fmt.Errorf("item %d: %w", len(l), err)
				}
				l = append(l, v)
			}
			_, err := dec.Token()
			return l, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		if n, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return n, nil
		}
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", t, err)
		}
		return f, nil
	default: // string, bool, nil
		return t, nil
	}
}

// truthy is Python's truth value.
func truthy(v Value) bool {
	switch v := v.(type) {
	case nil, undefinedType:
		return false
	case bool:
		return v
	case int64:
		return v != 0
	case float64:
		return v != 0
	case string:
		return v != ""
	case []Value:
		return len(v) > 0
	case *Dict:
		return v.Len() > 0
	}
	return true
}

// equal is Python's ==, deep for lists and mappings.
func equal(a, b Value) bool {
	if fa, ok := number(a); ok {
		if fb, ok := number(b); ok {
			return fa == fb
		}
		return false
	}
	switch a := a.(type) {
	case nil:
		return b == nil
	case undefinedType:
		_, ok := b.(undefinedType)
		return ok
	case string:
		s, ok := b.(string)
		return ok && a == s
	case []Value:
		l, ok := b.([]Value)
		if !ok || len(l) != len(a) {
			return false
		}
		for i := range a {
			if !equal(a[i], l[i]) {
				return false
			}
		}
		return true
	case *Dict:
		d, ok := b.(*Dict)
		if !ok || d.Len() != a.Len() {
			return false
		}
		for _, k := range a.keys {
			w, ok := d.m[k]
			if !ok || !equal(a.m[k], w) {
				return false
			}
		}
		return true
	}
	return false
}

// number returns a numeric value (bools count, as in Python) as float64.
func number(v Value) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// typeName names a value's type in errors, in Python's words.
func typeName(v Value) string {
	switch v.(type) {
	case nil:
		return "none"
	case undefinedType:
		return "undefined"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []Value:
		return "list"
	case *Dict, *loopInfo:
		return "dict"
	}
	return "callable"
}

// str is Python's str(): how {{ value }} renders.
func str(v Value) string {
	switch v := v.(type) {
	case undefinedType:
		return ""
	case string:
		return v
	}
	return repr(v)
}

// repr is Python's repr() of a value (lists and dicts render through it).
func repr(v Value) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case undefinedType:
		return ""
	case bool:
		if v {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return pyFloat(v)
	case string:
		return pyQuote(v)
	case []Value:
		var b strings.Builder
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(repr(x))
		}
		b.WriteByte(']')
		return b.String()
	case *Dict:
		var b strings.Builder
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyQuote(k) + ": " + repr(v.m[k]))
		}
		b.WriteByte('}')
		return b.String()
	}
	return "<function>"
}

// pyFloat formats as Python's repr(float).
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		s := strconv.FormatFloat(f, 'e', -1, 64) // 1e-05, 1.5e+16
		mant, exp, _ := strings.Cut(s, "e")
		sign := exp[0]
		exp = strings.TrimLeft(exp[1:], "0")
		if len(exp) < 2 {
			exp = strings.Repeat("0", 2-len(exp)) + exp
		}
		return mant + "e" + string(sign) + exp
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// pyQuote is Python's repr of a str (single quotes unless the text has one
// and no double quote).
func pyQuote(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// toJSON is transformers' tojson filter: json.dumps(x, ensure_ascii=False,
// indent=indent) with Python's separators (", " and ": "; "," with an
// indent), keys in insertion order unless sortKeys.
func toJSON(v Value, opts jsonOptions) (string, error) {
	var b strings.Builder
	if err := writeJSON(&b, v, opts, 0); err != nil {
		return "", err
	}
	return b.String(), nil
}

// jsonOptions are tojson's keyword arguments.
type jsonOptions struct {
	indent      int
	ensureASCII bool
	sortKeys    bool
}

func writeJSON(b *strings.Builder, v Value, opts jsonOptions, depth int) error {
	indent := opts.indent
	if depth > maxJSONDepth {
		return fmt.Errorf("tojson: nested deeper than %d", maxJSONDepth)
	}
	newline := func(d int) {
		if indent > 0 {
			b.WriteByte('\n')
			b.WriteString(strings.Repeat(" ", indent*d))
		}
	}
	sep := ", "
	if indent > 0 {
		sep = ","
	}
	switch v := v.(type) {
	case nil, undefinedType:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case float64:
		switch {
		case math.IsNaN(v):
			b.WriteString("NaN")
		case math.IsInf(v, 1):
			b.WriteString("Infinity")
		case math.IsInf(v, -1):
			b.WriteString("-Infinity")
		default:
			b.WriteString(pyFloat(v))
		}
	case string:
		writeJSONString(b, v, opts.ensureASCII)
	case []Value:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteString(sep)
			}
			newline(depth + 1)
			if err := writeJSON(b, x, opts, depth+1); err != nil {
				return err
			}
		}
		if len(v) > 0 {
			newline(depth)
		}
		b.WriteByte(']')
	case *Dict:
		b.WriteByte('{')
		keys := v.keys
		if opts.sortKeys {
			keys = sortedKeys(v)
		}
		for i, k := range keys {
			if i > 0 {
				b.WriteString(sep)
			}
			newline(depth + 1)
			writeJSONString(b, k, opts.ensureASCII)
			b.WriteString(": ")
			if err := writeJSON(b, v.m[k], opts, depth+1); err != nil {
				return err
			}
		}
		if v.Len() > 0 {
			newline(depth)
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("tojson: cannot serialize a %s", typeName(v))
	}
	return nil
}

// writeJSONString escapes as Python's json.dumps (non-ASCII as \uXXXX
// escapes, surrogate pairs beyond the BMP, when ascii).
func writeJSONString(b *strings.Builder, s string, ascii bool) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || (ascii && r >= 0x7f && r < 0x10000):
				fmt.Fprintf(b, `\u%04x`, r)
			case ascii && r >= 0x10000:
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}
