package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sensorlab/sensorlab/query/agg"
	"github.com/sensorlab/sensorlab/query/expr"
	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// aggPlan is the stateful part of a query: the projection that computes
// the aggregation's inputs, and the operator's configuration.
type aggPlan struct {
	in     *projectOp // time column, keys, aggregate arguments
	cfg    agg.Config
	schema types.Schema // of in's output
	// window is the name the window columns are referred to by
	// ("window" or "session_window"); "" without a window.
	window string
	// watermarked is true when the window is over the source's
	// watermarked column, so that the watermark can close its rows.
	watermarked bool
	distinct    []sql.Pos // count(DISTINCT …) calls, refused on streams
	desc        string    // for Fingerprint
	// inCanon is each input column's expression rendered with its column
	// references resolved (canon), out the operator's output schema, and
	// shareKey what queries sharing one operator must have in common
	// (share.go); "" when the query cannot share.
	inCanon  []string
	out      types.Schema
	shareKey string
	// keyOrigins are the source columns among the group keys (a key that
	// is a source column unchanged).
	keyOrigins []string
}

// resolveRef finds the column a reference names in r; -1 when none.
func resolveRef(r *relation, ref *sql.ColumnRef) int {
	found := -1
	switch len(ref.Parts) {
	case 1:
		for i, c := range r.cols {
			if strings.EqualFold(c.Name, ref.Parts[0].Name) {
				if found >= 0 {
					return -1 // ambiguous: let the compiler say so
				}
				found = i
			}
		}
	case 2:
		for i, c := range r.cols {
			if strings.EqualFold(c.Qualifier, ref.Parts[0].Name) && strings.EqualFold(c.Name, ref.Parts[1].Name) {
				found = i
			}
		}
	}
	return found
}

// canon renders e with column references resolved in r, so that `t.a` and
// `a` compare equal.
func canon(e sql.Expr, r *relation) string {
	return render(e, func(ref *sql.ColumnRef) string {
		if i := resolveRef(r, ref); i >= 0 {
			return fmt.Sprintf("#%d", i)
		}
		return ""
	})
}

// aggregate plans GROUP BY, the aggregates and HAVING of s over r.
func (b *builder) aggregate(s *sql.Select, r *relation) (*relation, error) {
	ap := &aggPlan{in: &projectOp{}}
	pre := b.scope(r)
	argIndex := map[string]int{} // canon -> column of ap.in
	addInput := func(e sql.Expr) (int, types.Type, error) {
		k := canon(e, r)
		if i, ok := argIndex[k]; ok {
			return i, ap.in.exprs[i].Type(), nil
		}
		c, err := expr.Compile(e, pre)
		if err != nil {
			return 0, types.Type{}, err
		}
		if err := noAggregates(e, "GROUP BY or an aggregate's argument"); err != nil {
			return 0, types.Type{}, err
		}
		ap.in.exprs = append(ap.in.exprs, c)
		ap.inCanon = append(ap.inCanon, k)
		ap.schema = append(ap.schema, types.Field{Name: fmt.Sprintf("#in%d", len(ap.schema)), Type: c.Type(), Nullable: !notNull(e, r, nil)})
		argIndex[k] = len(ap.in.exprs) - 1
		return len(ap.in.exprs) - 1, c.Type(), nil
	}

	// GROUP BY: the window, then the keys.
	groups := s.GroupBy
	if s.Distinct {
		if len(groups) > 0 {
			return nil, sql.Errorf(s.At, "SELECT DISTINCT with GROUP BY is not supported: group by the columns instead")
		}
		for _, it := range s.Items {
			if it.Star {
				return nil, sql.Errorf(it.At, "SELECT DISTINCT * is not supported: name the columns")
			}
			groups = append(groups, it.Expr)
		}
	}
	type key struct {
		e    sql.Expr
		col  int
		name string
		qual string
	}
	var keys []key
	keyCanon := map[string]int{} // canon -> position in keys
	var win *sql.Call
	for _, g := range groups {
		g = unparen(g)
		if lit, ok := g.(*sql.Literal); ok && lit.Kind == sql.LitInteger {
			n := 0
			fmt.Sscan(lit.Text, &n)
			if n < 1 || n > len(s.Items) || s.Items[n-1].Star {
				return nil, sql.Errorf(lit.At, "GROUP BY position %s is not in the select list", lit.Text)
			}
			g = unparen(s.Items[n-1].Expr)
		}
		if c, ok := isCall(g, "window", "session_window"); ok {
			if win != nil {
				return nil, sql.Errorf(c.At, "a query groups by one window; the other is at %s", win.At)
			}
			win = c
			if err := b.windowSpec(c, r, ap, addInput); err != nil {
				return nil, err
			}
			continue
		}
		k := canon(g, r)
		if _, dup := keyCanon[k]; dup {
			continue
		}
		col, _, err := addInput(g)
		if err != nil {
			return nil, err
		}
		name, qual := render(g, nil), ""
		if ref, ok := g.(*sql.ColumnRef); ok {
			if i := resolveRef(r, ref); i >= 0 {
				name, qual = r.cols[i].Name, r.cols[i].Qualifier
				if o := r.originOf(i); o != "" {
					ap.keyOrigins = append(ap.keyOrigins, o)
				}
			}
		}
		keyCanon[k] = len(keys)
		keys = append(keys, key{e: g, col: col, name: name, qual: qual})
		ap.cfg.Keys = append(ap.cfg.Keys, col)
	}

	// The aggregates, from the select list and HAVING.
	aggIndex := map[string]int{} // canon -> position in cfg.Aggs
	var aggCalls []*sql.Call     // by position in cfg.Aggs
	var walkErr error
	collect := func(e sql.Expr) {
		walk(e, func(n sql.Expr) bool {
			if walkErr != nil {
				return false
			}
			c, ok := n.(*sql.Call)
			if !ok || !expr.IsAggregate(callName(c)) {
				return true
			}
			k := canon(c, r)
			if _, seen := aggIndex[k]; seen {
				return false
			}
			a, err := b.aggSpec(c, ap, addInput)
			if err != nil {
				walkErr = err
				return false
			}
			aggIndex[k] = len(ap.cfg.Aggs)
			ap.cfg.Aggs = append(ap.cfg.Aggs, a)
			aggCalls = append(aggCalls, c)
			return false
		})
	}
	for _, it := range s.Items {
		if it.Star {
			return nil, sql.Errorf(it.At, "SELECT * is not allowed in an aggregation: name the grouping columns and aggregates")
		}
		collect(it.Expr)
	}
	collect(s.Having)
	if walkErr != nil {
		return nil, walkErr
	}

	// Configure and create the operator.
	ap.cfg.Mode = b.aggMode()
	if b.mode == Streaming && ap.watermarked {
		ap.cfg.HasWatermark = true
		ap.cfg.Delay = b.q.Source.Watermark.Delay
	}
	op, err := agg.New(ap.schema, ap.cfg)
	if err != nil {
		return nil, sql.Errorf(s.At, "%v", err)
	}
	outSchema := op.OutputSchema()
	ap.out = outSchema
	ap.shareKey = b.shareKey(s, r, ap)
	b.add(ap.in)
	b.q.agg = ap
	b.q.Stateful = true

	// The scope after the aggregation: the window's start and end, the
	// keys, then the aggregates under names no query can write.
	post := &relation{}
	i := 0
	if ap.window != "" {
		post.add(expr.Column{Qualifier: ap.window, Name: "start", Type: types.TTimestamp}, true)
		post.add(expr.Column{Qualifier: ap.window, Name: "end", Type: types.TTimestamp}, true)
		i = 2
	}
	for _, k := range keys {
		post.add(expr.Column{Qualifier: k.qual, Name: k.name, Type: outSchema[i].Type}, notNull(k.e, r, nil))
		i++
	}
	for j := range ap.cfg.Aggs {
		post.add(expr.Column{Name: fmt.Sprintf("#agg%d", j), Type: outSchema[i].Type}, notNull(aggCalls[j], r, nil))
		i++
	}
	nKeys0 := len(post.cols) - len(ap.cfg.Aggs) - len(keys)
	replace := func(e sql.Expr) (int, bool) {
		if c, ok := e.(*sql.Call); ok && expr.IsAggregate(callName(c)) {
			if j, ok := aggIndex[canon(c, r)]; ok {
				return nKeys0 + len(keys) + j, true
			}
		}
		if _, isWin := isCall(e, "window", "session_window"); isWin {
			return 0, false
		}
		if j, ok := keyCanon[canon(e, r)]; ok {
			return nKeys0 + j, true
		}
		return 0, false
	}
	// Spark's MISSING_AGGREGATION: a column outside every aggregate and key.
	check := func(e sql.Expr) error {
		var err error
		walk(e, func(n sql.Expr) bool {
			if err != nil {
				return false
			}
			if _, ok := replace(n); ok {
				return false
			}
			ref, ok := n.(*sql.ColumnRef)
			if !ok {
				return true
			}
			if ap.window != "" && len(ref.Parts) == 2 && strings.EqualFold(ref.Parts[0].Name, ap.window) {
				return false
			}
			if len(ref.Parts) == 1 && (strings.EqualFold(ref.Parts[0].Name, "window") || strings.EqualFold(ref.Parts[0].Name, "session_window")) && ap.window != "" {
				err = sql.Errorf(ref.At, "the window is a struct: select %s.start and %s.end", ap.window, ap.window)
				return false
			}
			if resolveRef(r, ref) >= 0 {
				err = sql.Errorf(ref.At, "[MISSING_AGGREGATION] The non-aggregating expression %q is based on columns which are not participating in the GROUP BY clause. Add the columns or the expression to the GROUP BY, aggregate the expression, or use \"any_value(%s)\"", render(ref, nil), render(ref, nil))
			}
			return false
		})
		return err
	}
	sc := b.scope(post)
	sc.Replace = replace
	if s.Having != nil {
		if err := check(s.Having); err != nil {
			return nil, err
		}
		h, err := expr.Compile(s.Having, sc)
		if err != nil {
			return nil, err
		}
		if h.Type().Kind != types.Boolean {
			return nil, sql.Errorf(s.Having.Start(), "HAVING needs a BOOLEAN condition, not %s", h.Type())
		}
		f, err := newFilterOp(h)
		if err != nil {
			return nil, err
		}
		b.add(f)
	}
	out := &relation{}
	p := &projectOp{}
	for _, it := range s.Items {
		if err := check(it.Expr); err != nil {
			return nil, err
		}
		e, err := expr.Compile(it.Expr, sc)
		if err != nil {
			return nil, err
		}
		p.exprs = append(p.exprs, e)
		out.add(expr.Column{Name: itemName(it), Type: e.Type()}, notNull(it.Expr, post, replace))
	}
	b.add(p)
	ap.desc = fmt.Sprintf("window=%s%+v keys=%v aggs=%v in=%v", ap.window, ap.cfg.Window, ap.cfg.Keys, ap.cfg.Aggs, ap.schema)
	return out, nil
}

// aggMode maps the sink's output mode to the operator's.
func (b *builder) aggMode() agg.Mode {
	if b.mode == Batch {
		return agg.Complete
	}
	switch b.q.Sink.Mode {
	case "update":
		return agg.Update
	case "complete":
		return agg.Complete
	}
	return agg.Append
}

// windowSpec reads window(col, size[, slide]) or session_window(col, gap).
func (b *builder) windowSpec(c *sql.Call, r *relation, ap *aggPlan, addInput func(sql.Expr) (int, types.Type, error)) error {
	name := callName(c)
	if len(c.Args) < 2 || (name == "window" && len(c.Args) > 4) || (name == "session_window" && len(c.Args) > 2) {
		if name == "window" {
			return sql.Errorf(c.At, "window takes (time_column, window_duration[, slide_duration[, start_time]])")
		}
		return sql.Errorf(c.At, "session_window takes (time_column, gap_duration)")
	}
	col, t, err := addInput(c.Args[0])
	if err != nil {
		return err
	}
	if t.Kind != types.Timestamp {
		return sql.Errorf(c.Args[0].Start(), "%s's time column must be a TIMESTAMP, not %s", name, t)
	}
	durs := make([]int64, 0, 3)
	for _, a := range c.Args[1:] {
		d, err := durationArg(a)
		if err != nil {
			return err
		}
		durs = append(durs, d)
	}
	w := agg.Window{TimeCol: col}
	if name == "session_window" {
		if durs[0] <= 0 {
			return sql.Errorf(c.Args[1].Start(), "the session gap must be positive")
		}
		w.Kind, w.Gap = agg.Session, durs[0]
	} else {
		w.Kind, w.Size, w.Slide = agg.Tumbling, durs[0], durs[0]
		if len(durs) > 1 && durs[1] != durs[0] {
			w.Kind, w.Slide = agg.Sliding, durs[1]
		}
		if len(durs) > 2 && durs[2] != 0 {
			return sql.Errorf(c.Args[3].Start(), "window start offsets are not supported: windows start at multiples of the slide from the epoch")
		}
		switch {
		case w.Size <= 0:
			return sql.Errorf(c.Args[1].Start(), "The window duration must be positive")
		case w.Slide <= 0 || w.Slide > w.Size:
			return sql.Errorf(c.Args[2].Start(), "The slide duration must be positive and at most the window duration")
		}
	}
	ap.cfg.Window = w
	ap.window = name
	if ref, ok := unparen(c.Args[0]).(*sql.ColumnRef); ok && b.watermarked != "" {
		if i := resolveRef(r, ref); i >= 0 && strings.EqualFold(r.cols[i].Name, b.watermarked) {
			ap.watermarked = true
		}
	}
	return nil
}

// durationArg reads '10 seconds' or INTERVAL '10' SECONDS.
func durationArg(e sql.Expr) (int64, error) {
	switch n := unparen(e).(type) {
	case *sql.Interval:
		return n.Micros, nil
	case *sql.Literal:
		if n.Kind == sql.LitString {
			d, err := sql.ParseDuration(n.Text)
			if err != nil {
				return 0, sql.Errorf(n.At, "%v", err)
			}
			return d, nil
		}
	}
	return 0, sql.Errorf(e.Start(), "a duration is a string like '10 seconds' or an INTERVAL")
}

// aggSpec maps an aggregate call to the operator's aggregate.
func (b *builder) aggSpec(c *sql.Call, ap *aggPlan, addInput func(sql.Expr) (int, types.Type, error)) (agg.Agg, error) {
	name := callName(c)
	for _, a := range c.Args {
		var nested error
		walk(a, func(n sql.Expr) bool {
			if cc, ok := n.(*sql.Call); ok && expr.IsAggregate(callName(cc)) && nested == nil {
				nested = sql.Errorf(cc.At, "It is not allowed to use an aggregate function in the argument of another aggregate function")
			}
			return nested == nil
		})
		if nested != nil {
			return agg.Agg{}, nested
		}
	}
	arg := func() (sql.Expr, error) {
		if c.Star || len(c.Args) != 1 {
			return nil, sql.Errorf(c.At, "%s takes one argument", name)
		}
		x := c.Args[0]
		if c.Filter != nil { // agg(x) FILTER (WHERE cond) == agg(CASE WHEN cond THEN x END)
			x = &sql.Case{At: c.At, Whens: []*sql.When{{At: c.At, Cond: c.Filter, Then: x}}}
		}
		return x, nil
	}
	var a agg.Agg
	switch name {
	case "count":
		if c.Distinct {
			if len(c.Args) != 1 {
				return a, sql.Errorf(c.At, "count(DISTINCT …) takes one column here")
			}
			ap.distinct = append(ap.distinct, c.At)
			a.Func = agg.CountDistinct
			x, err := arg()
			if err != nil {
				return a, err
			}
			a.Arg, _, err = addInput(x)
			return a, err
		}
		if c.Star || (len(c.Args) == 1 && isNonNullLiteral(c.Args[0])) {
			if c.Filter != nil {
				a.Func = agg.CountIf
				var err error
				a.Arg, _, err = addInput(c.Filter)
				return a, err
			}
			a.Func, a.Arg = agg.Count, -1
			return a, nil
		}
		a.Func = agg.Count
	case "sum":
		a.Func = agg.Sum
	case "avg", "mean":
		a.Func = agg.Avg
	case "min":
		a.Func = agg.Min
	case "max":
		a.Func = agg.Max
	case "count_if":
		a.Func = agg.CountIf
	case "approx_count_distinct":
		if len(c.Args) == 2 {
			return a, sql.Errorf(c.Args[1].Start(), "approx_count_distinct's relative standard deviation is fixed at Spark's default 0.05")
		}
		a.Func = agg.ApproxCountDistinct
	default:
		return a, sql.Errorf(c.At, "aggregate function %s is not supported", name)
	}
	if c.Distinct && name != "min" && name != "max" {
		return a, sql.Errorf(c.At, "%s(DISTINCT …) is not supported: only count(DISTINCT …)", name)
	}
	x, err := arg()
	if err != nil {
		return a, err
	}
	var t types.Type
	a.Arg, t, err = addInput(x)
	if err != nil {
		return a, err
	}
	switch a.Func {
	case agg.Sum, agg.Avg:
		if !t.IsNumeric() && t.Kind != types.Null {
			return a, sql.Errorf(c.At, "cannot resolve '%s' due to data type mismatch: argument 1 requires numeric type, however, '%s' is of %s type", render(c, nil), render(c.Args[0], nil), strings.ToLower(t.String()))
		}
	case agg.CountIf:
		if t.Kind != types.Boolean {
			return a, sql.Errorf(c.At, "count_if's argument must be a BOOLEAN condition, not %s", t)
		}
	}
	return a, nil
}

func isNonNullLiteral(e sql.Expr) bool {
	l, ok := unparen(e).(*sql.Literal)
	return ok && l.Kind != sql.LitNull
}

// checkStreaming applies Spark's UnsupportedOperationChecker rules that
// depend on the whole query.
func (b *builder) checkStreaming(s *sql.Select) error {
	if b.mode != Streaming {
		return nil
	}
	q, ap := b.q, b.q.agg
	mode := q.Sink.Mode
	switch {
	case ap != nil && len(ap.distinct) > 0:
		return sql.Errorf(ap.distinct[0], "Distinct aggregations are not supported on streaming DataFrames/Datasets. Consider using approx_count_distinct() instead.")
	case ap == nil && mode == "complete":
		return sql.Errorf(q.At, "Complete output mode not supported when there are no streaming aggregations on streaming DataFrames/Datasets")
	case ap == nil && mode == "update" && q.Sink.Connector != "console" && q.Sink.Connector != "kafka":
		return sql.Errorf(q.At, "Update output mode needs an aggregation here: without one, use append")
	case ap != nil && mode == "append" && !ap.watermarked:
		return sql.Errorf(q.At, "Append output mode not supported when there are streaming aggregations on streaming DataFrames/DataSets without watermark (group by a window over the source's WATERMARK column, or use update or complete mode)")
	case q.order != nil && !(ap != nil && mode == "complete"):
		return sql.Errorf(q.order.at, "Sorting is not supported on streaming DataFrames/Datasets, unless it is on aggregated DataFrame/Dataset in Complete output mode")
	case q.limit >= 0 && mode != "complete":
		return sql.Errorf(s.Limit.Start(), "Limits are only supported on streaming queries in Complete output mode here")
	case ap != nil && ap.cfg.Window.Kind == agg.Session && mode == "update":
		return sql.Errorf(q.At, "session windows are emitted in append or complete mode")
	}
	return nil
}

// GroupedBy reports whether the query aggregates by column col of its
// source, unchanged, among its group keys: then every group of the query
// holds rows of one value of col.
func (q *Query) GroupedBy(col string) bool {
	return q.agg != nil && slices.ContainsFunc(q.agg.keyOrigins, func(o string) bool { return strings.EqualFold(o, col) })
}

// Fingerprint describes what a checkpoint's state depends on: the source,
// the aggregation's inputs, keys and functions, and the output. A restart
// whose fingerprint differs from the checkpoint's is refused.
func (q *Query) Fingerprint() string {
	var b strings.Builder
	fmt.Fprintf(&b, "source=%s output=%s", q.Source, q.Output)
	if q.agg != nil {
		fmt.Fprintf(&b, " agg{%s mode=%d}", q.agg.desc, q.agg.cfg.Mode)
	}
	return b.String()
}
