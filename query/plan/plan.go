// Package plan binds a parsed script (query/sql) to the engine: it checks
// the DDL, resolves every name and type of each query, applies Spark's
// rules for what a stream may be asked (output modes, watermarks, sorting,
// distinct aggregates), and builds the operator chain an Executor runs:
//
//	decode → computed columns → CHECK constraints → [filter | generate |
//	project]* → [windowed aggregation] → [filter | project]* → [sort, limit]
//
// One Query is one CREATE SINK (or a bare SELECT, which goes to the
// console), with its own state, as one Spark query started by
// writeStream.start() has.
//
// Invariants: every error about the text is an *sql.Error carrying the
// position it is about; a query that Compile accepts has fixed output
// types; Fingerprint changes exactly when a restart from an old checkpoint
// would read state of another shape.
package plan

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sensorlab/sensorlab/query/expr"
	"github.com/sensorlab/sensorlab/query/lakeio"
	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// ExecMode says how a script is run.
type ExecMode uint8

// Execution modes.
const (
	Streaming ExecMode = iota + 1 // the streamer: micro-batches over Kafka sources
	Batch                         // the batcher: one run over table snapshots
)

// Program is a compiled script.
type Program struct {
	Sources []*Source
	Queries []*Query
}

// Sink is where a query's rows go.
type Sink struct {
	Name      string
	At        sql.Pos
	Connector string // "delta", "kafka" or "console"
	Options   map[string]string
	// Mode is the output mode of a streaming query: "append", "update" or
	// "complete"; in batch mode "overwrite" or "append".
	Mode string
}

// Query is one compiled query.
type Query struct {
	Name   string
	At     sql.Pos
	Sink   *Sink
	Source *Source
	// AsOf is the snapshot of Source the query's FROM names with VERSION
	// AS OF or TIMESTAMP AS OF (a Delta table only); nil: the latest.
	AsOf *AsOf
	// Output is the schema of the rows the query emits.
	Output types.Schema
	// Stateful is true when the query aggregates.
	Stateful bool

	pre   []op
	agg   *aggPlan
	post  []op
	order *sortSpec
	limit int64 // -1: none

	now *int64 // current_timestamp() of the running batch
}

// AsOf is a table reference's time travel: Spark's VERSION AS OF n or
// TIMESTAMP AS OF 'ts'. Exactly one of Version and Timestamp is set; the
// reader resolves it by Delta's rules (the version must exist; a timestamp
// reads the latest commit at or before it).
type AsOf struct {
	// At is the table reference's position.
	At sql.Pos
	// Version is n of VERSION AS OF n; nil for TIMESTAMP AS OF.
	Version *int64
	// Timestamp is TIMESTAMP AS OF's text as CAST(… AS TIMESTAMP) reads
	// it (session time zone UTC); zero for VERSION AS OF.
	Timestamp time.Time
}

// String is the clause as a query writes it.
func (a *AsOf) String() string {
	if a.Version != nil {
		return "VERSION AS OF " + strconv.FormatInt(*a.Version, 10)
	}
	return "TIMESTAMP AS OF '" + a.Timestamp.UTC().Format(time.RFC3339Nano) + "'"
}

// Compile binds a parsed script.
func Compile(s *sql.Script, mode ExecMode) (*Program, error) {
	p := &Program{}
	byName := map[string]*Source{}
	sinks := map[string]sql.Pos{}
	consoles := 0
	for _, st := range s.Statements {
		var err error
		switch n := st.(type) {
		case *sql.CreateSource:
			var src *Source
			src, err = bindSource(n)
			if err == nil {
				key := strings.ToLower(src.Name)
				if prev, dup := byName[key]; dup {
					err = sql.Errorf(n.Name.At, "%s is already defined at %s", src.Name, prev.At)
				} else {
					err = compileSource(src)
					byName[key] = src
					p.Sources = append(p.Sources, src)
				}
			}
		case *sql.CreateSink:
			key := strings.ToLower(n.Name.Name)
			if prev, dup := sinks[key]; dup {
				err = sql.Errorf(n.Name.At, "sink %s is already defined at %s", n.Name.Name, prev)
				break
			}
			sinks[key] = n.At
			var q *Query
			q, err = compileSink(n, byName, mode)
			if err == nil {
				p.Queries = append(p.Queries, q)
			}
		case *sql.Select:
			consoles++
			sink := &sql.CreateSink{At: n.At, Name: sql.Ident{At: n.At, Name: "console_" + strconv.Itoa(consoles)}, Query: n,
				With: []*sql.Option{{At: n.At, Key: "connector", Value: "console"}}}
			var q *Query
			q, err = compileSink(sink, byName, mode)
			if err == nil {
				p.Queries = append(p.Queries, q)
			}
		default:
			err = sql.Errorf(st.Start(), "unsupported statement")
		}
		if err != nil {
			return nil, withFile(err, s.File)
		}
	}
	if len(p.Queries) == 0 {
		return nil, withFile(sql.Errorf(sql.Pos{Line: 1, Col: 1}, "the script defines no query: add CREATE SINK … AS SELECT … or a SELECT"), s.File)
	}
	return p, nil
}

func withFile(err error, file string) error {
	if e, ok := err.(*sql.Error); ok && e.File == "" {
		e.File = file
	}
	return err
}

// compileSource types the computed columns and the checks of a source and
// fills its Schema.
func compileSource(s *Source) error {
	cols := make([]expr.Column, 0, len(s.Decoded)+len(s.Computed))
	for _, c := range s.Decoded {
		cols = append(cols, expr.Column{Qualifier: s.Name, Name: c.Name, Type: c.Type})
	}
	scope := &expr.Scope{Columns: cols[:len(s.Decoded):len(s.Decoded)], Now: func() int64 { return 0 }}
	internal := make(types.Schema, 0, len(cols))
	for _, c := range s.Decoded {
		internal = append(internal, types.Field{Name: c.Name, Type: c.Type, Nullable: !c.NotNull})
	}
	decoded := &relation{cols: scope.Columns}
	for _, f := range internal {
		decoded.notNull = append(decoded.notNull, !f.Nullable)
	}
	for _, c := range s.Computed {
		e, err := expr.Compile(c.Computed, scope)
		if err != nil {
			return fmt.Errorf("computed column %s: %w", c.Name.Name, err)
		}
		internal = append(internal, types.Field{Name: c.Name.Name, Type: e.Type(), Nullable: !notNull(c.Computed, decoded, nil)})
	}
	s.Schema = make(types.Schema, len(internal))
	for decl, in := range s.order {
		s.Schema[decl] = internal[in]
	}
	full := &expr.Scope{Columns: sourceColumns(s, internal), Now: func() int64 { return 0 }}
	for _, c := range s.Checks {
		e, err := expr.Compile(c.Expr, full)
		if err != nil {
			return err
		}
		if e.Type().Kind != types.Boolean {
			return sql.Errorf(c.Expr.Start(), "CONSTRAINT %s CHECK (…) must be a BOOLEAN condition, not %s", c.Name.Name, e.Type())
		}
	}
	if s.Watermark != nil {
		i := s.Schema.Index(s.Watermark.Column)
		if t := s.Schema[i].Type; t.Kind != types.Timestamp {
			return sql.Errorf(s.At, "WATERMARK FOR %s: the event-time column must be a TIMESTAMP, not %s (declare e.g. event_time AS timestamp_millis(%s))", s.Watermark.Column, t, s.Watermark.Column)
		}
	}
	return nil
}

// sourceColumns lists a source's columns in its internal layout.
func sourceColumns(s *Source, internal types.Schema) []expr.Column {
	cols := make([]expr.Column, len(internal))
	for i, f := range internal {
		cols[i] = expr.Column{Qualifier: s.Name, Name: f.Name, Type: f.Type}
	}
	return cols
}

// compileSink binds CREATE SINK … AS SELECT.
func compileSink(cs *sql.CreateSink, sources map[string]*Source, mode ExecMode) (*Query, error) {
	opts, err := options(cs.With, sinkOptions, "console", "sink")
	if err != nil {
		return nil, err
	}
	sink := &Sink{Name: cs.Name.Name, At: cs.At, Connector: opts["connector"], Options: opts, Mode: strings.ToLower(opts["mode"])}
	if sink.Mode == "" {
		sink.Mode = "append" // Spark's default output mode
		if mode == Batch {
			sink.Mode = "overwrite"
		}
	}
	switch {
	case mode == Streaming && !slices.Contains([]string{"append", "update", "complete"}, sink.Mode):
		return nil, sql.Errorf(cs.At, "sink %s: mode %q is not an output mode: use 'append', 'update' or 'complete'", sink.Name, sink.Mode)
	case mode == Batch && !slices.Contains([]string{"overwrite", "append"}, sink.Mode):
		return nil, sql.Errorf(cs.At, "sink %s: in batch mode, mode is 'overwrite' or 'append', not %q", sink.Name, sink.Mode)
	case sink.Connector == "delta" && opts["path"] == "":
		return nil, sql.Errorf(cs.At, "sink %s: WITH (path = '…') is required for a Delta sink", sink.Name)
	case sink.Connector == "kafka" && opts["topic"] == "":
		return nil, sql.Errorf(cs.At, "sink %s: WITH (topic = '…') is required for a Kafka sink", sink.Name)
	case mode == Streaming && sink.Connector == "delta" && sink.Mode == "update":
		return nil, sql.Errorf(cs.At, "sink %s: Data source delta does not support Update output mode (Delta's streaming sink appends, or with complete rewrites the table)", sink.Name)
	}
	q := &Query{Name: sink.Name, At: cs.At, Sink: sink, limit: -1, now: new(int64)}
	b := &builder{q: q, sources: sources, mode: mode}
	rel, err := b.selectBlock(cs.Query, true)
	if err != nil {
		return nil, err
	}
	q.Output = rel.schema()
	if err := b.checkStreaming(cs.Query); err != nil {
		return nil, err
	}
	if err := checkSinkColumns(q); err != nil {
		return nil, err
	}
	return q, nil
}

// checkSinkColumns checks the sink options that name output columns: a
// Kafka sink's key, a Delta sink's partition columns.
func checkSinkColumns(q *Query) error {
	names := func(opt string) []string {
		var out []string
		for _, n := range strings.Split(q.Sink.Options[opt], ",") {
			if n = strings.TrimSpace(n); n != "" {
				out = append(out, n)
			}
		}
		return out
	}
	seen := map[string]bool{}
	for _, f := range q.Output {
		k := strings.ToLower(f.Name)
		if seen[k] && (q.Sink.Connector == "delta" || q.Sink.Connector == "kafka") {
			return sql.Errorf(q.At, "sink %s: two output columns are named %s: a table or a JSON row needs distinct names (use AS)", q.Name, f.Name)
		}
		seen[k] = true
	}
	if c, ok := q.Sink.Options["compression"]; ok {
		if _, err := lakeio.Codec(c); err != nil {
			return sql.Errorf(q.At, "sink %s: %v", q.Name, err)
		}
	}
	for _, opt := range []string{"key", "partitioned_by"} {
		cols := names(opt)
		if opt == "key" && len(cols) > 1 {
			return sql.Errorf(q.At, "sink %s: key names one output column", q.Name)
		}
		for _, c := range cols {
			if q.Output.Index(c) < 0 {
				return sql.Errorf(q.At, "sink %s: %s column %s is not an output column: the query outputs %s", q.Name, opt, c, q.Output)
			}
		}
		if opt == "partitioned_by" && len(cols) == len(q.Output) && len(cols) > 0 {
			return sql.Errorf(q.At, "sink %s: every column is a partition column: a Delta table needs at least one data column", q.Name)
		}
	}
	return nil
}

// relation is what a FROM item or a query block yields: its columns, and
// whether an aggregation was already planned below it (later operators then
// run after the aggregation).
type relation struct {
	cols    []expr.Column
	notNull []bool // per column: never NULL (see notNull)
	// origin is, per column, the source column it is unchanged; "" (or
	// past the end) when it is computed or comes through a subquery.
	origin []string
}

// originOf is the source column that column i is, "" when none.
func (r *relation) originOf(i int) string {
	if i < len(r.origin) {
		return r.origin[i]
	}
	return ""
}

// add appends a column.
func (r *relation) add(c expr.Column, notNull bool) {
	r.cols = append(r.cols, c)
	r.notNull = append(r.notNull, notNull)
}

func (r *relation) schema() types.Schema {
	s := make(types.Schema, len(r.cols))
	for i, c := range r.cols {
		s[i] = types.Field{Name: c.Name, Type: c.Type, Nullable: !r.notNull[i]}
	}
	return s
}

// builder plans one query.
type builder struct {
	q       *Query
	sources map[string]*Source
	mode    ExecMode
	// watermarked is the canonical name of the source's watermark column,
	// "" when it has none.
	watermarked string
}

// add appends an operator where the chain currently ends.
func (b *builder) add(o op) {
	if b.q.agg != nil {
		b.q.post = append(b.q.post, o)
		return
	}
	// Before the aggregation, or before Push's copy of a stateless query's
	// rows, an operator's output is read and let go before its next batch.
	switch o := o.(type) {
	case *projectOp:
		o.reuse = true
	case *filterOp:
		o.reuse = true
	case *generateOp:
		o.reuse = true
	}
	b.q.pre = append(b.q.pre, o)
}

func (b *builder) scope(r *relation) *expr.Scope {
	now := b.q.now
	return &expr.Scope{Columns: r.cols, Now: func() int64 { return *now }}
}

// from plans a FROM item.
func (b *builder) from(t sql.TableExpr) (*relation, error) {
	switch n := t.(type) {
	case *sql.TableRef:
		src, ok := b.sources[strings.ToLower(n.Name.Name)]
		if !ok {
			var names []string
			for _, s := range b.sources {
				names = append(names, "`"+s.Name+"`")
			}
			slices.Sort(names)
			return nil, sql.Errorf(n.Name.At, "[TABLE_OR_VIEW_NOT_FOUND] The table or view `%s` cannot be found. Defined sources: [%s]", n.Name.Name, strings.Join(names, ", "))
		}
		if b.q.Source != nil {
			return nil, sql.Errorf(n.At, "a query reads one source: joins of %s and %s are not supported", b.q.Source.Name, src.Name)
		}
		if b.mode == Streaming && src.Kind == Table {
			return nil, sql.Errorf(n.At, "%s is a table: the streamer reads stream sources (CREATE SOURCE … WITH (connector = 'kafka')); tables are read by the batcher", src.Name)
		}
		if b.mode == Batch && src.Kind == Stream {
			return nil, sql.Errorf(n.At, "%s is a Kafka source: the batcher reads tables (CREATE TABLE … WITH (connector = 'delta'))", src.Name)
		}
		if (n.VersionAsOf != nil || n.TimestampAs != "") && src.Kind != Table {
			return nil, sql.Errorf(n.At, "VERSION AS OF and TIMESTAMP AS OF apply to Delta tables only")
		}
		asOf, err := timeTravel(n)
		if err != nil {
			return nil, err
		}
		b.q.Source, b.q.AsOf = src, asOf
		qual := src.Name
		if n.Alias != nil {
			qual = n.Alias.Name
		}
		r := &relation{}
		for _, f := range src.Schema {
			r.add(expr.Column{Qualifier: qual, Name: f.Name, Type: f.Type}, !f.Nullable)
			r.origin = append(r.origin, f.Name)
		}
		if src.Watermark != nil {
			b.watermarked = strings.ToLower(src.Watermark.Column)
		}
		return r, nil
	case *sql.SubqueryRef:
		r, err := b.selectBlock(n.Query, false)
		if err != nil {
			return nil, err
		}
		if n.Alias != nil {
			for i := range r.cols {
				r.cols[i].Qualifier = n.Alias.Name
			}
		}
		return r, nil
	case *sql.LateralView:
		r, err := b.from(n.From)
		if err != nil {
			return nil, err
		}
		name := "col"
		if len(n.Columns) > 1 {
			return nil, sql.Errorf(n.Columns[1].At, "explode yields one column: name one")
		}
		if len(n.Columns) == 1 {
			name = n.Columns[0].Name
		}
		g, err := b.generator(n.Gen, r, n.Outer)
		if err != nil {
			return nil, err
		}
		b.add(g)
		qual := ""
		if n.Alias != nil {
			qual = n.Alias.Name
		}
		pieceNotNull := piecesNotNull(n.Gen.Args[0].(*sql.Call), r, n.Outer)
		r = &relation{cols: slices.Clone(r.cols), notNull: slices.Clone(r.notNull), origin: slices.Clone(r.origin)}
		r.add(expr.Column{Qualifier: qual, Name: name, Type: types.TString}, pieceNotNull)
		return r, nil
	case *sql.Join:
		return nil, sql.Errorf(n.At, "joins are not supported by sensorlab's engine: a query reads one source")
	}
	return nil, sql.Errorf(t.Start(), "unsupported FROM item")
}

// timeTravel binds a table reference's VERSION AS OF or TIMESTAMP AS OF;
// nil when it has neither. The timestamp is read as Spark casts a string
// to TIMESTAMP.
func timeTravel(n *sql.TableRef) (*AsOf, error) {
	switch {
	case n.VersionAsOf != nil:
		v := *n.VersionAsOf // the parser takes only a digit string
		return &AsOf{At: n.At, Version: &v}, nil
	case n.TimestampAs != "":
		bad := sql.Errorf(n.At, "[INVALID_TIME_TRAVEL_TIMESTAMP_EXPR.INPUT] The time travel timestamp expression '%s' is invalid: cannot be cast to TIMESTAMP (write '2024-11-21 10:00:00', '2024-11-21T10:00:00Z' or '2024-11-21')", n.TimestampAs)
		e, err := expr.Compile(&sql.TypedLiteral{At: n.At, Type: "TIMESTAMP", Text: n.TimestampAs}, &expr.Scope{})
		if err != nil {
			return nil, bad
		}
		us, ok := expr.Const(e)
		if !ok {
			return nil, bad
		}
		return &AsOf{At: n.At, Timestamp: time.UnixMicro(us.(int64)).UTC()}, nil
	}
	return nil, nil
}

// generator plans explode(split(str, regex)).
func (b *builder) generator(c *sql.Call, r *relation, outer bool) (*generateOp, error) {
	if callName(c) != "explode" {
		return nil, sql.Errorf(c.At, "generator %s is not supported: use explode(split(…))", c.Name.Name)
	}
	if len(c.Args) != 1 {
		return nil, sql.Errorf(c.At, "explode takes one argument")
	}
	sp, ok := isCall(c.Args[0], "split")
	if !ok || len(sp.Args) < 2 || len(sp.Args) > 3 {
		return nil, sql.Errorf(c.Args[0].Start(), "explode's argument must be split(string, pattern[, limit]): the engine has no other array values")
	}
	str, err := expr.Compile(sp.Args[0], b.scope(r))
	if err != nil {
		return nil, err
	}
	if str.Type().Kind != types.String {
		return nil, sql.Errorf(sp.Args[0].Start(), "split's first argument must be a STRING, not %s", str.Type())
	}
	pat, ok := stringConst(sp.Args[1])
	if !ok {
		return nil, sql.Errorf(sp.Args[1].Start(), "split's pattern must be a string literal")
	}
	limit := -1
	if len(sp.Args) == 3 {
		lit, ok := unparen(sp.Args[2]).(*sql.Literal)
		n, err := strconv.Atoi(litText(lit))
		if !ok || lit.Kind != sql.LitInteger || err != nil {
			return nil, sql.Errorf(sp.Args[2].Start(), "split's limit must be an integer literal")
		}
		limit = n
	}
	g, err := newGenerate(str, pat, limit, outer, len(r.cols))
	if err != nil {
		return nil, sql.Errorf(sp.Args[1].Start(), "split pattern %q: %v", pat, err)
	}
	return g, nil
}

// piecesNotNull reports whether the column explode (outer: explode_outer)
// makes of split sp's pieces is never NULL. As in Spark, where split's
// array holds no NULL (ArrayType(StringType, containsNull = false)): a
// piece is never NULL, a NULL string gives explode no row, and
// explode_outer a NULL row.
func piecesNotNull(sp *sql.Call, r *relation, outer bool) bool {
	return !outer || notNull(sp.Args[0], r, nil)
}

func litText(l *sql.Literal) string {
	if l == nil {
		return ""
	}
	return l.Text
}

// stringConst returns the value of a string literal.
func stringConst(e sql.Expr) (string, bool) {
	l, ok := unparen(e).(*sql.Literal)
	if !ok || l.Kind != sql.LitString {
		return "", false
	}
	return l.Text, true
}

// selectBlock plans one SELECT; top says it is the query's outermost one.
func (b *builder) selectBlock(s *sql.Select, top bool) (*relation, error) {
	if s.From == nil {
		return nil, sql.Errorf(s.At, "a query needs FROM: name its source")
	}
	r, err := b.from(s.From)
	if err != nil {
		return nil, err
	}
	if s.Where != nil {
		f, err := b.filter(s.Where, r, "WHERE")
		if err != nil {
			return nil, err
		}
		b.add(f)
	}
	aggregated := len(s.GroupBy) > 0 || s.Having != nil || s.Distinct
	for _, it := range s.Items {
		walk(it.Expr, func(e sql.Expr) bool {
			if c, ok := e.(*sql.Call); ok && expr.IsAggregate(callName(c)) {
				aggregated = true
			}
			return !aggregated
		})
	}
	if aggregated {
		if b.q.agg != nil {
			return nil, sql.Errorf(s.At, "Multiple streaming aggregations are not supported with streaming DataFrames/Datasets: this query aggregates twice")
		}
		r, err = b.aggregate(s, r)
	} else {
		r, err = b.project(s, r)
	}
	if err != nil {
		return nil, err
	}
	if len(s.OrderBy) > 0 || s.Limit != nil {
		if !top {
			return nil, sql.Errorf(s.At, "ORDER BY and LIMIT are only supported on the outermost query")
		}
		if err := b.orderLimit(s, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// filter compiles a boolean condition over r.
func (b *builder) filter(cond sql.Expr, r *relation, clause string) (op, error) {
	e, err := expr.Compile(cond, b.scope(r))
	if err != nil {
		return nil, err
	}
	if k := e.Type().Kind; k != types.Boolean && k != types.Null {
		return nil, sql.Errorf(cond.Start(), "%s needs a BOOLEAN condition, not %s", clause, e.Type())
	}
	if err := noAggregates(cond, clause); err != nil {
		return nil, err
	}
	return newFilterOp(e)
}

// noAggregates refuses aggregate calls in a clause that cannot hold them.
func noAggregates(e sql.Expr, clause string) error {
	var err error
	walk(e, func(n sql.Expr) bool {
		if c, ok := n.(*sql.Call); ok && expr.IsAggregate(callName(c)) && err == nil {
			err = sql.Errorf(c.At, "aggregate function %s is not allowed in %s", callName(c), clause)
		}
		return err == nil
	})
	return err
}

// project plans the select list of a block without aggregation.
func (b *builder) project(s *sql.Select, r *relation) (*relation, error) {
	// A generator in the select list runs first; the list then refers to
	// its column.
	var gen *sql.Call
	genAt := -1
	for i, it := range s.Items {
		if c, ok := isCall(it.Expr, "explode", "explode_outer"); ok {
			if gen != nil {
				return nil, sql.Errorf(c.At, "Only one generator allowed per select clause")
			}
			gen, genAt = c, i
		}
	}
	in := r
	var replace func(sql.Expr) (int, bool)
	if gen != nil {
		g, err := b.generator(&sql.Call{At: gen.At, Name: sql.Ident{Name: "explode"}, Args: gen.Args}, r, callName(gen) == "explode_outer")
		if err != nil {
			return nil, err
		}
		// The input's columns are repeated for each piece only if the
		// select list reads them.
		g.drop = !readsColumns(s.Items, gen)
		b.add(g)
		sp, _ := isCall(gen.Args[0], "split")
		in = &relation{cols: slices.Clone(r.cols), notNull: slices.Clone(r.notNull)}
		in.add(expr.Column{Name: "#gen", Type: types.TString}, sp != nil && piecesNotNull(sp, r, callName(gen) == "explode_outer"))
		genCol := len(r.cols)
		replace = func(e sql.Expr) (int, bool) {
			if c, ok := e.(*sql.Call); ok && c == gen {
				return genCol, true
			}
			return 0, false
		}
	}
	out := &relation{}
	p := &projectOp{}
	sc := b.scope(in)
	sc.Replace = replace
	for i, it := range s.Items {
		if it.Star {
			for ci, c := range r.cols {
				if it.Of != nil && !strings.EqualFold(c.Qualifier, it.Of.Name) {
					continue
				}
				p.exprs = append(p.exprs, columnExpr(ci, c.Type))
				out.add(expr.Column{Name: c.Name, Type: c.Type}, r.notNull[ci])
			}
			continue
		}
		e, err := expr.Compile(it.Expr, sc)
		if err != nil {
			return nil, err
		}
		name := itemName(it)
		if i == genAt && it.Alias == nil {
			name = "col"
		}
		p.exprs = append(p.exprs, e)
		out.add(expr.Column{Name: name, Type: e.Type()}, notNull(it.Expr, in, replace))
	}
	if s.Distinct {
		return nil, sql.Errorf(s.At, "SELECT DISTINCT is planned as an aggregation") // unreachable: DISTINCT is aggregated
	}
	b.add(p)
	return out, nil
}

// readsColumns reports whether the select items read a column other than
// through the generator call gen (a star reads them all).
func readsColumns(items []*sql.SelectItem, gen *sql.Call) bool {
	reads := false
	for _, it := range items {
		if it.Star {
			return true
		}
		walk(it.Expr, func(e sql.Expr) bool {
			if c, ok := e.(*sql.Call); ok && c == gen {
				return false
			}
			if _, ok := e.(*sql.ColumnRef); ok {
				reads = true
			}
			return !reads
		})
	}
	return reads
}

// itemName is the output name of a select item: its alias, the column's
// name, or Spark's rendering of the expression.
func itemName(it *sql.SelectItem) string {
	if it.Alias != nil {
		return it.Alias.Name
	}
	if ref, ok := unparen(it.Expr).(*sql.ColumnRef); ok {
		return ref.Parts[len(ref.Parts)-1].Name
	}
	return render(it.Expr, nil)
}
