package sql

import (
	"strconv"
	"strings"
)

// The grammar, informally (keywords in any case; [ ] optional, { } repeated):
//
//	script     = [statement] { ";" [statement] }
//	statement  = CREATE SOURCE name "(" element { "," element } ")" WITH options
//	           | CREATE TABLE name [ "(" element { "," element } ")" ] WITH options
//	           | CREATE SINK name WITH options AS query
//	           | CREATE SINK name FROM name WITH options      (SELECT * FROM name)
//	           | query
//	element    = name type { NOT NULL | METADATA [FROM 'key'] } | name AS expr
//	           | CONSTRAINT name CHECK "(" expr ")" | WATERMARK FOR name AS expr
//	options    = "(" key "=" value { "," key "=" value } ")"
//	key        = word { "." word } | 'string'
//	value      = 'string' | [ "-" | "+" ] number | TRUE | FALSE
//	query      = SELECT [DISTINCT | ALL] item { "," item } [FROM from] [WHERE expr]
//	             [GROUP BY expr { "," expr }] [HAVING expr]
//	             [ORDER BY expr [ASC | DESC] [NULLS FIRST | LAST] { "," … }] [LIMIT expr]
//	           | "(" query ")"
//	item       = "*" | name "." "*" | expr [[AS] name]
//	from       = relation { "," relation } { LATERAL VIEW [OUTER] name "(" args ")" name [[AS] name { "," name }] }
//	relation   = primary { [INNER | CROSS | LEFT [OUTER] | RIGHT [OUTER] | FULL [OUTER]] JOIN primary [ON expr] }
//	primary    = name [VERSION AS OF integer | TIMESTAMP AS OF 'ts'] [[AS] name]
//	           | "(" query ")" [[AS] name] | "(" from ")" [[AS] name]
//
// Expressions follow Spark SQL's precedence, loosest first: OR; AND; NOT;
// a predicate on a value (IS [NOT] NULL, [NOT] IN (…), [NOT] BETWEEN … AND
// …, [NOT] LIKE, [NOT] RLIKE, which is read as [NOT] rlike(x, pattern));
// comparisons (= == <> != < <= > >=); + - ||; * / % DIV;
// unary - +; postfix :: type. Primaries are literals (42, 42L, 1.5, 1.5BD,
// 1e3, 1.5D, 'text' with backslash escapes, adjacent strings concatenated,
// TRUE, FALSE, NULL, TIMESTAMP '…', DATE '…', INTERVAL …), names (a, t.a,
// window.end), calls (f(args), count(*), count(DISTINCT x), agg(x) FILTER
// (WHERE cond), current_timestamp and current_date without parentheses),
// CASE, CAST(x AS type) and parenthesized expressions.

// Parse parses a script: statements separated by ';' (the last one may
// omit it; empty statements are allowed). Every error is an *Error whose
// File is file and whose position is where the offending token starts.
func Parse(file, text string) (*Script, error) {
	s, err := parseScript(text)
	if err != nil {
		if e, ok := err.(*Error); ok {
			e.File = file
		}
		return nil, err
	}
	s.File = file
	return s, nil
}

// ParseExpr parses a single expression (for tests and tools).
func ParseExpr(text string) (Expr, error) {
	p, err := newParser(text)
	if err != nil {
		return nil, err
	}
	x, err := p.expr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.expected("end of the expression", t)
	}
	return x, nil
}

func parseScript(text string) (*Script, error) {
	p, err := newParser(text)
	if err != nil {
		return nil, err
	}
	s := &Script{}
	for {
		for p.acceptOp(";") {
		}
		if p.peek().kind == tEOF {
			return s, nil
		}
		st, err := p.statement()
		if err != nil {
			return nil, err
		}
		s.Statements = append(s.Statements, st)
		if t := p.peek(); t.kind != tEOF && !p.isOp(t, ";") {
			return nil, p.expected("';' or end of input", t)
		}
	}
}

// maxDepth bounds the nesting of expressions and queries, so that hostile
// input is refused with an error instead of exhausting the stack.
const maxDepth = 200

type parser struct {
	src       string
	toks      []token
	i         int
	depth     int
	caseDepth int // > 0 inside CASE … END, where END is a keyword
}

func newParser(text string) (*parser, error) {
	toks, err := lex(text)
	if err != nil {
		return nil, err
	}
	return &parser{src: text, toks: toks}, nil
}

// ---- Token helpers ----

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) peekN(n int) token {
	if j := p.i + n; j < len(p.toks) {
		return p.toks[j]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isOp(t token, op string) bool { return t.kind == tOp && t.text == op }

func (p *parser) acceptOp(op string) bool {
	if p.isOp(p.peek(), op) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectOp(op string) (token, error) {
	t := p.peek()
	if !p.isOp(t, op) {
		return t, p.expected("'"+op+"'", t)
	}
	p.i++
	return t, nil
}

// isKw reports whether t is the keyword kw (given in upper case).
func isKw(t token, kw string) bool { return t.kind == tWord && strings.EqualFold(t.text, kw) }

func (p *parser) atKw(kw string) bool { return isKw(p.peek(), kw) }

func (p *parser) acceptKw(kw string) bool {
	if p.atKw(kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectKw(kw string) (token, error) {
	t := p.peek()
	if !isKw(t, kw) {
		return t, p.expected(kw, t)
	}
	p.i++
	return t, nil
}

func (p *parser) errAt(t token, format string, args ...any) error {
	return Errorf(t.pos, format, args...)
}

// expected reports "expected <what> but found <t>" at t.
func (p *parser) expected(what string, t token) error {
	return Errorf(t.pos, "expected %s but found %s", what, describeTok(p.src, t))
}

func (p *parser) enter(t token) error {
	p.depth++
	if p.depth > maxDepth {
		return p.errAt(t, "query is nested too deeply (more than %d levels)", maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// reserved are the words that cannot be a bare identifier: a column or
// table name, or an alias written without AS. The set is kept as small as
// the grammar allows (Spark's default, non-ANSI mode reserves almost
// nothing), so that key, value, partition, offset, timestamp, date,
// window, count, source, sink, table… remain usable as names. A reserved
// word can still be used `backquoted`; any word may follow a dot
// (window.end); outside CASE, END can name a column (SELECT start, end);
// and after AS any word but a clause's first is an alias.
var reserved = map[string]bool{
	"ALL": true, "AND": true, "ANTI": true, "AS": true, "BETWEEN": true, "BY": true,
	"CASE": true, "CAST": true, "CONSTRAINT": true, "CREATE": true, "CROSS": true,
	"DISTINCT": true, "ELSE": true, "END": true, "EXCEPT": true, "EXISTS": true,
	"FALSE": true, "FROM": true, "FULL": true, "GROUP": true, "HAVING": true,
	"ILIKE": true, "IN": true, "INNER": true, "INTERSECT": true, "INTERVAL": true,
	"IS": true, "JOIN": true, "LATERAL": true, "LEFT": true, "LIKE": true,
	"LIMIT": true, "MINUS": true, "NATURAL": true, "NOT": true, "NULL": true,
	"ON": true, "OR": true, "ORDER": true, "OUTER": true, "OVER": true,
	"REGEXP": true, "RIGHT": true, "RLIKE": true, "SELECT": true, "SEMI": true,
	"THEN": true, "TRUE": true, "UNION": true, "USING": true, "WHEN": true,
	"WHERE": true, "WITH": true,
}

// clauseWords start a clause or a join: they are refused as a name even
// after AS, where any other word is accepted, so that a forgotten alias
// (SELECT a AS FROM t) is reported where it is.
var clauseWords = map[string]bool{
	"AS": true, "CROSS": true, "EXCEPT": true, "FROM": true, "FULL": true, "GROUP": true,
	"HAVING": true, "INNER": true, "INTERSECT": true, "JOIN": true, "LATERAL": true,
	"LEFT": true, "LIMIT": true, "MINUS": true, "NATURAL": true, "ON": true, "ORDER": true,
	"RIGHT": true, "SELECT": true, "UNION": true, "USING": true, "WHERE": true, "WITH": true,
}

// isReserved reports whether word (any case) is reserved, without
// allocating for words of up to 16 bytes.
func isReserved(word string) bool {
	if len(word) > 16 {
		return false
	}
	var buf [16]byte
	for i := 0; i < len(word); i++ {
		c := word[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	return reserved[string(buf[:len(word)])]
}

// isName reports whether t can be a bare identifier here.
func (p *parser) isName(t token) bool {
	return t.kind == tQuoted || t.kind == tWord && !isReserved(t.text)
}

func identOf(t token) Ident { return Ident{At: t.pos, Name: t.text, Quoted: t.kind == tQuoted} }

// name accepts an identifier; what names it for the error message.
func (p *parser) name(what string) (Ident, error) {
	t := p.peek()
	if !p.isName(t) {
		if t.kind == tWord {
			return Ident{}, p.errAt(t, "expected %s but found the keyword %s (write `%s` to use it as a name)", what, describeTok(p.src, t), t.text)
		}
		return Ident{}, p.expected(what, t)
	}
	p.i++
	return identOf(t), nil
}

// ---- Statements ----

func (p *parser) statement() (Statement, error) {
	t := p.peek()
	switch {
	case isKw(t, "CREATE"):
		return p.create()
	case isKw(t, "SELECT"), p.isOp(t, "("):
		return p.query()
	case isKw(t, "INSERT"):
		return nil, p.errAt(t, "INSERT is not supported: write CREATE SINK name WITH (…) AS SELECT …")
	case isKw(t, "WITH"):
		return nil, p.errAt(t, "WITH (common table expressions) is not supported: use a subquery in FROM")
	}
	return nil, p.expected("a statement (CREATE SOURCE, CREATE TABLE, CREATE SINK or SELECT)", t)
}

func (p *parser) create() (Statement, error) {
	at := p.next() // CREATE
	t := p.peek()
	switch {
	case isKw(t, "SOURCE"):
		p.i++
		return p.createSource(at, false)
	case isKw(t, "TABLE"):
		p.i++
		return p.createSource(at, true)
	case isKw(t, "SINK"):
		p.i++
		return p.createSink(at)
	}
	return nil, p.expected("SOURCE, TABLE or SINK after CREATE", t)
}

func (p *parser) createSource(at token, table bool) (*CreateSource, error) {
	s := &CreateSource{At: at.pos, Table: table}
	var err error
	what := "a source name"
	if table {
		what = "a table name"
	}
	if s.Name, err = p.name(what); err != nil {
		return nil, err
	}
	if p.isOp(p.peek(), "(") {
		if err := p.sourceElements(s); err != nil {
			return nil, err
		}
	} else if !table {
		return nil, p.expected("'(' and the source's columns", p.peek())
	}
	if _, err := p.expectKw("WITH"); err != nil {
		return nil, err
	}
	if s.With, err = p.options(); err != nil {
		return nil, err
	}
	return s, nil
}

// sourceElements parses ( element, … ): columns, CONSTRAINT … CHECK and
// WATERMARK FOR, in any order.
func (p *parser) sourceElements(s *CreateSource) error {
	p.next() // (
	for {
		t := p.peek()
		switch {
		case isKw(t, "CONSTRAINT"):
			p.i++
			c := &CheckDef{At: t.pos}
			var err error
			if c.Name, err = p.name("a constraint name (the reason a failing record is sent to the dead-letter topic with)"); err != nil {
				return err
			}
			if _, err := p.expectKw("CHECK"); err != nil {
				return err
			}
			if c.Expr, err = p.parenExpr(); err != nil {
				return err
			}
			s.Checks = append(s.Checks, c)
		case isKw(t, "CHECK") && p.isOp(p.peekN(1), "("):
			return p.errAt(t, "a CHECK needs a name, the reason a failing record is sent to the dead-letter topic with: write CONSTRAINT reason CHECK (…)")
		case isKw(t, "WATERMARK") && isKw(p.peekN(1), "FOR"):
			p.i += 2
			if s.Watermark != nil {
				return p.errAt(t, "a source has at most one WATERMARK (the first is at %s)", s.Watermark.At)
			}
			w := &WatermarkDef{At: t.pos}
			var err error
			if w.Column, err = p.name("the event-time column"); err != nil {
				return err
			}
			if _, err := p.expectKw("AS"); err != nil {
				return err
			}
			if w.Expr, err = p.expr(); err != nil {
				return err
			}
			s.Watermark = w
		default:
			c, err := p.columnDef()
			if err != nil {
				return err
			}
			s.Columns = append(s.Columns, c)
		}
		if p.acceptOp(",") {
			continue
		}
		if _, err := p.expectOp(")"); err != nil {
			if t := p.peek(); t.kind != tEOF && !p.isOp(t, ";") {
				return p.expected("',' or ')'", t)
			}
			return err
		}
		return nil
	}
}

func (p *parser) columnDef() (*ColumnDef, error) {
	// A type follows the name, so any word can name a column here (a
	// reserved one must then be backquoted where the column is used).
	t := p.peek()
	if t.kind != tWord && t.kind != tQuoted {
		return nil, p.expected("a column name, CONSTRAINT or WATERMARK FOR", t)
	}
	p.i++
	c := &ColumnDef{At: t.pos, Name: identOf(t)}
	var err error
	if p.acceptKw("AS") {
		if c.Computed, err = p.expr(); err != nil {
			return nil, err
		}
		return c, nil
	}
	if c.Type, err = p.typeName(); err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case isKw(t, "NOT"):
			p.i++
			if _, err := p.expectKw("NULL"); err != nil {
				return nil, err
			}
			if c.NotNull {
				return nil, p.errAt(t, "NOT NULL is written twice")
			}
			c.NotNull = true
		case isKw(t, "METADATA"):
			p.i++
			if c.Metadata {
				return nil, p.errAt(t, "METADATA is written twice")
			}
			c.Metadata = true
			if p.acceptKw("FROM") {
				k := p.peek()
				if k.kind != tString {
					return nil, p.expected("a metadata key in quotes (e.g. 'partition')", k)
				}
				p.i++
				c.From = k.text
			}
		default:
			return c, nil
		}
	}
}

// typeName parses NAME or NAME(n[, m]).
func (p *parser) typeName() (*TypeName, error) {
	t := p.peek()
	if t.kind != tWord {
		return nil, p.expected("a type (STRING, BIGINT, DOUBLE, BOOLEAN, DECIMAL(p,s), TIMESTAMP…)", t)
	}
	p.i++
	ty := &TypeName{At: t.pos, Name: t.text}
	if p.isOp(p.peek(), "<") {
		return nil, p.errAt(p.peek(), "complex types (%s<…>) are not supported", strings.ToUpper(t.text))
	}
	if !p.acceptOp("(") {
		return ty, nil
	}
	for {
		n := p.peek()
		v, err := strconv.Atoi(n.text)
		if n.kind != tNumber || n.lit != LitInteger || n.end-n.off != len(n.text) || err != nil {
			return nil, p.expected("an integer type parameter", n)
		}
		p.i++
		ty.Args = append(ty.Args, v)
		if p.acceptOp(",") {
			continue
		}
		if _, err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return ty, nil
	}
}

// options parses ( key = value, … ). Keys are dotted words or quoted
// strings; values are strings, numbers or TRUE/FALSE.
func (p *parser) options() ([]*Option, error) {
	if _, err := p.expectOp("("); err != nil {
		return nil, err
	}
	var opts []*Option
	for {
		kt := p.peek()
		o := &Option{At: kt.pos}
		switch kt.kind {
		case tString:
			p.i++
			o.Key = kt.text
		case tWord, tQuoted:
			p.i++
			o.Key = kt.text
			for p.isOp(p.peek(), ".") {
				n := p.peekN(1)
				if n.kind != tWord && n.kind != tQuoted {
					return nil, p.expected("the rest of the option key after '.'", n)
				}
				p.i += 2
				o.Key += "." + n.text
			}
		default:
			return nil, p.expected("an option key (e.g. topic or 'scan.startup.mode')", kt)
		}
		for _, prev := range opts {
			if strings.EqualFold(prev.Key, o.Key) {
				return nil, p.errAt(kt, "option '%s' is set twice (first at %s)", o.Key, prev.At)
			}
		}
		if _, err := p.expectOp("="); err != nil {
			return nil, err
		}
		vt := p.peek()
		o.ValAt = vt.pos
		switch {
		case vt.kind == tString:
			o.Value = p.stringLit()
		case vt.kind == tNumber:
			p.i++
			o.Value = p.src[vt.off:vt.end]
		case (p.isOp(vt, "-") || p.isOp(vt, "+")) && p.peekN(1).kind == tNumber:
			n := p.peekN(1)
			p.i += 2
			o.Value = vt.text + p.src[n.off:n.end]
		case isKw(vt, "TRUE"), isKw(vt, "FALSE"):
			p.i++
			o.Value = strings.ToLower(vt.text)
		default:
			return nil, p.expected("an option value (a 'string', a number, TRUE or FALSE)", vt)
		}
		opts = append(opts, o)
		if p.acceptOp(",") {
			continue
		}
		if _, err := p.expectOp(")"); err != nil {
			if t := p.peek(); t.kind != tEOF && !p.isOp(t, ";") {
				return nil, p.expected("',' or ')'", t)
			}
			return nil, err
		}
		return opts, nil
	}
}

func (p *parser) createSink(at token) (*CreateSink, error) {
	s := &CreateSink{At: at.pos}
	var err error
	if s.Name, err = p.name("a sink name"); err != nil {
		return nil, err
	}
	var from token
	var source Ident
	hasFrom := false
	if isKw(p.peek(), "FROM") {
		from = p.next()
		hasFrom = true
		if source, err = p.name("the source or table the sink reads"); err != nil {
			return nil, err
		}
	}
	if _, err := p.expectKw("WITH"); err != nil {
		return nil, err
	}
	if s.With, err = p.options(); err != nil {
		return nil, err
	}
	if hasFrom {
		if t := p.peek(); isKw(t, "AS") {
			return nil, p.errAt(t, "CREATE SINK takes either FROM source or AS SELECT …, not both")
		}
		s.Query = &Select{At: from.pos, Items: []*SelectItem{{At: source.At, Star: true}}, From: &TableRef{At: source.At, Name: source}}
		return s, nil
	}
	if _, err := p.expectKw("AS"); err != nil {
		return nil, err
	}
	if s.Query, err = p.query(); err != nil {
		return nil, err
	}
	return s, nil
}

// ---- Queries ----

// query parses SELECT … or ( query ), and refuses set operations.
func (p *parser) query() (*Select, error) {
	t := p.peek()
	if err := p.enter(t); err != nil {
		return nil, err
	}
	defer p.leave()
	var q *Select
	var err error
	if p.acceptOp("(") {
		if q, err = p.query(); err != nil {
			return nil, err
		}
		if _, err := p.expectOp(")"); err != nil {
			return nil, err
		}
	} else if q, err = p.selectBlock(); err != nil {
		return nil, err
	}
	if t := p.peek(); isKw(t, "UNION") || isKw(t, "EXCEPT") || isKw(t, "INTERSECT") || isKw(t, "MINUS") {
		return nil, p.errAt(t, "%s is not supported", strings.ToUpper(t.text))
	}
	return q, nil
}

// clauses lists a query block's clauses in the order they must appear.
var clauses = [...]string{"FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT"}

func (p *parser) selectBlock() (*Select, error) {
	at, err := p.expectKw("SELECT")
	if err != nil {
		return nil, err
	}
	s := &Select{At: at.pos}
	if p.acceptKw("DISTINCT") {
		s.Distinct = true
	} else {
		p.acceptKw("ALL")
	}
	for {
		it, err := p.selectItem()
		if err != nil {
			return nil, err
		}
		s.Items = append(s.Items, it)
		if !p.acceptOp(",") {
			break
		}
	}
	last := -1 // index in clauses of the last clause read
	for ci, kw := range clauses {
		t := p.peek()
		if !isKw(t, kw) {
			continue
		}
		p.i++
		last = ci
		switch kw {
		case "FROM":
			s.From, err = p.from()
		case "WHERE":
			s.Where, err = p.expr()
		case "GROUP":
			if _, err = p.expectKw("BY"); err == nil {
				s.GroupBy, err = p.exprList()
			}
			if err == nil && isKw(p.peek(), "WITH") {
				err = p.errAt(p.peek(), "GROUP BY … WITH ROLLUP/CUBE is not supported")
			}
		case "HAVING":
			s.Having, err = p.expr()
		case "ORDER":
			if _, err = p.expectKw("BY"); err == nil {
				s.OrderBy, err = p.orderItems()
			}
		case "LIMIT":
			s.Limit, err = p.expr()
		}
		if err != nil {
			return nil, err
		}
	}
	// A clause out of order gets a message that says so.
	t := p.peek()
	for ci, kw := range clauses {
		if ci <= last && isKw(t, kw) {
			return nil, p.errAt(t, "%s is out of place: a query's clauses go in the order SELECT, FROM, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT", strings.ToUpper(t.text))
		}
	}
	return s, nil
}

func (p *parser) exprList() ([]Expr, error) {
	var xs []Expr
	for {
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		xs = append(xs, x)
		if !p.acceptOp(",") {
			return xs, nil
		}
	}
}

func (p *parser) selectItem() (*SelectItem, error) {
	t := p.peek()
	if p.isOp(t, "*") {
		p.i++
		return &SelectItem{At: t.pos, Star: true}, nil
	}
	if (t.kind == tWord || t.kind == tQuoted) && p.isOp(p.peekN(1), ".") && p.isOp(p.peekN(2), "*") {
		p.i += 3
		of := identOf(t)
		return &SelectItem{At: t.pos, Star: true, Of: &of}, nil
	}
	x, err := p.expr()
	if err != nil {
		return nil, err
	}
	it := &SelectItem{At: x.Start(), Expr: x}
	if it.Alias, err = p.alias("a column alias"); err != nil {
		return nil, err
	}
	return it, nil
}

// alias parses [AS] name; it returns nil when no alias is written.
func (p *parser) alias(what string) (*Ident, error) {
	if p.acceptKw("AS") {
		t := p.peek()
		if p.isOp(t, "(") {
			return nil, p.errAt(t, "multiple aliases AS (a, b) are not supported")
		}
		// After AS a name is expected, so any word but one that starts a
		// clause is taken as written: x AS end, y AS case.
		if t.kind == tWord && !clauseWords[strings.ToUpper(t.text)] {
			p.i++
			n := identOf(t)
			return &n, nil
		}
		n, err := p.name(what)
		if err != nil {
			return nil, err
		}
		return &n, nil
	}
	if t := p.peek(); p.isName(t) {
		p.i++
		n := identOf(t)
		return &n, nil
	}
	return nil, nil
}

func (p *parser) orderItems() ([]*OrderItem, error) {
	var items []*OrderItem
	for {
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		it := &OrderItem{At: x.Start(), Expr: x}
		if p.acceptKw("DESC") {
			it.Desc = true
		} else {
			p.acceptKw("ASC")
		}
		if t := p.peek(); isKw(t, "NULLS") {
			p.i++
			var first bool
			switch n := p.peek(); {
			case isKw(n, "FIRST"):
				first = true
			case isKw(n, "LAST"):
			default:
				return nil, p.expected("FIRST or LAST after NULLS", n)
			}
			p.i++
			it.NullsFirst = &first
		}
		items = append(items, it)
		if !p.acceptOp(",") {
			return items, nil
		}
	}
}

// from parses relation[, relation…] [LATERAL VIEW …]…; a comma is a CROSS join.
func (p *parser) from() (TableExpr, error) {
	rel, err := p.relation()
	if err != nil {
		return nil, err
	}
	for p.acceptOp(",") {
		r, err := p.relation()
		if err != nil {
			return nil, err
		}
		rel = &Join{At: rel.Start(), Kind: "CROSS", Left: rel, Right: r}
	}
	for isKw(p.peek(), "LATERAL") {
		if rel, err = p.lateralView(rel); err != nil {
			return nil, err
		}
	}
	return rel, nil
}

// joinKind reads the words before JOIN; ok is false when no join follows.
func (p *parser) joinKind() (kind string, ok bool, err error) {
	t := p.peek()
	switch {
	case isKw(t, "JOIN"):
		p.i++
		return "INNER", true, nil
	case isKw(t, "INNER"), isKw(t, "CROSS"):
		p.i++
		_, err := p.expectKw("JOIN")
		return strings.ToUpper(t.text), err == nil, err
	case isKw(t, "LEFT"), isKw(t, "RIGHT"), isKw(t, "FULL"):
		p.i++
		if n := p.peek(); isKw(n, "SEMI") || isKw(n, "ANTI") {
			return "", false, p.errAt(n, "%s %s JOIN is not supported", strings.ToUpper(t.text), strings.ToUpper(n.text))
		}
		p.acceptKw("OUTER")
		_, err := p.expectKw("JOIN")
		return strings.ToUpper(t.text), err == nil, err
	case isKw(t, "NATURAL"):
		return "", false, p.errAt(t, "NATURAL JOIN is not supported: write JOIN … ON")
	}
	return "", false, nil
}

func (p *parser) relation() (TableExpr, error) {
	left, err := p.relationPrimary()
	if err != nil {
		return nil, err
	}
	for {
		kind, ok, err := p.joinKind()
		if err != nil {
			return nil, err
		}
		if !ok {
			return left, nil
		}
		right, err := p.relationPrimary()
		if err != nil {
			return nil, err
		}
		j := &Join{At: left.Start(), Kind: kind, Left: left, Right: right}
		if t := p.peek(); isKw(t, "USING") {
			return nil, p.errAt(t, "JOIN … USING is not supported: write ON a.col = b.col")
		}
		if p.acceptKw("ON") {
			if j.On, err = p.expr(); err != nil {
				return nil, err
			}
		}
		left = j
	}
}

func (p *parser) relationPrimary() (TableExpr, error) {
	t := p.peek()
	if p.isOp(t, "(") {
		if err := p.enter(t); err != nil {
			return nil, err
		}
		defer p.leave()
		if isKw(p.peekN(1), "SELECT") {
			q, err := p.query()
			if err != nil {
				return nil, err
			}
			sq := &SubqueryRef{At: t.pos, Query: q}
			if sq.Alias, err = p.alias("a subquery alias"); err != nil {
				return nil, err
			}
			return sq, nil
		}
		p.i++
		rel, err := p.from()
		if err != nil {
			return nil, err
		}
		if _, err := p.expectOp(")"); err != nil {
			return nil, err
		}
		// An alias after the parentheses names a table or subquery that
		// has none; a parenthesized join cannot be named.
		at := p.peek()
		alias, err := p.alias("an alias")
		if err != nil || alias == nil {
			return rel, err
		}
		switch r := rel.(type) {
		case *TableRef:
			if r.Alias == nil {
				r.Alias = alias
				return r, nil
			}
		case *SubqueryRef:
			if r.Alias == nil {
				r.Alias = alias
				return r, nil
			}
		}
		return nil, p.errAt(at, "a parenthesized join or an already aliased relation cannot be given an alias")
	}
	name, err := p.name("a table name or '('")
	if err != nil {
		return nil, err
	}
	if n := p.peek(); p.isOp(n, ".") {
		return nil, p.errAt(n, "qualified table names (db.table) are not supported: name a source or table declared with CREATE")
	}
	if n := p.peek(); p.isOp(n, "(") {
		return nil, p.errAt(t, "table-valued functions are not supported: '%s' must name a source or table", name.Name)
	}
	ref := &TableRef{At: t.pos, Name: name}
	if n := p.peek(); (isKw(n, "VERSION") || isKw(n, "TIMESTAMP")) && isKw(p.peekN(1), "AS") && isKw(p.peekN(2), "OF") {
		p.i += 3
		v := p.peek()
		if isKw(n, "VERSION") {
			num, err := strconv.ParseInt(v.text, 10, 64)
			if v.kind != tNumber || v.lit != LitInteger || err != nil {
				return nil, p.expected("a table version number", v)
			}
			p.i++
			ref.VersionAsOf = &num
		} else {
			if v.kind != tString {
				return nil, p.expected("a timestamp in quotes", v)
			}
			ref.TimestampAs = p.stringLit()
			if ref.TimestampAs == "" {
				return nil, p.errAt(v, "TIMESTAMP AS OF needs a timestamp")
			}
		}
	}
	if ref.Alias, err = p.alias("a table alias"); err != nil {
		return nil, err
	}
	return ref, nil
}

// lateralView parses LATERAL VIEW [OUTER] gen(args) alias [AS] col, ….
func (p *parser) lateralView(from TableExpr) (TableExpr, error) {
	p.next() // LATERAL
	if _, err := p.expectKw("VIEW"); err != nil {
		return nil, err
	}
	lv := &LateralView{At: from.Start(), From: from, Outer: p.acceptKw("OUTER")}
	gt := p.peek()
	if gt.kind != tWord && gt.kind != tQuoted || !p.isOp(p.peekN(1), "(") {
		return nil, p.expected("a generator call such as explode(…)", gt)
	}
	p.i++
	var err error
	if lv.Gen, err = p.call(identOf(gt)); err != nil {
		return nil, err
	}
	n, err := p.name("the lateral view's table alias")
	if err != nil {
		return nil, err
	}
	lv.Alias = &n
	if p.acceptKw("AS") || p.isName(p.peek()) {
		for {
			c, err := p.name("a column name for the generator's output")
			if err != nil {
				return nil, err
			}
			lv.Columns = append(lv.Columns, &c)
			if !p.acceptOp(",") {
				break
			}
		}
	}
	return lv, nil
}

// ---- Expressions ----
//
// Precedence, loosest first, as in Spark SQL's grammar: OR; AND; NOT;
// predicates (IS [NOT] NULL, [NOT] IN, [NOT] BETWEEN, [NOT] LIKE) applied
// to a value; comparisons (= == <> != < <= > >=); + - ||; * / % DIV;
// unary - +; postfix :: (cast).

func (p *parser) expr() (Expr, error) {
	if err := p.enter(p.peek()); err != nil {
		return nil, err
	}
	defer p.leave()
	return p.or()
}

func (p *parser) or() (Expr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.acceptKw("OR") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &Binary{At: l.Start(), Op: "OR", L: l, R: r}
	}
	return l, nil
}

func (p *parser) and() (Expr, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.acceptKw("AND") {
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = &Binary{At: l.Start(), Op: "AND", L: l, R: r}
	}
	return l, nil
}

func (p *parser) not() (Expr, error) {
	t := p.peek()
	if !isKw(t, "NOT") {
		return p.predicate()
	}
	if err := p.enter(t); err != nil {
		return nil, err
	}
	defer p.leave()
	p.i++
	x, err := p.not()
	if err != nil {
		return nil, err
	}
	return &Unary{At: t.pos, Op: "NOT", X: x}, nil
}

func (p *parser) predicate() (Expr, error) {
	x, err := p.comparison()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	not := false
	if isKw(t, "NOT") {
		n := p.peekN(1)
		if !isKw(n, "BETWEEN") && !isKw(n, "IN") && !isKw(n, "LIKE") && !isKw(n, "RLIKE") && !isKw(n, "ILIKE") && !isKw(n, "REGEXP") {
			return nil, p.expected("BETWEEN, IN or LIKE after NOT", n)
		}
		p.i++
		not = true
		t = p.peek()
	}
	switch {
	case isKw(t, "BETWEEN"):
		p.i++
		lo, err := p.comparison()
		if err != nil {
			return nil, err
		}
		if _, err := p.expectKw("AND"); err != nil {
			return nil, err
		}
		hi, err := p.comparison()
		if err != nil {
			return nil, err
		}
		return &Between{At: x.Start(), X: x, Lo: lo, Hi: hi, Not: not}, nil
	case isKw(t, "IN"):
		p.i++
		if _, err := p.expectOp("("); err != nil {
			return nil, err
		}
		if n := p.peek(); isKw(n, "SELECT") {
			return nil, p.errAt(n, "IN (subquery) is not supported")
		}
		list, err := p.exprList()
		if err != nil {
			return nil, err
		}
		if _, err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return &In{At: x.Start(), X: x, List: list, Not: not}, nil
	case isKw(t, "LIKE"):
		p.i++
		if n := p.peek(); isKw(n, "ANY") || isKw(n, "ALL") || isKw(n, "SOME") {
			return nil, p.errAt(n, "LIKE %s (…) is not supported", strings.ToUpper(n.text))
		}
		pat, err := p.comparison()
		if err != nil {
			return nil, err
		}
		if n := p.peek(); isKw(n, "ESCAPE") {
			return nil, p.errAt(n, "LIKE … ESCAPE is not supported: the escape character is '\\'")
		}
		return &Like{At: x.Start(), X: x, Pattern: pat, Not: not}, nil
	case isKw(t, "RLIKE"), isKw(t, "REGEXP"):
		// Read as Spark reads it: the function rlike(x, pattern).
		p.i++
		pat, err := p.comparison()
		if err != nil {
			return nil, err
		}
		var e Expr = &Call{At: x.Start(), Name: Ident{At: t.pos, Name: "rlike"}, Args: []Expr{x, pat}}
		if not {
			e = &Unary{At: x.Start(), Op: "NOT", X: e}
		}
		return e, nil
	case isKw(t, "ILIKE"):
		return nil, p.errAt(t, "%s is not supported", strings.ToUpper(t.text))
	case isKw(t, "IS"):
		p.i++
		isNot := p.acceptKw("NOT")
		n := p.peek()
		if !isKw(n, "NULL") {
			return nil, p.expected("NULL after IS", n)
		}
		p.i++
		return &IsNull{At: x.Start(), X: x, Not: isNot}, nil
	}
	return x, nil
}

func (p *parser) comparison() (Expr, error) {
	l, err := p.additive()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tOp {
			return l, nil
		}
		op := t.text
		switch op {
		case "=", "<>", "<", "<=", ">", ">=":
		case "==":
			op = "="
		case "!=":
			op = "<>"
		case "<=>":
			return nil, p.errAt(t, "'<=>' (null-safe equality) is not supported: use equal_null(a, b)")
		default:
			return l, nil
		}
		p.i++
		r, err := p.additive()
		if err != nil {
			return nil, err
		}
		l = &Binary{At: l.Start(), Op: op, L: l, R: r}
	}
}

func (p *parser) additive() (Expr, error) {
	l, err := p.multiplicative()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if !p.isOp(t, "+") && !p.isOp(t, "-") && !p.isOp(t, "||") {
			return l, nil
		}
		p.i++
		r, err := p.multiplicative()
		if err != nil {
			return nil, err
		}
		l = &Binary{At: l.Start(), Op: t.text, L: l, R: r}
	}
}

func (p *parser) multiplicative() (Expr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		var op string
		switch {
		case p.isOp(t, "*"), p.isOp(t, "/"), p.isOp(t, "%"):
			op = t.text
		case isKw(t, "DIV"):
			op = "DIV"
		default:
			return l, nil
		}
		p.i++
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &Binary{At: l.Start(), Op: op, L: l, R: r}
	}
}

func (p *parser) unary() (Expr, error) {
	t := p.peek()
	if !p.isOp(t, "-") && !p.isOp(t, "+") {
		return p.postfix()
	}
	if err := p.enter(t); err != nil {
		return nil, err
	}
	defer p.leave()
	p.i++
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	return &Unary{At: t.pos, Op: t.text, X: x}, nil
}

func (p *parser) postfix() (Expr, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case p.isOp(t, "::"):
			p.i++
			ty, err := p.typeName()
			if err != nil {
				return nil, err
			}
			x = &Cast{At: x.Start(), X: x, To: ty}
		case p.isOp(t, "["):
			return nil, p.errAt(t, "array subscripts are not supported: use element_at(array, index)")
		case p.isOp(t, "."):
			return nil, p.errAt(t, "field access on an expression is not supported: '.' may only follow a name")
		default:
			return x, nil
		}
	}
}

func (p *parser) primary() (Expr, error) {
	t := p.peek()
	switch t.kind {
	case tNumber:
		p.i++
		return &Literal{At: t.pos, Kind: t.lit, Text: t.text}, nil
	case tString:
		return &Literal{At: t.pos, Kind: LitString, Text: p.stringLit()}, nil
	case tQuoted:
		return p.nameOrCall()
	case tOp:
		switch t.text {
		case "(":
			if isKw(p.peekN(1), "SELECT") {
				return nil, p.errAt(p.peekN(1), "subqueries in expressions are not supported")
			}
			p.i++
			x, err := p.expr()
			if err != nil {
				return nil, err
			}
			if n := p.peek(); p.isOp(n, ",") {
				return nil, p.errAt(t, "row values (a, b, …) are not supported")
			}
			if _, err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return &Paren{At: t.pos, X: x}, nil
		case "*":
			return nil, p.errAt(t, "'*' is only allowed as a select item or in count(*)")
		}
		return nil, p.expected("an expression", t)
	case tEOF:
		return nil, p.expected("an expression", t)
	}
	// A word.
	n := p.peekN(1)
	switch {
	case isKw(t, "CASE"):
		return p.caseExpr()
	case isKw(t, "CAST"):
		return p.cast()
	case isKw(t, "INTERVAL"):
		return p.interval()
	case isKw(t, "NULL"):
		p.i++
		return &Literal{At: t.pos, Kind: LitNull, Text: "null"}, nil
	case isKw(t, "TRUE"), isKw(t, "FALSE"):
		p.i++
		return &Literal{At: t.pos, Kind: LitBool, Text: strings.ToLower(t.text)}, nil
	case (isKw(t, "TIMESTAMP") || isKw(t, "DATE")) && n.kind == tString:
		p.i++
		return &TypedLiteral{At: t.pos, Type: strings.ToUpper(t.text), Text: p.stringLit()}, nil
	case isKw(t, "EXISTS") && p.isOp(n, "("):
		return nil, p.errAt(t, "EXISTS (subquery) is not supported")
	case isKw(t, "END") && p.caseDepth == 0:
		return p.nameOrCall()
	case (isKw(t, "CURRENT_TIMESTAMP") || isKw(t, "CURRENT_DATE")) && !p.isOp(n, "(") && !p.isOp(n, "."):
		// Spark reads these without parentheses as calls.
		p.i++
		return &Call{At: t.pos, Name: identOf(t)}, nil
	case (isKw(t, "LEFT") || isKw(t, "RIGHT")) && p.isOp(n, "("):
		p.i++
		return p.call(identOf(t))
	case isReserved(t.text):
		return nil, p.expected("an expression", t)
	}
	return p.nameOrCall()
}

// stringLit reads one or more adjacent string literals, which Spark
// concatenates ('a' 'b' is 'ab', and so 'it”s' is 'its').
func (p *parser) stringLit() string {
	t := p.next()
	if p.peek().kind != tString {
		return t.text
	}
	var b strings.Builder
	b.WriteString(t.text)
	for p.peek().kind == tString {
		b.WriteString(p.next().text)
	}
	return b.String()
}

// nameOrCall parses name(args…) or a possibly qualified column name.
func (p *parser) nameOrCall() (Expr, error) {
	t := p.next()
	first := identOf(t)
	if p.isOp(p.peek(), "(") {
		return p.call(first)
	}
	ref := &ColumnRef{At: t.pos, Parts: []Ident{first}}
	for p.isOp(p.peek(), ".") {
		n := p.peekN(1)
		switch {
		case n.kind == tWord || n.kind == tQuoted:
			p.i += 2
			ref.Parts = append(ref.Parts, identOf(n))
		case p.isOp(n, "*"):
			return nil, p.errAt(t, "'%s.*' is only allowed as a select item", first.Name)
		default:
			return nil, p.expected("a field name after '.'", n)
		}
	}
	if n := p.peek(); p.isOp(n, "(") {
		return nil, p.errAt(t, "qualified function names are not supported")
	}
	return ref, nil
}

// call parses (…) after a function name: (*), ([DISTINCT|ALL] args), then
// FILTER (WHERE cond).
func (p *parser) call(name Ident) (*Call, error) {
	open, err := p.expectOp("(")
	if err != nil {
		return nil, err
	}
	if err := p.enter(open); err != nil {
		return nil, err
	}
	defer p.leave()
	c := &Call{At: name.At, Name: name}
	switch {
	case p.isOp(p.peek(), ")"):
		p.i++
	case p.isOp(p.peek(), "*") && p.isOp(p.peekN(1), ")"):
		p.i += 2
		c.Star = true
	default:
		if p.acceptKw("DISTINCT") {
			c.Distinct = true
		} else {
			p.acceptKw("ALL")
		}
		if c.Args, err = p.exprList(); err != nil {
			return nil, err
		}
		if _, err := p.expectOp(")"); err != nil {
			return nil, err
		}
	}
	if t := p.peek(); isKw(t, "FILTER") && p.isOp(p.peekN(1), "(") {
		p.i += 2
		if _, err := p.expectKw("WHERE"); err != nil {
			return nil, err
		}
		if c.Filter, err = p.expr(); err != nil {
			return nil, err
		}
		if _, err := p.expectOp(")"); err != nil {
			return nil, err
		}
	}
	if t := p.peek(); isKw(t, "OVER") {
		return nil, p.errAt(t, "window functions (OVER …) are not supported")
	}
	return c, nil
}

// parenExpr parses ( expr ).
func (p *parser) parenExpr() (Expr, error) {
	if _, err := p.expectOp("("); err != nil {
		return nil, err
	}
	x, err := p.expr()
	if err != nil {
		return nil, err
	}
	if _, err := p.expectOp(")"); err != nil {
		return nil, err
	}
	return x, nil
}

func (p *parser) caseExpr() (Expr, error) {
	t := p.next() // CASE
	p.caseDepth++
	defer func() { p.caseDepth-- }()
	c := &Case{At: t.pos}
	var err error
	if n := p.peek(); isKw(n, "END") || isKw(n, "ELSE") {
		return nil, p.expected("WHEN", n)
	}
	if !p.atKw("WHEN") {
		if c.Operand, err = p.expr(); err != nil {
			return nil, err
		}
	}
	for {
		w := p.peek()
		if !isKw(w, "WHEN") {
			break
		}
		p.i++
		arm := &When{At: w.pos}
		if arm.Cond, err = p.expr(); err != nil {
			return nil, err
		}
		if _, err := p.expectKw("THEN"); err != nil {
			return nil, err
		}
		if arm.Then, err = p.expr(); err != nil {
			return nil, err
		}
		c.Whens = append(c.Whens, arm)
	}
	if len(c.Whens) == 0 {
		return nil, p.expected("WHEN", p.peek())
	}
	if p.acceptKw("ELSE") {
		if c.Else, err = p.expr(); err != nil {
			return nil, err
		}
	}
	if n := p.peek(); !isKw(n, "END") {
		if len(c.Whens) > 0 && c.Else == nil {
			return nil, p.expected("WHEN, ELSE or END", n)
		}
		return nil, p.expected("END", n)
	}
	p.i++
	return c, nil
}

func (p *parser) cast() (Expr, error) {
	t := p.next() // CAST
	if _, err := p.expectOp("("); err != nil {
		return nil, err
	}
	x, err := p.expr()
	if err != nil {
		return nil, err
	}
	if _, err := p.expectKw("AS"); err != nil {
		return nil, err
	}
	ty, err := p.typeName()
	if err != nil {
		return nil, err
	}
	if _, err := p.expectOp(")"); err != nil {
		return nil, err
	}
	return &Cast{At: t.pos, X: x, To: ty}, nil
}

// interval parses INTERVAL '1' MINUTE, INTERVAL 1 MINUTE, INTERVAL '10
// seconds', INTERVAL '1 minute 30 seconds', INTERVAL 2 HOURS 30 MINUTES.
func (p *parser) interval() (Expr, error) {
	at := p.next() // INTERVAL
	var total int64
	last := at
	for n := 0; ; n++ {
		// [sign] value
		i := 0
		neg := false
		if t := p.peekN(0); (p.isOp(t, "-") || p.isOp(t, "+")) && p.peekN(1).kind == tNumber {
			neg = t.text == "-"
			i = 1
		}
		vt := p.peekN(i)
		isValue := vt.kind == tNumber || vt.kind == tString && i == 0
		unitTok := p.peekN(i + 1)
		unit, isUnit, unitErr := int64(0), false, error(nil)
		if unitTok.kind == tWord {
			unit, isUnit, unitErr = lookupUnit(unitTok.text)
		}
		if n > 0 && (!isValue || !isUnit) {
			break
		}
		if !isValue {
			return nil, p.expected("an interval value such as '10 seconds' or 10 SECONDS", vt)
		}
		p.i += i
		if !isUnit {
			if vt.kind == tNumber {
				return nil, p.expected("a unit (SECONDS, MINUTES, HOURS, DAYS…) after "+describeTok(p.src, vt), unitTok)
			}
			// A string holding its units: INTERVAL '1 minute 30 seconds'.
			text := p.stringLit()
			last = p.toks[p.i-1]
			micros, err := ParseDuration(text)
			if err != nil {
				return nil, p.errAt(vt, "%s", err.Error())
			}
			total = micros
			break
		}
		if unitErr != nil {
			return nil, p.errAt(unitTok, "%s", unitErr.Error())
		}
		p.i += 2 // value and unit
		last = unitTok
		value := vt.text
		if vt.kind == tNumber {
			if vt.lit == LitFloat || vt.end-vt.off != len(vt.text) {
				return nil, p.errAt(vt, "invalid interval value %s: write digits with an optional fraction", describeTok(p.src, vt))
			}
		} else {
			value = strings.TrimSpace(value)
			if value != "" && (value[0] == '-' || value[0] == '+') {
				neg = neg != (value[0] == '-')
				value = strings.TrimSpace(value[1:])
			}
		}
		v, err := unitValue(neg, value, unitTok.text, unit)
		if err != nil {
			return nil, p.errAt(vt, "invalid interval: %s", err.Error())
		}
		if total, err = addMicros(total, v); err != nil {
			return nil, p.errAt(vt, "invalid interval: %s", err.Error())
		}
		if t := p.peek(); isKw(t, "TO") {
			return nil, p.errAt(t, "INTERVAL … TO … is not supported: write e.g. INTERVAL '1 minute 30 seconds'")
		}
	}
	return &Interval{At: at.pos, Text: p.src[at.off:last.end], Micros: total}, nil
}
