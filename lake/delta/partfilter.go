package delta

import (
	"cmp"
	"fmt"
	"strings"
	"time"
)

// ParsePartitionFilter parses a partition filter, the WHERE clause of an
// OPTIMIZE, against the table's partition columns and their types:
//
//	date = '2024-11-21'
//	date >= 2024-11-01 AND date <= 2024-11-30
//	region IN ('eu', 'us') AND date <> '2024-11-21'
//	region IS NULL
//
// Conditions are joined with AND; each compares one partition column with
// =, ==, !=, <>, <, <=, >, >=, IN (…), NOT IN (…), IS NULL or IS NOT NULL.
// Values are quoted ('…' or "…", a doubled quote stands for itself) or
// bare words, and are read with the column's type (a date as 2024-11-21, a
// timestamp in any form ParsePartitionValue reads), so they compare as
// dates, numbers or strings, not as text. A null partition value matches
// only IS NULL, as in SQL. Keywords and column names are case-insensitive
// (an exact match wins); `backquoted` names may hold any character.
//
// A column that is not a partition column is an error naming the
// partition columns: OPTIMIZE rewrites whole partitions, so its filter
// can only select partitions. A blank s returns a nil filter: every
// partition.
func ParsePartitionFilter(md Metadata, s string) (func(PartitionValues) bool, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	schema, err := md.Schema()
	if err != nil {
		return nil, err
	}
	toks, err := lexFilter(s)
	if err != nil {
		return nil, fmt.Errorf("delta: partition filter %q: %w", s, err)
	}
	p := &filterParser{toks: toks, md: md, schema: schema}
	conds, err := p.parse()
	if err != nil {
		return nil, fmt.Errorf("delta: partition filter %q: %w", s, err)
	}
	return func(pv PartitionValues) bool {
		for _, c := range conds {
			if !c.match(pv) {
				return false
			}
		}
		return true
	}, nil
}

// A filter token.
type filterTok struct {
	kind  byte // 'w' bare word, 'q' quoted value, 'b' backquoted name, 'o' operator, '(' ')' ',', 0 end
	text  string
	where int // byte offset in the filter, for errors
}

func lexFilter(s string) ([]filterTok, error) {
	var toks []filterTok
	const special = "=<>!(),'\"`"
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == ',':
			toks = append(toks, filterTok{kind: c, text: string(c), where: i})
			i++
		case c == '\'' || c == '"' || c == '`':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, fmt.Errorf("unterminated %c at offset %d", c, i)
				}
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c { // a doubled quote
						b.WriteByte(c)
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			kind := byte('q')
			if c == '`' {
				kind = 'b'
			}
			toks = append(toks, filterTok{kind: kind, text: b.String(), where: i})
			i = j + 1
		case c == '=' || c == '<' || c == '>' || c == '!':
			op := string(c)
			if i+1 < len(s) && (s[i+1] == '=' || c == '<' && s[i+1] == '>') {
				op += string(s[i+1])
			}
			if op == "!" {
				return nil, fmt.Errorf("unexpected ! at offset %d (want !=)", i)
			}
			toks = append(toks, filterTok{kind: 'o', text: op, where: i})
			i += len(op)
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r"+special, rune(s[j])) {
				j++
			}
			toks = append(toks, filterTok{kind: 'w', text: s[i:j], where: i})
			i = j
		}
	}
	return append(toks, filterTok{kind: 0, text: "end of filter", where: len(s)}), nil
}

type filterParser struct {
	toks   []filterTok
	i      int
	md     Metadata
	schema StructType
}

func (p *filterParser) peek() filterTok { return p.toks[p.i] }
func (p *filterParser) next() filterTok {
	t := p.toks[p.i]
	if t.kind != 0 {
		p.i++
	}
	return t
}

func (p *filterParser) keyword(t filterTok, kw string) bool {
	return t.kind == 'w' && strings.EqualFold(t.text, kw)
}

func unexpected(t filterTok, want string) error {
	if t.kind == 0 {
		return fmt.Errorf("want %s at the end", want)
	}
	return fmt.Errorf("want %s at offset %d, got %q", want, t.where, t.text)
}

func (p *filterParser) parse() ([]partitionCond, error) {
	var conds []partitionCond
	for {
		c, err := p.cond()
		if err != nil {
			return nil, err
		}
		conds = append(conds, c)
		t := p.next()
		switch {
		case t.kind == 0:
			return conds, nil
		case p.keyword(t, "AND"):
		case p.keyword(t, "OR"):
			return nil, fmt.Errorf("OR is not supported (offset %d): use IN (…), or one OPTIMIZE per condition", t.where)
		default:
			return nil, unexpected(t, "AND")
		}
	}
}

// cond parses one condition: column, operator, value(s).
func (p *filterParser) cond() (partitionCond, error) {
	t := p.next()
	if t.kind != 'w' && t.kind != 'b' {
		return partitionCond{}, unexpected(t, "a partition column")
	}
	col, typ, err := p.column(t.text, t.kind == 'b')
	if err != nil {
		return partitionCond{}, err
	}
	c := partitionCond{column: col, typ: typ}
	op := p.next()
	switch {
	case op.kind == 'o':
		c.op = op.text
		v, err := p.value(c)
		if err != nil {
			return partitionCond{}, err
		}
		c.values = []any{v}
	case p.keyword(op, "IS"):
		c.op = "IS NULL"
		if p.keyword(p.peek(), "NOT") {
			p.next()
			c.op = "IS NOT NULL"
		}
		if t := p.next(); !p.keyword(t, "NULL") {
			return partitionCond{}, unexpected(t, "NULL")
		}
	case p.keyword(op, "IN"), p.keyword(op, "NOT"):
		c.op = "IN"
		if p.keyword(op, "NOT") {
			if t := p.next(); !p.keyword(t, "IN") {
				return partitionCond{}, unexpected(t, "IN")
			}
			c.op = "NOT IN"
		}
		if t := p.next(); t.kind != '(' {
			return partitionCond{}, unexpected(t, "(")
		}
		for {
			v, err := p.value(c)
			if err != nil {
				return partitionCond{}, err
			}
			c.values = append(c.values, v)
			t := p.next()
			if t.kind == ')' {
				break
			}
			if t.kind != ',' {
				return partitionCond{}, unexpected(t, ", or )")
			}
		}
	default:
		return partitionCond{}, unexpected(op, "an operator (=, <>, <, <=, >, >=, IN, IS)")
	}
	return c, nil
}

// column resolves a name to a partition column and its type.
func (p *filterParser) column(name string, quoted bool) (string, PrimitiveType, error) {
	found := ""
	for _, c := range p.md.PartitionColumns {
		if c == name {
			found = c
			break
		}
		if !quoted && strings.EqualFold(c, name) && found == "" {
			found = c
		}
	}
	if found == "" {
		cols := "none: the table is not partitioned"
		if len(p.md.PartitionColumns) > 0 {
			cols = strings.Join(p.md.PartitionColumns, ", ")
		}
		if _, ok := p.schema.Field(name); ok {
			return "", "", fmt.Errorf("column %q is not a partition column (partition columns: %s); the filter selects whole partitions", name, cols)
		}
		return "", "", fmt.Errorf("no column %q in the table (partition columns: %s)", name, cols)
	}
	f, _ := p.schema.Field(found)
	typ, ok := f.Type.(PrimitiveType)
	if !ok {
		return "", "", fmt.Errorf("partition column %q has type %s", found, f.Type.TypeName())
	}
	return found, typ, nil
}

// value parses a value for the condition's column, typed.
func (p *filterParser) value(c partitionCond) (any, error) {
	t := p.next()
	if t.kind != 'w' && t.kind != 'q' {
		return nil, unexpected(t, "a value")
	}
	if t.kind == 'w' && strings.EqualFold(t.text, "NULL") {
		return nil, fmt.Errorf("%s %s NULL is never true: use IS NULL or IS NOT NULL", c.column, c.op)
	}
	v, err := ParsePartitionValue(c.typ, t.text)
	if err != nil {
		return nil, fmt.Errorf("value %q for %s (%s): %w", t.text, c.column, c.typ, err)
	}
	if v == nil {
		return nil, fmt.Errorf("value '' for %s is null (Delta does not tell an empty partition value from null): use IS NULL", c.column)
	}
	return v, nil
}

// partitionCond is one parsed condition.
type partitionCond struct {
	column string
	typ    PrimitiveType
	op     string
	values []any // typed as ParsePartitionValue returns them
}

func (c partitionCond) match(pv PartitionValues) bool {
	v, err := ParsePartitionValue(c.typ, pv[c.column])
	if err != nil {
		return false // a malformed value in the log selects nothing
	}
	switch c.op {
	case "IS NULL":
		return v == nil
	case "IS NOT NULL":
		return v != nil
	}
	if v == nil {
		return false // SQL: a comparison with null is not true
	}
	switch c.op {
	case "IN", "NOT IN":
		in := false
		for _, w := range c.values {
			in = in || compareValues(v, w) == 0
		}
		return in == (c.op == "IN")
	}
	n := compareValues(v, c.values[0])
	switch c.op {
	case "=", "==":
		return n == 0
	case "!=", "<>":
		return n != 0
	case "<":
		return n < 0
	case "<=":
		return n <= 0
	case ">":
		return n > 0
	case ">=":
		return n >= 0
	}
	return false
}

// compareValues orders two values of one partition column's type.
func compareValues(a, b any) int {
	switch x := a.(type) {
	case time.Time:
		return x.Compare(b.(time.Time))
	case int64:
		return cmp.Compare(x, b.(int64))
	case float64:
		return cmp.Compare(x, b.(float64))
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case string:
		return strings.Compare(x, b.(string))
	}
	return 0
}
