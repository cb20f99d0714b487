package chattemplate

import (
	"fmt"
	"slices"
	"strconv"
)

// node is a statement of the template body.
type node interface{}

type (
	textNode   struct{ text string }
	outputNode struct {
		expr expr
		line int
	}
	ifNode struct {
		cond      expr
		then, els []node
		line      int
	}
	forNode struct {
		vars      []string // one name, or several to unpack each item
		iter      expr
		filter    expr // optional inline "if"
		body, els []node
		line      int
	}
	setNode struct {
		target []string // a name, or namespace and attribute
		names  []string // several names to unpack (set a, b = ...)
		value  expr
		body   []node // block form {% set x %}...{% endset %}
		line   int
	}
	controlNode struct{ brk bool } // break / continue
	macroNode   struct {
		name     string
		params   []string
		defaults []expr
		body     []node
	}
)

// expr is an expression inside a tag.
type expr interface{}

type (
	literal  struct{ v Value }
	nameExpr struct{ name string }
	listExpr struct{ items []expr }
	dictExpr struct{ keys, vals []expr }
	attrExpr struct {
		obj  expr
		name string
	}
	indexExpr struct{ obj, index expr }
	sliceExpr struct{ obj, start, stop, step expr }
	callExpr  struct {
		fn     expr
		args   []expr
		kwKeys []string
		kwVals []expr
	}
	filterExpr struct {
		operand expr
		name    string
		call    *callExpr // arguments, nil if none
	}
	testExpr struct {
		operand expr
		name    string
		negate  bool
		args    []expr
	}
	unaryExpr struct {
		op      string
		operand expr
	}
	binaryExpr struct {
		op          string
		left, right expr
	}
	condExpr struct{ cond, then, els expr }
)

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}
func (p *parser) errf(format string, a ...any) error {
	return fmt.Errorf("line %d: %s", p.peek().line, fmt.Sprintf(format, a...))
}
func (p *parser) isOp(v string) bool   { t := p.peek(); return t.kind == tokOp && t.val == v }
func (p *parser) isName(v string) bool { t := p.peek(); return t.kind == tokName && t.val == v }
func (p *parser) expectOp(v string) error {
	if !p.isOp(v) {
		return p.errf("expected %q, found %s", v, describe(p.peek()))
	}
	p.next()
	return nil
}
func (p *parser) expectKind(k tokKind, what string) (token, error) {
	if p.peek().kind != k {
		return token{}, p.errf("expected %s, found %s", what, describe(p.peek()))
	}
	return p.next(), nil
}

func describe(t token) string {
	switch t.kind {
	case tokEOF:
		return "end of template"
	case tokText:
		return "text"
	case tokExprOpen:
		return `"{{"`
	case tokExprClose:
		return `"}}"`
	case tokStmtOpen:
		return `"{%"`
	case tokStmtClose:
		return `"%}"`
	}
	return strconv.Quote(t.val)
}

// parseBody parses statements until one of the end tags (e.g. "endif",
// "elif", "else") opens a block tag; it returns the body and that tag's name,
// leaving the parser after the tag name.
func (p *parser) parseBody(ends ...string) ([]node, string, error) {
	var body []node
	for {
		t := p.peek()
		switch t.kind {
		case tokEOF:
			if len(ends) > 0 {
				return nil, "", p.errf("missing {%% %s %%}", ends[0])
			}
			return body, "", nil
		case tokText:
			p.next()
			body = append(body, textNode{t.val})
		case tokExprOpen:
			p.next()
			e, err := p.parseExpr()
			if err != nil {
				return nil, "", err
			}
			if _, err := p.expectKind(tokExprClose, `"}}"`); err != nil {
				return nil, "", err
			}
			body = append(body, outputNode{expr: e, line: t.line})
		case tokStmtOpen:
			p.next()
			name, err := p.expectKind(tokName, "a statement name")
			if err != nil {
				return nil, "", err
			}
			for _, e := range ends {
				if name.val == e {
					return body, e, nil
				}
			}
			n, err := p.parseStatement(name)
			if err != nil {
				return nil, "", err
			}
			if n != nil {
				body = append(body, n)
			}
		default:
			return nil, "", p.errf("unexpected %s", describe(t))
		}
	}
}

func (p *parser) closeStmt() error {
	_, err := p.expectKind(tokStmtClose, `"%}"`)
	return err
}

func (p *parser) parseStatement(name token) (node, error) {
	switch name.val {
	case "if":
		return p.parseIf(name.line)
	case "for":
		return p.parseFor(name.line)
	case "set":
		return p.parseSet(name.line)
	case "macro":
		return p.parseMacro()
	case "break", "continue":
		return controlNode{brk: name.val == "break"}, p.closeStmt()
	case "generation", "endgeneration":
		// transformers' assistant-mask markers render nothing.
		return nil, p.closeStmt()
	}
	switch name.val {
	case "endif", "endfor", "endset", "endmacro", "elif", "else":
		return nil, fmt.Errorf("line %d: unexpected {%% %s %%}", name.line, name.val)
	}
	return nil, fmt.Errorf("line %d: unsupported statement %q", name.line, name.val)
}

func (p *parser) parseIf(line int) (node, error) {
	cond, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	if err := p.closeStmt(); err != nil {
		return nil, err
	}
	body, end, err := p.parseBody("endif", "elif", "else")
	if err != nil {
		return nil, err
	}
	n := ifNode{cond: cond, then: body, line: line}
	switch end {
	case "elif":
		inner, err := p.parseIf(p.toks[p.pos-1].line)
		if err != nil {
			return nil, err
		}
		n.els = []node{inner}
		return n, nil
	case "else":
		if n.els, err = p.parseElse("endif"); err != nil {
			return nil, err
		}
	}
	return n, p.closeStmt()
}

// parseElse reads the rest of an {% else %} tag and its body up to end.
func (p *parser) parseElse(end string) ([]node, error) {
	if err := p.closeStmt(); err != nil {
		return nil, err
	}
	body, _, err := p.parseBody(end)
	return body, err
}

func (p *parser) parseFor(line int) (node, error) {
	n := forNode{line: line}
	for {
		t, err := p.expectKind(tokName, "a loop variable")
		if err != nil {
			return nil, err
		}
		n.vars = append(n.vars, t.val)
		if !p.isOp(",") {
			break
		}
		p.next()
	}
	if !p.isName("in") {
		return nil, p.errf(`expected "in" in for loop, found %s`, describe(p.peek()))
	}
	p.next()
	var err error
	if n.iter, err = p.parseOr(); err != nil { // no ternary: "if" filters the loop
		return nil, err
	}
	if p.isName("if") {
		p.next()
		if n.filter, err = p.parseOr(); err != nil {
			return nil, err
		}
	}
	if err := p.closeStmt(); err != nil {
		return nil, err
	}
	body, end, err := p.parseBody("endfor", "else")
	if err != nil {
		return nil, err
	}
	n.body = body
	if end == "else" {
		if n.els, err = p.parseElse("endfor"); err != nil {
			return nil, err
		}
	}
	return n, p.closeStmt()
}

func (p *parser) parseSet(line int) (node, error) {
	n := setNode{line: line}
	t, err := p.expectKind(tokName, "a variable name")
	if err != nil {
		return nil, err
	}
	n.target = []string{t.val}
	switch {
	case p.isOp("."):
		p.next()
		a, err := p.expectKind(tokName, "an attribute name")
		if err != nil {
			return nil, err
		}
		n.target = append(n.target, a.val)
	case p.isOp(","):
		n.names = []string{t.val}
		for p.isOp(",") {
			p.next()
			a, err := p.expectKind(tokName, "a variable name")
			if err != nil {
				return nil, err
			}
			n.names = append(n.names, a.val)
		}
	}
	if p.peek().kind == tokStmtClose && len(n.names) == 0 {
		p.next()
		if n.body, _, err = p.parseBody("endset"); err != nil {
			return nil, err
		}
		return n, p.closeStmt()
	}
	if err := p.expectOp("="); err != nil {
		return nil, err
	}
	if n.value, err = p.parseTuple(); err != nil {
		return nil, err
	}
	return n, p.closeStmt()
}

func (p *parser) parseMacro() (node, error) {
	name, err := p.expectKind(tokName, "a macro name")
	if err != nil {
		return nil, err
	}
	n := macroNode{name: name.val}
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	for !p.isOp(")") {
		a, err := p.expectKind(tokName, "a parameter name")
		if err != nil {
			return nil, err
		}
		n.params = append(n.params, a.val)
		var def expr
		if p.isOp("=") {
			p.next()
			if def, err = p.parseExpr(); err != nil {
				return nil, err
			}
		}
		n.defaults = append(n.defaults, def)
		if !p.isOp(",") {
			break
		}
		p.next()
	}
	if err := p.expectOp(")"); err != nil {
		return nil, err
	}
	if err := p.closeStmt(); err != nil {
		return nil, err
	}
	if n.body, _, err = p.parseBody("endmacro"); err != nil {
		return nil, err
	}
	return n, p.closeStmt()
}

// parseTuple parses "a, b, c" (a list value) or a single expression.
func (p *parser) parseTuple() (expr, error) {
	e, err := p.parseExpr()
	if err != nil || !p.isOp(",") {
		return e, err
	}
	items := []expr{e}
	for p.isOp(",") {
		p.next()
		e, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		items = append(items, e)
	}
	return listExpr{items}, nil
}

// Precedence, loosest first (as Jinja's parser): conditional, or, and, not,
// comparison (incl. in / not in), +/-, ~, * / // %, unary -, **, then
// postfix (attribute, subscript, call, filter, test).
func (p *parser) parseExpr() (expr, error) {
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.isName("if") {
		p.next()
		cond, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		var els expr = literal{Undefined}
		if p.isName("else") {
			p.next()
			if els, err = p.parseExpr(); err != nil {
				return nil, err
			}
		}
		return condExpr{cond: cond, then: e, els: els}, nil
	}
	return e, nil
}

// leftAssoc parses one level of left-associative binary operators:
// operand (op operand)*, ops being operator symbols or the keywords "or" and
// "and".
func (p *parser) leftAssoc(operand func() (expr, error), ops ...string) (expr, error) {
	l, err := operand()
	for err == nil {
		t := p.peek()
		if (t.kind != tokOp && t.kind != tokName) || !slices.Contains(ops, t.val) {
			break
		}
		p.next()
		var r expr
		if r, err = operand(); err == nil {
			l = binaryExpr{t.val, l, r}
		}
	}
	return l, err
}

func (p *parser) parseOr() (expr, error) {
	return p.leftAssoc(p.parseAnd, "or")
}

func (p *parser) parseAnd() (expr, error) {
	return p.leftAssoc(p.parseNot, "and")
}

func (p *parser) parseNot() (expr, error) {
	if p.isName("not") {
		p.next()
		e, err := p.parseNot()
		return unaryExpr{"not", e}, err
	}
	return p.parseCompare()
}

func (p *parser) parseCompare() (expr, error) {
	l, err := p.parseAdd()
	for err == nil {
		var op string
		switch t := p.peek(); {
		case t.kind == tokOp && (t.val == "==" || t.val == "!=" || t.val == "<" || t.val == ">" || t.val == "<=" || t.val == ">="):
			op = t.val
			p.next()
		case p.isName("in"):
			op = "in"
			p.next()
		case p.isName("not") && p.pos+1 < len(p.toks) && p.toks[p.pos+1].kind == tokName && p.toks[p.pos+1].val == "in":
			op = "not in"
			p.pos += 2
		default:
			return l, nil
		}
		var r expr
		if r, err = p.parseAdd(); err == nil {
			l = binaryExpr{op, l, r}
		}
	}
	return nil, err
}

func (p *parser) parseAdd() (expr, error) {
	return p.leftAssoc(p.parseConcat, "+", "-")
}

func (p *parser) parseConcat() (expr, error) {
	return p.leftAssoc(p.parseMul, "~")
}

func (p *parser) parseMul() (expr, error) {
	return p.leftAssoc(p.parseUnary, "*", "/", "//", "%")
}

func (p *parser) parseUnary() (expr, error) {
	if p.isOp("-") || p.isOp("+") {
		op := p.next().val
		e, err := p.parseUnary()
		return unaryExpr{op, e}, err
	}
	l, err := p.parsePostfix()
	for err == nil && p.isOp("**") {
		p.next()
		var r expr
		if r, err = p.parseUnary(); err == nil {
			l = binaryExpr{"**", l, r}
		}
	}
	return l, err
}

func (p *parser) parsePostfix() (expr, error) {
	e, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("."):
			p.next()
			t := p.next()
			if t.kind != tokName && t.kind != tokInt {
				return nil, fmt.Errorf("line %d: expected an attribute name after '.', found %s", t.line, describe(t))
			}
			if t.kind == tokInt {
				n, _ := strconv.ParseInt(t.val, 10, 64)
				e = indexExpr{e, literal{n}}
			} else {
				e = attrExpr{e, t.val}
			}
		case p.isOp("["):
			p.next()
			if e, err = p.parseSubscript(e); err != nil {
				return nil, err
			}
		case p.isOp("("):
			c, err := p.parseCallArgs()
			if err != nil {
				return nil, err
			}
			c.fn = e
			e = c
		case p.isOp("|"):
			p.next()
			name, err := p.expectKind(tokName, "a filter name")
			if err != nil {
				return nil, err
			}
			f := filterExpr{operand: e, name: name.val}
			if p.isOp("(") {
				if f.call, err = p.parseCallArgs(); err != nil {
					return nil, err
				}
			}
			e = f
		case p.isName("is"):
			p.next()
			te := testExpr{operand: e}
			if p.isName("not") {
				p.next()
				te.negate = true
			}
			name := p.next()
			if name.kind != tokName && !(name.kind == tokOp && (name.val == "==" || name.val == "!=" || name.val == "<" || name.val == ">" || name.val == "<=" || name.val == ">=")) {
				return nil, fmt.Errorf("line %d: expected a test name after 'is', found %s", name.line, describe(name))
			}
			te.name = name.val
			if p.isOp("(") {
				c, err := p.parseCallArgs()
				if err != nil {
					return nil, err
				}
				te.args = c.args
			} else if t := p.peek(); t.kind == tokString || t.kind == tokInt || t.kind == tokFloat || (t.kind == tokName && !isKeyword(t.val)) {
				a, err := p.parsePrimary()
				if err != nil {
					return nil, err
				}
				te.args = []expr{a}
			}
			e = te
		default:
			return e, nil
		}
	}
}

func isKeyword(s string) bool {
	switch s {
	case "and", "or", "not", "in", "is", "if", "else":
		return true
	}
	return false
}

func (p *parser) parseSubscript(obj expr) (expr, error) {
	var parts [3]expr
	idx, isSlice := 0, false
	for {
		if p.isOp("]") {
			p.next()
			break
		}
		if p.isOp(":") {
			p.next()
			isSlice = true
			idx++
			if idx > 2 {
				return nil, p.errf("too many ':' in slice")
			}
			continue
		}
		e, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		parts[idx] = e
	}
	if !isSlice {
		if parts[0] == nil {
			return nil, p.errf("empty subscript")
		}
		return indexExpr{obj, parts[0]}, nil
	}
	return sliceExpr{obj, parts[0], parts[1], parts[2]}, nil
}

func (p *parser) parseCallArgs() (*callExpr, error) {
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	c := &callExpr{}
	for !p.isOp(")") {
		if t := p.peek(); t.kind == tokName && p.pos+1 < len(p.toks) && p.toks[p.pos+1].kind == tokOp && p.toks[p.pos+1].val == "=" {
			p.pos += 2
			v, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			c.kwKeys = append(c.kwKeys, t.val)
			c.kwVals = append(c.kwVals, v)
		} else {
			v, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, v)
		}
		if !p.isOp(",") {
			break
		}
		p.next()
	}
	return c, p.expectOp(")")
}

func (p *parser) parsePrimary() (expr, error) {
	t := p.next()
	switch t.kind {
	case tokString:
		s := t.val
		for p.peek().kind == tokString { // adjacent literals concatenate
			s += p.next().val
		}
		return literal{s}, nil
	case tokInt:
		n, err := strconv.ParseInt(t.val, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: integer %s: %w", t.line, t.val, err)
		}
		return literal{n}, nil
	case tokFloat:
		f, err := strconv.ParseFloat(t.val, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: number %s: %w", t.line, t.val, err)
		}
		return literal{f}, nil
	case tokName:
		switch t.val {
		case "true", "True":
			return literal{true}, nil
		case "false", "False":
			return literal{false}, nil
		case "none", "None":
			return literal{nil}, nil
		}
		return nameExpr{t.val}, nil
	case tokOp:
		switch t.val {
		case "(":
			if p.isOp(")") {
				p.next()
				return listExpr{}, nil
			}
			e, err := p.parseTuple()
			if err != nil {
				return nil, err
			}
			return e, p.expectOp(")")
		case "[":
			var l listExpr
			for !p.isOp("]") {
				e, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				l.items = append(l.items, e)
				if !p.isOp(",") {
					break
				}
				p.next()
			}
			return l, p.expectOp("]")
		case "{":
			var d dictExpr
			for !p.isOp("}") {
				k, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				if err := p.expectOp(":"); err != nil {
					return nil, err
				}
				v, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				d.keys, d.vals = append(d.keys, k), append(d.vals, v)
				if !p.isOp(",") {
					break
				}
				p.next()
			}
			return d, p.expectOp("}")
		}
	}
	return nil, fmt.Errorf("line %d: unexpected %s in expression", t.line, describe(t))
}
