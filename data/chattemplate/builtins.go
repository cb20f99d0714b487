package chattemplate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// globals are the functions every chat template may call.
var globals = map[string]function{
	"namespace": func(_ *state, args []Value, kw *Dict) (Value, error) {
		d := NewDict()
		d.ns = true
		for _, a := range args {
			m, ok := a.(*Dict)
			if !ok {
				return nil, fmt.Errorf("positional argument must be a mapping, got a %s", typeName(a))
			}
			for _, k := range m.keys {
				d.Set(k, m.m[k])
			}
		}
		if kw != nil {
			for _, k := range kw.keys {
				d.Set(k, kw.m[k])
			}
		}
		return d, nil
	},
	"raise_exception": func(_ *state, args []Value, _ *Dict) (Value, error) {
		msg := "raise_exception called"
		if len(args) > 0 {
			msg = str(args[0])
		}
		return nil, &TemplateError{Message: msg}
	},
	"range": func(_ *state, args []Value, _ *Dict) (Value, error) {
		var b [3]int64
		b[2] = 1
		for i, a := range args {
			n, ok := a.(int64)
			if !ok || i > 2 {
				return nil, fmt.Errorf("takes 1 to 3 integers")
			}
			b[i] = n
		}
		start, stop, step := b[0], b[1], b[2]
		if len(args) == 1 {
			start, stop = 0, b[0]
		}
		if len(args) == 0 || step == 0 {
			return nil, fmt.Errorf("needs a stop and a non-zero step")
		}
		var out []Value
		for i := start; (step > 0 && i < stop) || (step < 0 && i > stop); i += step {
			if len(out) >= maxRange {
				return nil, fmt.Errorf("more than %d items", maxRange)
			}
			out = append(out, i)
		}
		return out, nil
	},
	"strftime_now": func(st *state, args []Value, _ *Dict) (Value, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("takes one format string")
		}
		f, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("format must be a string")
		}
		return strftime(st, f), nil
	},
}

// strftime formats st.now with the C directives chat templates use.
func strftime(st *state, f string) string {
	t := st.now
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 == len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		switch f[i] {
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'Y':
			fmt.Fprintf(&b, "%d", t.Year())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'b':
			b.WriteString(t.Month().String()[:3])
		case 'B':
			b.WriteString(t.Month().String())
		case 'a':
			b.WriteString(t.Weekday().String()[:3])
		case 'A':
			b.WriteString(t.Weekday().String())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(f[i])
		}
	}
	return b.String()
}

func argOr(args []Value, i int, kw *Dict, name string, def Value) Value {
	if i < len(args) {
		return args[i]
	}
	if kw != nil {
		if v, ok := kw.m[name]; ok {
			return v
		}
	}
	return def
}

func wantString(v Value, what string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string, got a %s", what, typeName(v))
	}
	return s, nil
}

// method returns the bound method name of obj (Python's str, dict and list
// methods that chat templates call), or nil.
func method(obj Value, name string) Value {
	switch o := obj.(type) {
	case string:
		return stringMethod(o, name)
	case *Dict:
		switch name {
		case "items":
			return function(func(*state, []Value, *Dict) (Value, error) { return dictItems(o), nil })
		case "keys":
			return function(func(*state, []Value, *Dict) (Value, error) {
				out := make([]Value, 0, o.Len())
				for _, k := range o.keys {
					out = append(out, k)
				}
				return out, nil
			})
		case "values":
			return function(func(*state, []Value, *Dict) (Value, error) {
				out := make([]Value, 0, o.Len())
				for _, k := range o.keys {
					out = append(out, o.m[k])
				}
				return out, nil
			})
		case "get":
			return function(func(_ *state, args []Value, _ *Dict) (Value, error) {
				if len(args) < 1 {
					return nil, fmt.Errorf("get needs a key")
				}
				k, _ := args[0].(string)
				if v, ok := o.m[k]; ok {
					return v, nil
				}
				return argOr(args, 1, nil, "", nil), nil
			})
		}
	}
	return nil
}

func dictItems(d *Dict) []Value {
	out := make([]Value, 0, d.Len())
	for _, k := range d.keys {
		out = append(out, []Value{k, d.m[k]})
	}
	return out
}

func stringMethod(s, name string) Value {
	fn := func(f func(args []Value, kw *Dict) (Value, error)) Value {
		return function(func(_ *state, args []Value, kw *Dict) (Value, error) { return f(args, kw) })
	}
	strip := func(left, right bool) Value {
		return fn(func(args []Value, _ *Dict) (Value, error) {
			return pyStrip(s, argOr(args, 0, nil, "", nil), left, right)
		})
	}
	affix := func(test func(string, string) bool) Value {
		return fn(func(args []Value, _ *Dict) (Value, error) {
			if len(args) < 1 {
				return nil, fmt.Errorf("needs an argument")
			}
			switch a := args[0].(type) {
			case string:
				return test(s, a), nil
			case []Value:
				for _, x := range a {
					if xs, ok := x.(string); ok && test(s, xs) {
						return true, nil
					}
				}
				return false, nil
			}
			return nil, fmt.Errorf("argument must be a string or a tuple of strings")
		})
	}
	switch name {
	case "strip":
		return strip(true, true)
	case "lstrip":
		return strip(true, false)
	case "rstrip":
		return strip(false, true)
	case "startswith":
		return affix(strings.HasPrefix)
	case "endswith":
		return affix(strings.HasSuffix)
	case "upper":
		return fn(func([]Value, *Dict) (Value, error) { return strings.ToUpper(s), nil })
	case "lower":
		return fn(func([]Value, *Dict) (Value, error) { return strings.ToLower(s), nil })
	case "title":
		return fn(func([]Value, *Dict) (Value, error) { return title(s), nil })
	case "capitalize":
		return fn(func([]Value, *Dict) (Value, error) { return capitalize(s), nil })
	case "split":
		return fn(func(args []Value, kw *Dict) (Value, error) {
			sep := argOr(args, 0, kw, "sep", nil)
			limit := int64(-1)
			if m, ok := argOr(args, 1, kw, "maxsplit", int64(-1)).(int64); ok {
				limit = m
			}
			return pySplit(s, sep, limit)
		})
	case "replace":
		return fn(func(args []Value, kw *Dict) (Value, error) {
			if len(args) < 2 {
				return nil, fmt.Errorf("replace needs old and new")
			}
			o, err := wantString(args[0], "old")
			if err != nil {
				return nil, err
			}
			n, err := wantString(args[1], "new")
			if err != nil {
				return nil, err
			}
			count := int64(-1)
			if c, ok := argOr(args, 2, kw, "count", int64(-1)).(int64); ok {
				count = c
			}
			return strings.Replace(s, o, n, int(count)), nil
		})
	case "join":
		return fn(func(args []Value, _ *Dict) (Value, error) {
			if len(args) != 1 {
				return nil, fmt.Errorf("join takes one iterable")
			}
			items, err := iterate(args[0])
			if err != nil {
				return nil, err
			}
			parts := make([]string, len(items))
			for i, x := range items {
				if parts[i], err = wantString(x, "joined item"); err != nil {
					return nil, err
				}
			}
			return strings.Join(parts, s), nil
		})
	case "count":
		return fn(func(args []Value, _ *Dict) (Value, error) {
			if len(args) < 1 {
				return nil, fmt.Errorf("count needs a substring")
			}
			sub, err := wantString(args[0], "substring")
			if err != nil {
				return nil, err
			}
			return int64(strings.Count(s, sub)), nil
		})
	case "find":
		return fn(func(args []Value, _ *Dict) (Value, error) {
			if len(args) < 1 {
				return nil, fmt.Errorf("find needs a substring")
			}
			sub, err := wantString(args[0], "substring")
			if err != nil {
				return nil, err
			}
			i := strings.Index(s, sub)
			if i < 0 {
				return int64(-1), nil
			}
			return int64(utf8.RuneCountInString(s[:i])), nil
		})
	}
	return nil
}

// pySplit is Python's str.split(sep, maxsplit).
func pySplit(s string, sep Value, limit int64) (Value, error) {
	var parts []string
	switch sp := sep.(type) {
	case nil, undefinedType:
		rest := strings.TrimLeftFunc(s, unicode.IsSpace)
		for rest != "" {
			if limit >= 0 && int64(len(parts)) == limit {
				parts = append(parts, rest)
				break
			}
			i := strings.IndexFunc(rest, unicode.IsSpace)
			if i < 0 {
				parts = append(parts, rest)
				break
			}
			parts = append(parts, rest[:i])
			rest = strings.TrimLeftFunc(rest[i:], unicode.IsSpace)
		}
	case string:
		if sp == "" {
			return nil, fmt.Errorf("empty separator")
		}
		n := -1
		if limit >= 0 {
			n = int(limit) + 1
		}
		parts = strings.SplitN(s, sp, n)
	default:
		return nil, fmt.Errorf("separator must be a string or None")
	}
	out := make([]Value, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + strings.ToLower(s[n:])
}

func title(s string) string {
	var b strings.Builder
	prevLetter := false
	for _, r := range s {
		if unicode.IsLetter(r) {
			if prevLetter {
				b.WriteRune(unicode.ToLower(r))
			} else {
				b.WriteRune(unicode.ToUpper(r))
			}
			prevLetter = true
		} else {
			b.WriteRune(r)
			prevLetter = false
		}
	}
	return b.String()
}

// length is len() of a string (characters), list or mapping.
func length(v Value) (int64, error) {
	switch v := v.(type) {
	case string:
		return int64(utf8.RuneCountInString(v)), nil
	case []Value:
		return int64(len(v)), nil
	case *Dict:
		return int64(v.Len()), nil
	case undefinedType:
		return 0, nil
	}
	return 0, fmt.Errorf("a %s has no length", typeName(v))
}

// filters are Jinja's built-in filters that chat templates use, plus
// transformers' tojson. args[0] is the filtered value.
var filters = map[string]function{
	"safe":   func(_ *state, a []Value, _ *Dict) (Value, error) { return a[0], nil },
	"string": func(_ *state, a []Value, _ *Dict) (Value, error) { return str(a[0]), nil },
	"trim": func(_ *state, a []Value, kw *Dict) (Value, error) {
		return pyStrip(str(a[0]), argOr(a, 1, kw, "chars", nil), true, true)
	},
	"upper":      func(_ *state, a []Value, _ *Dict) (Value, error) { return strings.ToUpper(str(a[0])), nil },
	"lower":      func(_ *state, a []Value, _ *Dict) (Value, error) { return strings.ToLower(str(a[0])), nil },
	"title":      func(_ *state, a []Value, _ *Dict) (Value, error) { return title(str(a[0])), nil },
	"capitalize": func(_ *state, a []Value, _ *Dict) (Value, error) { return capitalize(str(a[0])), nil },
	"length":     func(_ *state, a []Value, _ *Dict) (Value, error) { return length(a[0]) },
	"count":      func(_ *state, a []Value, _ *Dict) (Value, error) { return length(a[0]) },
	"tojson": func(_ *state, a []Value, kw *Dict) (Value, error) {
		var opts jsonOptions
		if n, ok := argOr(a, 1, kw, "indent", nil).(int64); ok {
			opts.indent = int(max(n, 0))
		}
		opts.ensureASCII = truthy(argOr(nil, 0, kw, "ensure_ascii", false))
		opts.sortKeys = truthy(argOr(nil, 0, kw, "sort_keys", false))
		return toJSON(a[0], opts)
	},
	"first": func(_ *state, a []Value, _ *Dict) (Value, error) {
		items, err := iterate(a[0])
		if err != nil || len(items) == 0 {
			return Undefined, err
		}
		return items[0], nil
	},
	"last": func(_ *state, a []Value, _ *Dict) (Value, error) {
		items, err := iterate(a[0])
		if err != nil || len(items) == 0 {
			return Undefined, err
		}
		return items[len(items)-1], nil
	},
	"list": func(_ *state, a []Value, _ *Dict) (Value, error) {
		items, err := iterate(a[0])
		return append([]Value{}, items...), err
	},
	"reverse": func(_ *state, a []Value, _ *Dict) (Value, error) {
		items, err := iterate(a[0])
		if err != nil {
			return nil, err
		}
		out := make([]Value, len(items))
		for i, x := range items {
			out[len(items)-1-i] = x
		}
		if s, ok := a[0].(string); ok {
			r := []rune(s)
			for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
				r[i], r[j] = r[j], r[i]
			}
			return string(r), nil
		}
		return out, nil
	},
	"items": func(_ *state, a []Value, _ *Dict) (Value, error) {
		switch d := a[0].(type) {
		case *Dict:
			return dictItems(d), nil
		case undefinedType, nil:
			return []Value{}, nil
		}
		return nil, fmt.Errorf("items of a %s", typeName(a[0]))
	},
	"dictsort": func(_ *state, a []Value, _ *Dict) (Value, error) {
		d, ok := a[0].(*Dict)
		if !ok {
			return nil, fmt.Errorf("dictsort of a %s", typeName(a[0]))
		}
		var out []Value
		for _, k := range sortedKeys(d) {
			out = append(out, []Value{k, d.m[k]})
		}
		return out, nil
	},
	"join": func(_ *state, a []Value, kw *Dict) (Value, error) {
		items, err := iterate(a[0])
		if err != nil {
			return nil, err
		}
		sep := str(argOr(a, 1, kw, "d", ""))
		attr, _ := argOr(a, 2, kw, "attribute", nil).(string)
		parts := make([]string, len(items))
		for i, x := range items {
			if attr != "" {
				x = attribute(x, attr)
			}
			parts[i] = str(x)
		}
		return strings.Join(parts, sep), nil
	},
	"default": defaultFilter,
	"d":       defaultFilter,
	"replace": func(_ *state, a []Value, kw *Dict) (Value, error) {
		if len(a) < 3 {
			return nil, fmt.Errorf("needs old and new")
		}
		count := int64(-1)
		if c, ok := argOr(a, 3, kw, "count", int64(-1)).(int64); ok {
			count = c
		}
		return strings.Replace(str(a[0]), str(a[1]), str(a[2]), int(count)), nil
	},
	"int": func(_ *state, a []Value, _ *Dict) (Value, error) {
		switch v := a[0].(type) {
		case int64:
			return v, nil
		case float64:
			return int64(v), nil
		case bool:
			if v {
				return int64(1), nil
			}
			return int64(0), nil
		case string:
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return n, nil
			}
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return int64(f), nil
			}
		}
		return argOr(a, 1, nil, "", int64(0)), nil
	},
	"float": func(_ *state, a []Value, _ *Dict) (Value, error) {
		if f, ok := number(a[0]); ok {
			return f, nil
		}
		if s, ok := a[0].(string); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
				return f, nil
			}
		}
		return argOr(a, 1, nil, "", 0.0), nil
	},
	"abs": func(_ *state, a []Value, _ *Dict) (Value, error) {
		switch v := a[0].(type) {
		case int64:
			return max(v, -v), nil
		case float64:
			return max(v, -v), nil
		}
		return nil, fmt.Errorf("abs of a %s", typeName(a[0]))
	},
	"indent": func(_ *state, a []Value, kw *Dict) (Value, error) {
		width := argOr(a, 1, kw, "width", int64(4))
		pad, ok := width.(string)
		if !ok {
			n, _ := width.(int64)
			pad = strings.Repeat(" ", int(max(n, 0)))
		}
		first := truthy(argOr(a, 2, kw, "first", false))
		blank := truthy(argOr(a, 3, kw, "blank", false))
		lines := strings.Split(str(a[0]), "\n")
		for i, l := range lines {
			if (i > 0 || first) && (blank || l != "") {
				lines[i] = pad + l
			}
		}
		return strings.Join(lines, "\n"), nil
	},
	"unique": func(_ *state, a []Value, _ *Dict) (Value, error) {
		items, err := iterate(a[0])
		if err != nil {
			return nil, err
		}
		var out []Value
	next:
		for _, x := range items {
			for _, y := range out {
				if equal(x, y) {
					continue next
				}
			}
			out = append(out, x)
		}
		return out, nil
	},
	"sort": func(_ *state, a []Value, kw *Dict) (Value, error) {
		items, err := iterate(a[0])
		if err != nil {
			return nil, err
		}
		out := append([]Value{}, items...)
		reverse := truthy(argOr(a, 1, kw, "reverse", false))
		attr, _ := argOr(a, 3, kw, "attribute", nil).(string)
		var cmpErr error
		sort.SliceStable(out, func(i, j int) bool {
			x, y := out[i], out[j]
			if attr != "" {
				x, y = attribute(x, attr), attribute(y, attr)
			}
			c, err := compare(x, y)
			if err != nil {
				cmpErr = err
			}
			if reverse {
				return c > 0
			}
			return c < 0
		})
		return out, cmpErr
	},
	"selectattr": func(_ *state, a []Value, _ *Dict) (Value, error) { return selectAttr(a, true) },
	"rejectattr": func(_ *state, a []Value, _ *Dict) (Value, error) { return selectAttr(a, false) },
	"select":     func(_ *state, a []Value, _ *Dict) (Value, error) { return selectItems(a, true) },
	"reject":     func(_ *state, a []Value, _ *Dict) (Value, error) { return selectItems(a, false) },
}

func defaultFilter(_ *state, a []Value, kw *Dict) (Value, error) {
	def := argOr(a, 1, kw, "default_value", "")
	boolean := truthy(argOr(a, 2, kw, "boolean", false))
	if a[0] == Undefined || (boolean && !truthy(a[0])) {
		return def, nil
	}
	return a[0], nil
}

// selectAttr is selectattr/rejectattr(attr[, test[, arg]]).
func selectAttr(a []Value, keep bool) (Value, error) {
	items, err := iterate(a[0])
	if err != nil {
		return nil, err
	}
	if len(a) < 2 {
		return nil, fmt.Errorf("needs an attribute name")
	}
	attr, err := wantString(a[1], "attribute")
	if err != nil {
		return nil, err
	}
	return filterByTest(items, keep, func(x Value) Value { return attribute(x, attr) }, a[2:])
}

// selectItems is select/reject([test[, arg]]).
func selectItems(a []Value, keep bool) (Value, error) {
	items, err := iterate(a[0])
	if err != nil {
		return nil, err
	}
	return filterByTest(items, keep, func(x Value) Value { return x }, a[1:])
}

// filterByTest keeps the items x for which of(x) passes test (truthiness
// when test is empty, else `of(x) is test[0](test[1:]...)`) exactly when
// keep is true.
func filterByTest(items []Value, keep bool, of func(Value) Value, test []Value) (Value, error) {
	out := []Value{}
	for _, x := range items {
		v := of(x)
		ok := truthy(v)
		if len(test) > 0 {
			name, err := wantString(test[0], "test name")
			if err != nil {
				return nil, err
			}
			if ok, err = runTest(name, v, test[1:]); err != nil {
				return nil, err
			}
		}
		if ok == keep {
			out = append(out, x)
		}
	}
	return out, nil
}

// runTest evaluates `v is name(args...)`.
func runTest(name string, v Value, args []Value) (bool, error) {
	arg := func() (Value, error) {
		if len(args) < 1 {
			return nil, fmt.Errorf("test %s needs an argument", name)
		}
		return args[0], nil
	}
	switch name {
	case "defined":
		return v != Undefined, nil
	case "undefined":
		return v == Undefined, nil
	case "none":
		return v == nil, nil
	case "string":
		_, ok := v.(string)
		return ok, nil
	case "number":
		switch v.(type) {
		case int64, float64:
			return true, nil
		}
		return false, nil
	case "integer":
		_, ok := v.(int64)
		return ok, nil
	case "float":
		_, ok := v.(float64)
		return ok, nil
	case "boolean":
		_, ok := v.(bool)
		return ok, nil
	case "true":
		return v == true, nil
	case "false":
		return v == false, nil
	case "mapping":
		_, ok := v.(*Dict)
		return ok, nil
	case "sequence", "iterable":
		switch v.(type) {
		case []Value, string, *Dict:
			return true, nil
		}
		return false, nil
	case "callable":
		_, ok := v.(function)
		return ok, nil
	case "odd", "even":
		n, ok := v.(int64)
		if !ok {
			return false, fmt.Errorf("test %s of a %s", name, typeName(v))
		}
		return (n%2 != 0) == (name == "odd"), nil
	case "eq", "equalto", "==", "sameas":
		b, err := arg()
		return err == nil && equal(v, b), err
	case "ne", "!=":
		b, err := arg()
		return err == nil && !equal(v, b), err
	case "lt", "<", "gt", ">", "le", "<=", "ge", ">=", "lessthan", "greaterthan":
		b, err := arg()
		if err != nil {
			return false, err
		}
		c, err := compare(v, b)
		if err != nil {
			return false, err
		}
		switch name {
		case "lt", "<", "lessthan":
			return c < 0, nil
		case "gt", ">", "greaterthan":
			return c > 0, nil
		case "le", "<=":
			return c <= 0, nil
		}
		return c >= 0, nil
	case "in":
		b, err := arg()
		if err != nil {
			return false, err
		}
		return contains(b, v)
	}
	return false, fmt.Errorf("unknown test %q", name)
}

// mapFilter is map(attribute=name[, default=v]) or map(filter, args...);
// registered in init because it looks filters up.
func mapFilter(st *state, a []Value, kw *Dict) (Value, error) {
	items, err := iterate(a[0])
	if err != nil {
		return nil, err
	}
	out := make([]Value, len(items))
	if attr, ok := argOr(nil, 0, kw, "attribute", nil).(string); ok {
		def := argOr(nil, 0, kw, "default", Undefined)
		for i, x := range items {
			v := attribute(x, attr)
			if v == Undefined {
				v = def
			}
			out[i] = v
		}
		return out, nil
	}
	if len(a) < 2 {
		return nil, fmt.Errorf("map needs a filter name or attribute=")
	}
	name, err := wantString(a[1], "filter name")
	if err != nil {
		return nil, err
	}
	f, ok := filters[name]
	if !ok {
		return nil, fmt.Errorf("unknown filter %q", name)
	}
	for i, x := range items {
		if out[i], err = f(st, append([]Value{x}, a[2:]...), nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func init() { filters["map"] = mapFilter }
