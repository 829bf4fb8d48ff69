package plan

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/sensorlab/sensorlab/query/expr"
	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// op is a stateless operator: it turns one batch into another.
type op interface {
	run(b *types.Batch) *types.Batch
}

// filterOp keeps the rows whose predicate is TRUE (not FALSE, not NULL),
// selecting them with the predicate's selection-vector kernels.
type filterOp struct {
	f     *expr.Filter
	sel   []int32
	reuse bool // see projectOp.reuse
	out   types.Batch
}

func newFilterOp(pred expr.Expr) (*filterOp, error) {
	f, err := expr.NewFilter(pred, false)
	if err != nil {
		return nil, err
	}
	return &filterOp{f: f}, nil
}

func (f *filterOp) run(b *types.Batch) *types.Batch {
	f.sel = f.f.Select(b, nil, f.sel)
	if len(f.sel) == b.N {
		return b
	}
	if !f.reuse {
		return take(b, f.sel)
	}
	takeInto(&f.out, b, f.sel)
	return &f.out
}

// projectOp computes one column per expression.
type projectOp struct {
	exprs []expr.Expr
	// reuse says the batch run returns is read before the next run and
	// not kept: the operator then computes into the same vectors every
	// batch. It holds for the operators before an aggregation or the copy
	// Executor.Push keeps of a stateless query's rows (as for the source
	// reader's vectors), not for those whose output Finish returns.
	reuse  bool
	schema types.Schema
	vecs   []types.Vector
}

func (p *projectOp) run(b *types.Batch) *types.Batch {
	if p.schema == nil {
		p.schema = make(types.Schema, len(p.exprs))
		for i, e := range p.exprs {
			p.schema[i] = types.Field{Name: fmt.Sprintf("c%d", i), Type: e.Type(), Nullable: true}
		}
		p.vecs = make([]types.Vector, len(p.exprs))
	}
	out := &types.Batch{Cols: make([]*types.Vector, len(p.exprs)), Partition: b.Partition, N: b.N, Schema: p.schema}
	for i, e := range p.exprs {
		if c, ok := e.(*colRef); ok {
			out.Cols[i] = b.Cols[c.i]
		} else if col, ok := expr.ColumnIndex(e); ok {
			out.Cols[i] = b.Cols[col] // a bare column passes through uncopied
		} else {
			v := &p.vecs[i]
			if !p.reuse {
				v = &types.Vector{}
			}
			e.Eval(b, v)
			out.Cols[i] = v
		}
	}
	return out
}

// colRef is an input column passed through unchanged.
type colRef struct {
	i int
	t types.Type
}

func columnExpr(i int, t types.Type) expr.Expr { return &colRef{i: i, t: t} }

func (c *colRef) Type() types.Type { return c.t }

func (c *colRef) Eval(b *types.Batch, out *types.Vector) {
	v := b.Cols[c.i]
	out.Str = append(out.Str[:0], v.Str...)
	out.Bool = append(out.Bool[:0], v.Bool...)
	out.I64 = append(out.I64[:0], v.I64...)
	out.F64 = append(out.F64[:0], v.F64...)
	out.Null = nil
	if v.Null != nil {
		out.Null = append([]bool(nil), v.Null...)
	}
}

// take returns the rows sel of b, in sel's order.
func take(b *types.Batch, sel []int32) *types.Batch {
	out := &types.Batch{Schema: b.Schema, Cols: make([]*types.Vector, len(b.Cols)), N: len(sel)}
	for i, v := range b.Cols {
		out.Cols[i] = takeVec(v, sel)
	}
	if b.Partition != nil {
		out.Partition = make([]int32, len(sel))
		for j, s := range sel {
			out.Partition[j] = b.Partition[s]
		}
	}
	return out
}

// takeInto is take into dst's vectors, reusing their storage.
func takeInto(dst, b *types.Batch, sel []int32) {
	dst.Schema, dst.N = b.Schema, len(sel)
	for len(dst.Cols) < len(b.Cols) {
		dst.Cols = append(dst.Cols, &types.Vector{})
	}
	dst.Cols = dst.Cols[:len(b.Cols)]
	for i, v := range b.Cols {
		takeVecInto(dst.Cols[i], v, sel)
	}
	dst.Partition = dst.Partition[:0]
	if b.Partition != nil {
		for _, s := range sel {
			dst.Partition = append(dst.Partition, b.Partition[s])
		}
	} else {
		dst.Partition = nil
	}
}

func takeVec(v *types.Vector, sel []int32) *types.Vector {
	o := &types.Vector{}
	takeVecInto(o, v, sel)
	return o
}

// takeVecInto makes o the rows sel of v, in o's storage.
func takeVecInto(o, v *types.Vector, sel []int32) {
	o.Type = v.Type
	o.Str, o.Bool, o.I64, o.F64 = o.Str[:0], o.Bool[:0], o.I64[:0], o.F64[:0]
	switch {
	case v.Str != nil || v.Type.Kind == types.String:
		o.Str = gather(o.Str, v.Str, sel)
	case v.Type.Kind == types.Boolean:
		o.Bool = gather(o.Bool, v.Bool, sel)
	case v.Type.Kind == types.Double:
		o.F64 = gather(o.F64, v.F64, sel)
	case v.Type.UsesI64():
		o.I64 = gather(o.I64, v.I64, sel)
	}
	o.Null = nil
	if v.Null != nil {
		o.Null = gather(nil, v.Null, sel)
	}
}

// gather returns dst (grown) holding src's rows sel.
func gather[T any](dst, src []T, sel []int32) []T {
	if dst == nil || cap(dst) < len(sel) {
		dst = make([]T, len(sel))
	}
	dst = dst[:len(sel)]
	for j, s := range sel {
		dst[j] = src[s]
	}
	return dst
}

// generateOp is explode(split(str, pattern[, limit])): one output row per
// piece, the input's columns repeated, the piece appended as a STRING
// column. explode_outer (outer) keeps a row with NULL for a NULL string.
type generateOp struct {
	str    expr.Expr
	re     *regexp.Regexp // nil: literal separator sep
	sep    string
	limit  int
	outer  bool
	nIn    int
	strVec *types.Vector
	// drop says the operators after this one read none of the input's
	// columns (the select list names only the generated one): they are
	// not repeated, and the output keeps them as empty vectors.
	drop bool
	// reuse: see projectOp.reuse.
	reuse bool
	sel   []int32
	words *types.Vector
}

// newGenerate compiles split's pattern: Spark's split takes a Java regular
// expression; a pattern without metacharacters splits on the literal text.
func newGenerate(str expr.Expr, pattern string, limit int, outer bool, nIn int) (*generateOp, error) {
	g := &generateOp{str: str, limit: limit, outer: outer, nIn: nIn}
	if limit == 0 {
		g.limit = -1 // Spark: limit <= 0 means no limit
	}
	if regexp.QuoteMeta(pattern) == pattern && pattern != "" {
		g.sep = pattern
		return g, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	g.re = re
	return g, nil
}

// pieces appends to words the pieces of s split as Spark's split does, and
// to sel the row i once per piece.
func (g *generateOp) pieces(words *types.Vector, sel []int32, s string, i int32) []int32 {
	if g.re != nil {
		for _, w := range g.re.Split(s, g.limit) {
			sel = append(sel, i)
			words.AppendString(w)
		}
		return sel
	}
	// strings.SplitN without its slice: the pieces go straight to words.
	n := 0
	for g.limit < 0 || n < g.limit-1 {
		j := strings.Index(s, g.sep)
		if j < 0 {
			break
		}
		sel = append(sel, i)
		words.AppendString(s[:j])
		s = s[j+len(g.sep):]
		n++
	}
	sel = append(sel, i)
	words.AppendString(s)
	return sel
}

func (g *generateOp) run(b *types.Batch) *types.Batch {
	if g.strVec == nil {
		g.strVec = types.NewVector(types.TString, b.N)
	}
	g.strVec.Reset()
	g.str.Eval(b, g.strVec)
	sel, words := g.sel[:0], g.words
	if !g.reuse || words == nil {
		words = types.NewVector(types.TString, max(b.N*2, cap(sel)))
	} else {
		words.Reset()
	}
	for i := 0; i < b.N; i++ {
		if g.strVec.IsNull(i) {
			if g.outer {
				sel = append(sel, int32(i))
				words.AppendNull()
			}
			continue
		}
		sel = g.pieces(words, sel, g.strVec.Str[i], int32(i))
	}
	var out *types.Batch
	if g.drop {
		out = &types.Batch{Schema: b.Schema, Cols: make([]*types.Vector, len(b.Cols)), N: len(sel)}
		for c, v := range b.Cols {
			out.Cols[c] = &types.Vector{Type: v.Type}
		}
		if b.Partition != nil {
			out.Partition = make([]int32, len(sel))
			for j, s := range sel {
				out.Partition[j] = b.Partition[s]
			}
		}
	} else {
		out = take(b, sel)
	}
	out.Cols = append(out.Cols, words)
	out.Schema = append(slices.Clone(b.Schema), types.Field{Name: "col", Type: types.TString, Nullable: g.outer})
	g.sel = sel
	if g.reuse {
		g.words = words
	}
	return out
}

// sortSpec is ORDER BY over output columns.
type sortSpec struct {
	at    sql.Pos
	cols  []int
	desc  []bool
	nullF []bool
}

// orderLimit plans ORDER BY (over output columns: names, aliases or
// positions) and LIMIT.
func (b *builder) orderLimit(s *sql.Select, r *relation) error {
	if len(s.OrderBy) > 0 {
		sp := &sortSpec{at: s.OrderBy[0].At}
		for _, o := range s.OrderBy {
			col := -1
			switch e := unparen(o.Expr).(type) {
			case *sql.Literal:
				n := 0
				if e.Kind == sql.LitInteger {
					fmt.Sscan(e.Text, &n)
				}
				if n < 1 || n > len(r.cols) {
					return sql.Errorf(e.At, "ORDER BY position %s is not in the select list", e.Text)
				}
				col = n - 1
			case *sql.ColumnRef:
				col = resolveRef(&relation{cols: r.cols}, &sql.ColumnRef{Parts: e.Parts[len(e.Parts)-1:]})
			}
			if col < 0 {
				// An expression equal to a select item's is that column.
				want := render(o.Expr, nil)
				for i, it := range s.Items {
					if !it.Star && render(it.Expr, nil) == want {
						col = i
					}
				}
			}
			if col < 0 {
				return sql.Errorf(o.Expr.Start(), "ORDER BY names output columns here: %s is not one of [%s]", render(o.Expr, nil), colNames(r.cols))
			}
			nullsFirst := !o.Desc // Spark: NULLS FIRST for ASC, LAST for DESC
			if o.NullsFirst != nil {
				nullsFirst = *o.NullsFirst
			}
			sp.cols = append(sp.cols, col)
			sp.desc = append(sp.desc, o.Desc)
			sp.nullF = append(sp.nullF, nullsFirst)
		}
		b.q.order = sp
	}
	if s.Limit != nil {
		l, ok := unparen(s.Limit).(*sql.Literal)
		n := int64(-1)
		if ok && l.Kind == sql.LitInteger {
			fmt.Sscan(l.Text, &n)
		}
		if n < 0 {
			return sql.Errorf(s.Limit.Start(), "LIMIT takes a non-negative integer literal")
		}
		b.q.limit = n
	}
	return nil
}

func colNames(cols []expr.Column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// sortBatch orders b's rows by sp; ties keep their order.
func sortBatch(b *types.Batch, sp *sortSpec) *types.Batch {
	return take(b, sortedRows(b, sp, b.N))
}

// sortedRows returns b's row indices in sp's order, ties in row order (the
// stable order), the first k of them at least: with k < b.N only the k
// first rows are selected and ordered (one comparison per row against the
// k-th so far, where a full sort makes about log2(b.N)), the others follow
// in row order. A console prints its first rows; it need not wait for a
// million-row table to be sorted each batch.
func sortedRows(b *types.Batch, sp *sortSpec, k int) []int32 {
	c := rowOrder(b, sp)
	idx := make([]int32, b.N)
	if k >= b.N {
		for i := range idx {
			idx[i] = int32(i)
		}
		slices.SortFunc(idx, c)
		return idx
	}
	top := topRows(b.N, k, c)
	in := make([]bool, b.N)
	for _, r := range top {
		in[r] = true
	}
	idx = append(idx[:0], top...)
	for r := range int32(b.N) {
		if !in[r] {
			idx = append(idx, r)
		}
	}
	return idx
}

// topRows returns the k first of rows 0..n-1 in c's order (a total order),
// ordered: a heap of the best k seen, its worst on top.
func topRows(n, k int, c func(x, y int32) int) []int32 {
	h := make([]int32, 0, k)
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			w := l
			if r := l + 1; r < len(h) && c(h[r], h[l]) > 0 {
				w = r
			}
			if c(h[w], h[i]) <= 0 {
				return
			}
			h[i], h[w] = h[w], h[i]
			i = w
		}
	}
	for r := range int32(n) {
		switch {
		case len(h) < k:
			h = append(h, r)
			for i := len(h) - 1; i > 0; {
				p := (i - 1) / 2
				if c(h[i], h[p]) <= 0 {
					break
				}
				h[i], h[p] = h[p], h[i]
				i = p
			}
		case k > 0 && c(r, h[0]) < 0:
			h[0] = r
			down(0)
		}
	}
	slices.SortFunc(h, c)
	return h
}

// rowOrder returns sp's order of b's rows as a total order: rows equal in
// every key compare by index, which makes any sort give the stable order.
// Each key's comparison is chosen once, by its type, nulls and direction.
func rowOrder(b *types.Batch, sp *sortSpec) func(x, y int32) int {
	keys := make([]func(x, y int32) int, len(sp.cols))
	for k, col := range sp.cols {
		keys[k] = keyOrder(b.Cols[col], sp.desc[k], sp.nullF[k])
	}
	if len(keys) == 1 {
		k0 := keys[0]
		return func(x, y int32) int {
			if r := k0(x, y); r != 0 {
				return r
			}
			return cmp.Compare(x, y)
		}
	}
	return func(x, y int32) int {
		for _, k := range keys {
			if r := k(x, y); r != 0 {
				return r
			}
		}
		return cmp.Compare(x, y)
	}
}

// keyOrder compares two rows by one ORDER BY key of vector v: nulls first
// or last whatever the direction, values ascending or descending.
func keyOrder(v *types.Vector, desc, nullsFirst bool) func(x, y int32) int {
	var val func(x, y int32) int
	switch {
	case v.Type.Kind == types.String:
		s := v.Str
		val = func(x, y int32) int { return strings.Compare(s[x], s[y]) }
		if desc {
			val = func(x, y int32) int { return strings.Compare(s[y], s[x]) }
		}
	case v.Type.Kind == types.Double:
		f := v.F64
		val = func(x, y int32) int { return compareDouble(f[x], f[y]) }
		if desc {
			val = func(x, y int32) int { return compareDouble(f[y], f[x]) }
		}
	case v.Type.UsesI64():
		n := v.I64
		val = func(x, y int32) int { return cmp.Compare(n[x], n[y]) }
		if desc {
			val = func(x, y int32) int { return cmp.Compare(n[y], n[x]) }
		}
	default: // BOOLEAN: false before true
		bs := v.Bool
		val = func(x, y int32) int {
			if desc {
				x, y = y, x
			}
			switch a, c := bs[x], bs[y]; {
			case a == c:
				return 0
			case !a:
				return -1
			}
			return 1
		}
	}
	null := v.Null
	if null == nil {
		return val
	}
	nullSide := 1 // a null row sorts after a value
	if nullsFirst {
		nullSide = -1
	}
	return func(x, y int32) int {
		nx, ny := null[x], null[y]
		switch {
		case nx && ny:
			return 0
		case nx:
			return nullSide
		case ny:
			return -nullSide
		}
		return val(x, y)
	}
}

// compareDouble orders doubles as Spark does: NaN after every other
// value and equal to itself, -0 equal to 0.
func compareDouble(a, b float64) int {
	switch an, bn := a != a, b != b; {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	}
	return cmp.Compare(a, b)
}
