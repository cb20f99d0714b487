package chattemplate

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
	"unicode"
)

// Template is a parsed chat template.
type Template struct {
	body []node
}

// Parse parses a Jinja chat template. Errors name the line.
func Parse(src string) (*Template, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	p := &parser{toks: toks}
	body, _, err := p.parseBody()
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	return &Template{body: body}, nil
}

// Limits on one rendering, so that a hostile template cannot loop or grow
// without bound.
const (
	maxOutput = 64 << 20 // bytes rendered
	maxSteps  = 1_000_000
	maxRange  = 100_000
	maxDepth  = 200 // nested macro calls
)

// TemplateError is raised by the template itself (raise_exception): the
// conversation does not fit the template, e.g. roles that do not alternate.
type TemplateError struct{ Message string }

func (e *TemplateError) Error() string { return "chat template raised: " + e.Message }

// Render renders the template with the given variables (messages,
// add_generation_prompt, bos_token, ...). strftime_now reads the wall clock.
func (t *Template) Render(vars map[string]Value) (string, error) {
	return t.RenderAt(vars, time.Now())
}

// RenderAt renders as Render with strftime_now reading now.
func (t *Template) RenderAt(vars map[string]Value, now time.Time) (string, error) {
	st := &state{now: now}
	global := &scope{vars: map[string]Value{}}
	for k, v := range vars {
		global.set(k, v)
	}
	if err := st.exec(t.body, global); err != nil {
		var te *TemplateError
		if errors.As(err, &te) {
			return "", err
		}
		return "", fmt.Errorf("render chat template: %w", err)
	}
	return st.out.String(), nil
}

type scope struct {
	vars   map[string]Value
	parent *scope
}

func (s *scope) lookup(name string) (Value, bool) {
	for ; s != nil; s = s.parent {
		if v, ok := s.vars[name]; ok {
			return v, true
		}
	}
	return nil, false
}

func (s *scope) child() *scope { return &scope{parent: s} }

func (s *scope) set(name string, v Value) {
	if s.vars == nil {
		s.vars = map[string]Value{}
	}
	s.vars[name] = v
}

type state struct {
	out   strings.Builder
	steps int
	depth int
	now   time.Time
}

// lineError names the template line a rendering error happened on.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }
func (e *lineError) Unwrap() error { return e.err }

// atLine names line in err, unless err already names one (the innermost
// statement's line is the useful one) or is loop control.
func atLine(line int, err error) error {
	if err == errBreak || err == errContinue || errors.As(err, new(*lineError)) {
		return err
	}
	return &lineError{line: line, err: err}
}

var errBreak = errors.New("break outside a loop")
var errContinue = errors.New("continue outside a loop")

// function is a callable value: builtins, bound methods and macros.
type function func(st *state, args []Value, kw *Dict) (Value, error)

func (st *state) step() error {
	st.steps++
	if st.steps > maxSteps {
		return fmt.Errorf("more than %d evaluation steps", maxSteps)
	}
	if st.out.Len() > maxOutput {
		return fmt.Errorf("output larger than %d bytes", maxOutput)
	}
	return nil
}

func (st *state) exec(body []node, sc *scope) error {
	for _, n := range body {
		if err := st.step(); err != nil {
			return err
		}
		switch n := n.(type) {
		case textNode:
			st.out.WriteString(n.text)
		case outputNode:
			v, err := st.eval(n.expr, sc)
			if err != nil {
				return atLine(n.line, err)
			}
			st.out.WriteString(str(v))
		case ifNode:
			c, err := st.eval(n.cond, sc)
			if err != nil {
				return atLine(n.line, err)
			}
			branch := n.els
			if truthy(c) {
				branch = n.then
			}
			if err := st.exec(branch, sc); err != nil {
				return err
			}
		case forNode:
			if err := st.execFor(n, sc); err != nil {
				return atLine(n.line, err)
			}
		case setNode:
			if err := st.execSet(n, sc); err != nil {
				return atLine(n.line, err)
			}
		case controlNode:
			if n.brk {
				return errBreak
			}
			return errContinue
		case macroNode:
			sc.set(n.name, st.macro(n, sc))
		}
	}
	return nil
}

func (st *state) execSet(n setNode, sc *scope) error {
	var v Value
	if n.body != nil {
		saved := st.out
		st.out = strings.Builder{}
		err := st.exec(n.body, sc)
		v = st.out.String()
		st.out = saved
		if err != nil {
			return err
		}
	} else {
		var err error
		if v, err = st.eval(n.value, sc); err != nil {
			return err
		}
	}
	switch {
	case len(n.names) > 0:
		l, ok := v.([]Value)
		if !ok || len(l) != len(n.names) {
			return fmt.Errorf("set %s: cannot unpack a %s into %d names", strings.Join(n.names, ", "), typeName(v), len(n.names))
		}
		for i, name := range n.names {
			sc.set(name, l[i])
		}
	case len(n.target) == 2:
		obj, _ := sc.lookup(n.target[0])
		d, ok := obj.(*Dict)
		if !ok || !d.ns {
			return fmt.Errorf("set %s.%s: %s is not a namespace", n.target[0], n.target[1], n.target[0])
		}
		d.Set(n.target[1], v)
	default:
		sc.set(n.target[0], v)
	}
	return nil
}

func (st *state) execFor(n forNode, sc *scope) error {
	it, err := st.eval(n.iter, sc)
	if err != nil {
		return err
	}
	items, err := iterate(it)
	if err != nil {
		return fmt.Errorf("for %s in ...: %w", strings.Join(n.vars, ", "), err)
	}
	inner := sc.child()
	bind := func(item Value) error {
		if len(n.vars) == 1 {
			inner.set(n.vars[0], item)
			return nil
		}
		l, ok := item.([]Value)
		if !ok || len(l) != len(n.vars) {
			return fmt.Errorf("for %s: cannot unpack a %s", strings.Join(n.vars, ", "), typeName(item))
		}
		for i, name := range n.vars {
			inner.set(name, l[i])
		}
		return nil
	}
	if n.filter != nil {
		var kept []Value
		for _, item := range items {
			if err := st.step(); err != nil {
				return err
			}
			if err := bind(item); err != nil {
				return err
			}
			c, err := st.eval(n.filter, inner)
			if err != nil {
				return err
			}
			if truthy(c) {
				kept = append(kept, item)
			}
		}
		items = kept
	}
	if len(items) == 0 {
		return st.exec(n.els, sc)
	}
	for i, item := range items {
		if err := st.step(); err != nil {
			return err
		}
		inner = sc.child()
		if err := bind(item); err != nil {
			return err
		}
		loop := &loopInfo{index: i, items: items}
		inner.set("loop", loop)
		err := st.exec(n.body, inner)
		if err == errBreak {
			break
		}
		if err != nil && err != errContinue {
			return err
		}
	}
	return nil
}

// loopInfo is the loop variable of a for loop.
type loopInfo struct {
	index int
	items []Value
}

// attr returns loop.name.
func (l *loopInfo) attr(name string) Value {
	i, n := l.index, len(l.items)
	switch name {
	case "index":
		return int64(i + 1)
	case "index0":
		return int64(i)
	case "revindex":
		return int64(n - i)
	case "revindex0":
		return int64(n - i - 1)
	case "first":
		return i == 0
	case "last":
		return i == n-1
	case "length":
		return int64(n)
	case "previtem":
		if i > 0 {
			return l.items[i-1]
		}
	case "nextitem":
		if i+1 < n {
			return l.items[i+1]
		}
	}
	return Undefined
}

// iterate lists what a for loop visits: list items, mapping keys, string
// characters.
func iterate(v Value) ([]Value, error) {
	switch v := v.(type) {
	case []Value:
		return v, nil
	case *Dict:
		out := make([]Value, 0, v.Len())
		for _, k := range v.keys {
			out = append(out, k)
		}
		return out, nil
	case string:
		var out []Value
		for _, r := range v {
			out = append(out, string(r))
		}
		return out, nil
	case undefinedType, nil:
		return nil, nil
	}
	return nil, fmt.Errorf("a %s is not iterable", typeName(v))
}

func (st *state) macro(n macroNode, def *scope) function {
	return func(st *state, args []Value, kw *Dict) (Value, error) {
		if st.depth >= maxDepth {
			return nil, &macroError{fmt.Errorf("macro %s: calls nested deeper than %d", n.name, maxDepth)}
		}
		if len(args) > len(n.params) {
			return nil, fmt.Errorf("macro %s takes %d arguments, got %d", n.name, len(n.params), len(args))
		}
		sc := def.child()
		for i, p := range n.params {
			v, fromKw := Value(nil), false
			if kw != nil {
				v, fromKw = kw.m[p]
			}
			switch {
			case i < len(args):
				sc.set(p, args[i])
			case fromKw:
				sc.set(p, v)
			case n.defaults[i] != nil:
				d, err := st.eval(n.defaults[i], sc)
				if err != nil {
					return nil, err
				}
				sc.set(p, d)
			default:
				sc.set(p, Undefined)
			}
		}
		saved := st.out
		st.out = strings.Builder{}
		st.depth++
		err := st.exec(n.body, sc)
		st.depth--
		out := st.out.String()
		st.out = saved
		if err != nil && !errors.As(err, new(*macroError)) {
			err = &macroError{fmt.Errorf("macro %s: %w", n.name, err)}
		}
		return out, err
	}
}

// macroError is an error inside a macro, named once however deep the calls.
type macroError struct{ err error }

func (e *macroError) Error() string { return e.err.Error() }
func (e *macroError) Unwrap() error { return e.err }

func (st *state) eval(e expr, sc *scope) (Value, error) {
	if err := st.step(); err != nil {
		return nil, err
	}
	switch e := e.(type) {
	case literal:
		return e.v, nil
	case nameExpr:
		if v, ok := sc.lookup(e.name); ok {
			return v, nil
		}
		if f, ok := globals[e.name]; ok {
			return f, nil
		}
		return Undefined, nil
	case listExpr:
		out := make([]Value, len(e.items))
		for i, x := range e.items {
			v, err := st.eval(x, sc)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case dictExpr:
		d := NewDict()
		for i := range e.keys {
			k, err := st.eval(e.keys[i], sc)
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("dict key must be a string, got a %s", typeName(k))
			}
			v, err := st.eval(e.vals[i], sc)
			if err != nil {
				return nil, err
			}
			d.Set(ks, v)
		}
		return d, nil
	case attrExpr:
		obj, err := st.eval(e.obj, sc)
		if err != nil {
			return nil, err
		}
		return attribute(obj, e.name), nil
	case indexExpr:
		obj, err := st.eval(e.obj, sc)
		if err != nil {
			return nil, err
		}
		idx, err := st.eval(e.index, sc)
		if err != nil {
			return nil, err
		}
		return item(obj, idx)
	case sliceExpr:
		return st.evalSlice(e, sc)
	case *callExpr:
		fn, err := st.eval(e.fn, sc)
		if err != nil {
			return nil, err
		}
		f, ok := fn.(function)
		if !ok {
			return nil, fmt.Errorf("%s is not callable (a %s)", exprName(e.fn), typeName(fn))
		}
		args, kw, err := st.evalArgs(e, sc)
		if err != nil {
			return nil, err
		}
		v, err := f(st, args, kw)
		if err != nil {
			var te *TemplateError
			if errors.As(err, &te) || errors.As(err, new(*macroError)) {
				return nil, err
			}
			return nil, fmt.Errorf("%s(): %w", exprName(e.fn), err)
		}
		return v, nil
	case filterExpr:
		v, err := st.eval(e.operand, sc)
		if err != nil {
			return nil, err
		}
		f, ok := filters[e.name]
		if !ok {
			return nil, fmt.Errorf("unknown filter %q", e.name)
		}
		var args []Value
		var kw *Dict
		if e.call != nil {
			if args, kw, err = st.evalArgs(e.call, sc); err != nil {
				return nil, err
			}
		}
		out, err := f(st, append([]Value{v}, args...), kw)
		if err != nil {
			return nil, fmt.Errorf("filter %s: %w", e.name, err)
		}
		return out, nil
	case testExpr:
		v, err := st.eval(e.operand, sc)
		if err != nil {
			return nil, err
		}
		args := make([]Value, len(e.args))
		for i, a := range e.args {
			if args[i], err = st.eval(a, sc); err != nil {
				return nil, err
			}
		}
		ok, err := runTest(e.name, v, args)
		if err != nil {
			return nil, err
		}
		return ok != e.negate, nil
	case unaryExpr:
		v, err := st.eval(e.operand, sc)
		if err != nil {
			return nil, err
		}
		switch e.op {
		case "not":
			return !truthy(v), nil
		case "-":
			switch n := v.(type) {
			case int64:
				return -n, nil
			case float64:
				return -n, nil
			}
			return nil, fmt.Errorf("bad operand for unary -: a %s", typeName(v))
		}
		return v, nil
	case binaryExpr:
		return st.evalBinary(e, sc)
	case condExpr:
		c, err := st.eval(e.cond, sc)
		if err != nil {
			return nil, err
		}
		if truthy(c) {
			return st.eval(e.then, sc)
		}
		return st.eval(e.els, sc)
	}
	return nil, fmt.Errorf("unknown expression %T", e)
}

// exprName names a callee in errors.
func exprName(e expr) string {
	switch e := e.(type) {
	case nameExpr:
		return e.name
	case attrExpr:
		return exprName(e.obj) + "." + e.name
	}
	return "expression"
}

func (st *state) evalArgs(c *callExpr, sc *scope) ([]Value, *Dict, error) {
	args := make([]Value, len(c.args))
	for i, a := range c.args {
		v, err := st.eval(a, sc)
		if err != nil {
			return nil, nil, err
		}
		args[i] = v
	}
	var kw *Dict
	if len(c.kwKeys) > 0 {
		kw = NewDict()
		for i, k := range c.kwKeys {
			v, err := st.eval(c.kwVals[i], sc)
			if err != nil {
				return nil, nil, err
			}
			kw.Set(k, v)
		}
	}
	return args, kw, nil
}

func (st *state) evalBinary(e binaryExpr, sc *scope) (Value, error) {
	l, err := st.eval(e.left, sc)
	if err != nil {
		return nil, err
	}
	switch e.op {
	case "and":
		if !truthy(l) {
			return l, nil
		}
		return st.eval(e.right, sc)
	case "or":
		if truthy(l) {
			return l, nil
		}
		return st.eval(e.right, sc)
	}
	r, err := st.eval(e.right, sc)
	if err != nil {
		return nil, err
	}
	switch e.op {
	case "==":
		return equal(l, r), nil
	case "!=":
		return !equal(l, r), nil
	case "~":
		return str(l) + str(r), nil
	case "in", "not in":
		in, err := contains(r, l)
		if err != nil {
			return nil, err
		}
		return in == (e.op == "in"), nil
	case "<", ">", "<=", ">=":
		c, err := compare(l, r)
		if err != nil {
			return nil, fmt.Errorf("%s %s %s: %w", typeName(l), e.op, typeName(r), err)
		}
		switch e.op {
		case "<":
			return c < 0, nil
		case ">":
			return c > 0, nil
		case "<=":
			return c <= 0, nil
		}
		return c >= 0, nil
	case "+":
		switch a := l.(type) {
		case string:
			if b, ok := r.(string); ok {
				return a + b, nil
			}
		case []Value:
			if b, ok := r.([]Value); ok {
				return append(append([]Value{}, a...), b...), nil
			}
		}
	}
	li, lInt := l.(int64)
	ri, rInt := r.(int64)
	if lInt && rInt {
		switch e.op {
		case "+":
			return li + ri, nil
		case "-":
			return li - ri, nil
		case "*":
			return li * ri, nil
		case "//", "%":
			if ri == 0 {
				return nil, fmt.Errorf("integer division by zero")
			}
			q, m := li/ri, li%ri
			if m != 0 && (m < 0) != (ri < 0) { // Python floors
				q, m = q-1, m+ri
			}
			if e.op == "//" {
				return q, nil
			}
			return m, nil
		}
	}
	if e.op == "*" {
		if s, ok := l.(string); ok && rInt {
			if ri < 0 {
				ri = 0
			}
			if int64(len(s))*ri > maxOutput {
				return nil, fmt.Errorf("string repetition larger than %d bytes", maxOutput)
			}
			return strings.Repeat(s, int(ri)), nil
		}
	}
	a, aok := number(l)
	b, bok := number(r)
	if aok && bok {
		switch e.op {
		case "+":
			return a + b, nil
		case "-":
			return a - b, nil
		case "*":
			return a * b, nil
		case "/":
			if b == 0 {
				return nil, fmt.Errorf("division by zero")
			}
			return a / b, nil
		case "//":
			if b == 0 {
				return nil, fmt.Errorf("division by zero")
			}
			return math.Floor(a / b), nil
		case "%":
			if b == 0 {
				return nil, fmt.Errorf("modulo by zero")
			}
			return a - b*math.Floor(a/b), nil
		case "**":
			if lInt && rInt && ri >= 0 {
				return int64(math.Pow(a, b)), nil
			}
			return math.Pow(a, b), nil
		}
	}
	return nil, fmt.Errorf("unsupported operand types for %s: %s and %s", e.op, typeName(l), typeName(r))
}

// contains is Python's `needle in haystack`.
func contains(haystack, needle Value) (bool, error) {
	switch h := haystack.(type) {
	case string:
		n, ok := needle.(string)
		if !ok {
			return false, fmt.Errorf("'in <string>' requires a string as left operand, not a %s", typeName(needle))
		}
		return strings.Contains(h, n), nil
	case []Value:
		for _, x := range h {
			if equal(x, needle) {
				return true, nil
			}
		}
		return false, nil
	case *Dict:
		n, ok := needle.(string)
		if !ok {
			return false, nil
		}
		_, has := h.m[n]
		return has, nil
	case undefinedType, nil:
		return false, nil
	}
	return false, fmt.Errorf("argument of type %s is not iterable", typeName(haystack))
}

// compare orders numbers and strings.
func compare(a, b Value) (int, error) {
	if x, ok := number(a); ok {
		if y, ok := number(b); ok {
			switch {
			case x < y:
				return -1, nil
			case x > y:
				return 1, nil
			}
			return 0, nil
		}
	}
	if x, ok := a.(string); ok {
		if y, ok := b.(string); ok {
			return strings.Compare(x, y), nil
		}
	}
	return 0, fmt.Errorf("values are not comparable")
}

// attribute is obj.name: a mapping's key, else a method; Undefined if neither.
func attribute(obj Value, name string) Value {
	if l, ok := obj.(*loopInfo); ok {
		return l.attr(name)
	}
	if d, ok := obj.(*Dict); ok {
		if v, ok := d.m[name]; ok {
			return v
		}
	}
	if m := method(obj, name); m != nil {
		return m
	}
	return Undefined
}

// item is obj[index].
func item(obj, index Value) (Value, error) {
	if k, ok := index.(string); ok { // obj["name"] is obj.name
		return attribute(obj, k), nil
	}
	i, ok := index.(int64)
	if !ok {
		return Undefined, nil
	}
	var seq []Value
	switch o := obj.(type) {
	case []Value:
		seq = o
	case string:
		r := []rune(o)
		if i < 0 {
			i += int64(len(r))
		}
		if i < 0 || i >= int64(len(r)) {
			return Undefined, nil
		}
		return string(r[i]), nil
	}
	if i < 0 {
		i += int64(len(seq))
	}
	if i < 0 || i >= int64(len(seq)) {
		return Undefined, nil
	}
	return seq[i], nil
}

func (st *state) evalSlice(e sliceExpr, sc *scope) (Value, error) {
	obj, err := st.eval(e.obj, sc)
	if err != nil {
		return nil, err
	}
	bound := func(x expr) (int64, bool, error) {
		if x == nil {
			return 0, false, nil
		}
		v, err := st.eval(x, sc)
		if err != nil {
			return 0, false, err
		}
		switch n := v.(type) {
		case int64:
			return n, true, nil
		case nil, undefinedType:
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("slice indices must be integers, not a %s", typeName(v))
	}
	start, hasStart, err := bound(e.start)
	if err != nil {
		return nil, err
	}
	stop, hasStop, err := bound(e.stop)
	if err != nil {
		return nil, err
	}
	stepV, hasStep, err := bound(e.step)
	if err != nil {
		return nil, err
	}
	if !hasStep {
		stepV = 1
	}
	if stepV == 0 {
		return nil, fmt.Errorf("slice step cannot be zero")
	}
	var items []Value
	isStr := false
	switch o := obj.(type) {
	case []Value:
		items = o
	case string:
		isStr = true
		for _, r := range o {
			items = append(items, string(r))
		}
	default:
		return nil, fmt.Errorf("cannot slice a %s", typeName(obj))
	}
	idx := pySliceIndices(int64(len(items)), start, hasStart, stop, hasStop, stepV)
	out := make([]Value, 0, len(idx))
	for _, i := range idx {
		out = append(out, items[i])
	}
	if isStr {
		var b strings.Builder
		for _, x := range out {
			b.WriteString(x.(string))
		}
		return b.String(), nil
	}
	return out, nil
}

// pySliceIndices lists the indices Python's seq[start:stop:step] visits.
func pySliceIndices(n, start int64, hasStart bool, stop int64, hasStop bool, step int64) []int64 {
	clamp := func(i, lo, hi int64) int64 { return max(lo, min(hi, i)) }
	norm := func(i int64, lo, hi int64) int64 {
		if i < 0 {
			i += n
		}
		return clamp(i, lo, hi)
	}
	var out []int64
	if step > 0 {
		s, e := int64(0), n
		if hasStart {
			s = norm(start, 0, n)
		}
		if hasStop {
			e = norm(stop, 0, n)
		}
		for i := s; i < e; i += step {
			out = append(out, i)
		}
		return out
	}
	s, e := n-1, int64(-1)
	if hasStart {
		s = norm(start, -1, n-1)
	}
	if hasStop {
		e = norm(stop, -1, n-1)
	}
	for i := s; i > e; i += step {
		out = append(out, i)
	}
	return out
}

// sortedKeys returns a Dict's keys sorted (dictsort).
func sortedKeys(d *Dict) []string {
	k := append([]string{}, d.keys...)
	sort.Strings(k)
	return k
}

// pyStrip is Python's str.strip/lstrip/rstrip: whitespace, or the given
// characters.
func pyStrip(s string, chars Value, left, right bool) (string, error) {
	cut := unicode.IsSpace
	switch c := chars.(type) {
	case nil, undefinedType:
	case string:
		cut = func(r rune) bool { return strings.ContainsRune(c, r) }
	default:
		return "", fmt.Errorf("strip arg must be None or str, not %s", typeName(chars))
	}
	if left {
		s = strings.TrimLeftFunc(s, cut)
	}
	if right {
		s = strings.TrimRightFunc(s, cut)
	}
	return s, nil
}
