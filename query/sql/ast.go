// Package sql parses sensorlab's query language: Spark SQL's SELECT, plus a
// small DDL in the style of Flink SQL and RisingWave for what Spark only
// says in code (a source and its schema, the event-time column and its
// watermark, a sink and its output mode).
//
// The parser is hand-written (recursive descent, one function per level of
// operator precedence):
// every node carries the line and column it starts at, and every error
// names the line and column it was found at. See docs/queries.md for the
// language and for why no parser library was used.
package sql

import "fmt"

// Pos is a position in the query text: 1-based line and column (in bytes).
type Pos struct{ Line, Col int }

func (p Pos) String() string { return fmt.Sprintf("line %d, column %d", p.Line, p.Col) }

// Error is a syntax or semantic error at a position of the query text.
type Error struct {
	File string // the file the text came from, when known
	Pos  Pos
	Msg  string
}

func (e *Error) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
	}
	return fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Col, e.Msg)
}

// Errorf returns an *Error at p.
func Errorf(p Pos, format string, args ...any) *Error {
	return &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

// Script is a parsed file: its statements in order.
type Script struct {
	File       string
	Statements []Statement
}

// Statement is one of *CreateSource, *CreateSink, *Select (a bare query,
// run to the console or, in batch mode, returned).
type Statement interface {
	Start() Pos
	stmt()
}

// CreateSource is
//
//	CREATE SOURCE name (column, …[, CONSTRAINT reason CHECK (expr), …][, WATERMARK FOR col AS expr]) WITH (key = 'value', …)
//	CREATE TABLE name [(column, …)] WITH (key = 'value', …)
//
// A SOURCE is unbounded (a Kafka topic); a TABLE is bounded (a Delta table
// read in batch mode, whose columns may be left to its log).
type CreateSource struct {
	At        Pos
	Table     bool // CREATE TABLE rather than CREATE SOURCE
	Name      Ident
	Columns   []*ColumnDef
	Watermark *WatermarkDef // nil: none declared
	Checks    []*CheckDef
	With      []*Option
}

// CheckDef is CONSTRAINT name CHECK (expr), written among a source's
// columns. A record whose decoded row does not satisfy expr is sent to the
// dead-letter topic with name as its reason (e.g. out_of_range).
type CheckDef struct {
	At   Pos
	Name Ident
	Expr Expr
}

// ColumnDef is one column of a source:
//
//	name TYPE [NOT NULL]                        a field of the payload
//	name TYPE METADATA [FROM 'key']             a Kafka metadata column (Flink's syntax)
//	name AS expr                                a computed column
type ColumnDef struct {
	At       Pos
	Name     Ident
	Type     *TypeName // nil for a computed column
	NotNull  bool
	Metadata bool
	From     string // METADATA FROM 'key'; "" means the column's own name
	Computed Expr   // non-nil for a computed column
}

// WatermarkDef is WATERMARK FOR column AS expr.
type WatermarkDef struct {
	At     Pos
	Column Ident
	Expr   Expr // e.g. event_time - INTERVAL '1' MINUTE
}

// Option is one key = 'value' of a WITH list. Keys are compared without
// regard to case; Value is the literal's text (strings unquoted).
type Option struct {
	At    Pos
	Key   string
	Value string
	ValAt Pos
}

// CreateSink is CREATE SINK name WITH (…) AS select, or CREATE SINK name
// FROM source WITH (…), which the parser reads as AS SELECT * FROM source.
type CreateSink struct {
	At    Pos
	Name  Ident
	With  []*Option
	Query *Select
}

// TypeName is a type as written: a name and its parameters (DECIMAL(10,2)).
type TypeName struct {
	At   Pos
	Name string
	Args []int
}

// Ident is a name as written (unquoted names keep their case; matching is
// case-insensitive elsewhere). Quoted is true for `backquoted` names.
type Ident struct {
	At     Pos
	Name   string
	Quoted bool
}

// Select is a query block.
type Select struct {
	At       Pos
	Distinct bool
	Items    []*SelectItem
	From     TableExpr // nil: SELECT without FROM
	Where    Expr
	GroupBy  []Expr
	Having   Expr
	OrderBy  []*OrderItem
	Limit    Expr
}

// SelectItem is expr [AS alias], or * / t.*.
type SelectItem struct {
	At    Pos
	Expr  Expr   // nil for a star
	Alias *Ident // nil when none is written
	Star  bool
	Of    *Ident // t.* : the qualifier
}

// OrderItem is expr [ASC|DESC] [NULLS FIRST|LAST].
type OrderItem struct {
	At         Pos
	Expr       Expr
	Desc       bool
	NullsFirst *bool // nil: the default (Spark: first for ASC, last for DESC)
}

// TableExpr is one of *TableRef, *SubqueryRef, *Join, *LateralView.
type TableExpr interface {
	Start() Pos
	table()
}

// TableRef names a source or table: name [VERSION AS OF n | TIMESTAMP AS OF 'ts'] [[AS] alias].
type TableRef struct {
	At          Pos
	Name        Ident
	Alias       *Ident
	VersionAsOf *int64
	TimestampAs string // TIMESTAMP AS OF '…'; "" when absent
}

// SubqueryRef is (select) [AS] alias.
type SubqueryRef struct {
	At    Pos
	Query *Select
	Alias *Ident
}

// Join is left [INNER|LEFT [OUTER]|RIGHT [OUTER]|FULL [OUTER]|CROSS] JOIN right [ON cond].
// FROM a, b is a CROSS join. At is where left starts.
type Join struct {
	At          Pos
	Kind        string // "INNER", "LEFT", "RIGHT", "FULL", "CROSS"
	Left, Right TableExpr
	On          Expr
}

// LateralView is from LATERAL VIEW [OUTER] generator(args) alias AS col, ….
// At is where from starts.
type LateralView struct {
	At      Pos
	From    TableExpr
	Outer   bool
	Gen     *Call
	Alias   *Ident
	Columns []*Ident
}

// Expr is an expression node.
type Expr interface {
	Start() Pos
	expr()
}

// ColumnRef is a possibly qualified name: a, t.a, window.start.
type ColumnRef struct {
	At    Pos
	Parts []Ident
}

// LiteralKind says what a Literal holds.
type LiteralKind uint8

// Literal kinds.
const (
	LitInteger LiteralKind = iota + 1 // 42
	LitDecimal                        // 1.5 (Spark reads it as DECIMAL)
	LitFloat                          // 1e3, 1.5D (DOUBLE)
	LitString                         // 'text'
	LitBool                           // TRUE, FALSE
	LitNull                           // NULL
)

// Literal is a constant as written: Text is the number's digits, the
// string's unquoted value, or "true"/"false"/"null".
type Literal struct {
	At   Pos
	Kind LiteralKind
	Text string
}

// TypedLiteral is TIMESTAMP '…' or DATE '…'.
type TypedLiteral struct {
	At   Pos
	Type string // "TIMESTAMP" or "DATE"
	Text string
}

// Interval is INTERVAL '1' MINUTE, INTERVAL 10 SECONDS, INTERVAL '1 minute
// 30 seconds'. Micros is its length; month and year units are refused by
// the parser (a stream's time arithmetic needs fixed lengths).
type Interval struct {
	At     Pos
	Text   string // as written, for messages
	Micros int64
}

// Binary is l op r. Op is upper case: + - * / % DIV = <> < <= > >= AND OR ||
// (!= is read as <>, == as =). At is where l starts.
type Binary struct {
	At   Pos
	Op   string
	L, R Expr
}

// Unary is op x: "-", "+", "NOT".
type Unary struct {
	At Pos
	Op string
	X  Expr
}

// Call is name([DISTINCT] args) or name(*). Name is as written; functions
// are matched without regard to case.
type Call struct {
	At       Pos
	Name     Ident
	Distinct bool
	Star     bool
	Args     []Expr
	Filter   Expr // agg(...) FILTER (WHERE cond); nil when absent
}

// Case is CASE [operand] WHEN … THEN … [ELSE …] END.
type Case struct {
	At      Pos
	Operand Expr // nil for the searched form
	Whens   []*When
	Else    Expr // nil: NULL
}

// When is one WHEN cond THEN result arm.
type When struct {
	At         Pos
	Cond, Then Expr
}

// Cast is CAST(x AS type) (or x::type).
type Cast struct {
	At Pos
	X  Expr
	To *TypeName
}

// IsNull is x IS [NOT] NULL.
type IsNull struct {
	At  Pos
	X   Expr
	Not bool
}

// In is x [NOT] IN (list).
type In struct {
	At   Pos
	X    Expr
	List []Expr
	Not  bool
}

// Between is x [NOT] BETWEEN lo AND hi.
type Between struct {
	At        Pos
	X, Lo, Hi Expr
	Not       bool
}

// Like is x [NOT] LIKE pattern. (x [NOT] RLIKE pattern is read as Spark
// reads it: [NOT] rlike(x, pattern), a *Call.)
type Like struct {
	At         Pos
	X, Pattern Expr
	Not        bool
}

// Paren is (x), kept so that error positions and printing follow the text.
type Paren struct {
	At Pos
	X  Expr
}

func (s *CreateSource) Start() Pos { return s.At }
func (s *CreateSink) Start() Pos   { return s.At }
func (s *Select) Start() Pos       { return s.At }
func (*CreateSource) stmt()        {}
func (*CreateSink) stmt()          {}
func (*Select) stmt()              {}

func (t *TableRef) Start() Pos    { return t.At }
func (t *SubqueryRef) Start() Pos { return t.At }
func (t *Join) Start() Pos        { return t.At }
func (t *LateralView) Start() Pos { return t.At }
func (*TableRef) table()          {}
func (*SubqueryRef) table()       {}
func (*Join) table()              {}
func (*LateralView) table()       {}

func (e *ColumnRef) Start() Pos    { return e.At }
func (e *Literal) Start() Pos      { return e.At }
func (e *TypedLiteral) Start() Pos { return e.At }
func (e *Interval) Start() Pos     { return e.At }
func (e *Binary) Start() Pos       { return e.At }
func (e *Unary) Start() Pos        { return e.At }
func (e *Call) Start() Pos         { return e.At }
func (e *Case) Start() Pos         { return e.At }
func (e *Cast) Start() Pos         { return e.At }
func (e *IsNull) Start() Pos       { return e.At }
func (e *In) Start() Pos           { return e.At }
func (e *Between) Start() Pos      { return e.At }
func (e *Like) Start() Pos         { return e.At }
func (e *Paren) Start() Pos        { return e.At }
func (*ColumnRef) expr()           {}
func (*Literal) expr()             {}
func (*TypedLiteral) expr()        {}
func (*Interval) expr()            {}
func (*Binary) expr()              {}
func (*Unary) expr()               {}
func (*Call) expr()                {}
func (*Case) expr()                {}
func (*Cast) expr()                {}
func (*IsNull) expr()              {}
func (*In) expr()                  {}
func (*Between) expr()             {}
func (*Like) expr()                {}
func (*Paren) expr()               {}
