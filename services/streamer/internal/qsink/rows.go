package qsink

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/sensorlab/sensorlab/query/expr"
	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// sorted returns b's row indexes in the sink's file order: by the
// partition columns, then every data column, nulls first. The order is
// total on the values' bits (-0.0 before 0.0, NaNs by payload), so rows
// that tie are identical in every written column and the files' bytes do
// not depend on the order the engine emitted the rows in. A STRING
// partition value "" (empty) ties with NULL: Delta makes both the null partition.
func (o *deltaOutput) sorted(b *types.Batch) []int {
	cmps := make([]func(a, c int) int, len(o.order))
	for k, i := range o.order {
		cmps[k] = compareColumn(b.Cols[i], k < len(o.part))
	}
	idx := make([]int, b.N)
	for i := range idx {
		idx[i] = i
	}
	cmp := func(x, y int) int {
		for _, c := range cmps {
			if r := c(x, y); r != 0 {
				return r
			}
		}
		return 0
	}
	// An aggregation emits its rows in window and key order, often the
	// file order already: one pass then saves the sort.
	if !slices.IsSortedFunc(idx, cmp) {
		slices.SortStableFunc(idx, cmp)
	}
	return idx
}

// compareColumn orders two rows of v, nulls first.
func compareColumn(v *types.Vector, partition bool) func(a, b int) int {
	isNull := func(i int) bool { return v.IsNull(i) }
	if partition && v.Type.Kind == types.String {
		isNull = func(i int) bool { return v.IsNull(i) || v.Str[i] == "" }
	}
	var values func(a, b int) int
	switch t := v.Type; {
	case t.Kind == types.String:
		values = func(a, b int) int { return strings.Compare(v.Str[a], v.Str[b]) }
	case t.Kind == types.Boolean:
		values = func(a, b int) int {
			x, y := v.Bool[a], v.Bool[b]
			switch {
			case x == y:
				return 0
			case !x:
				return -1
			}
			return 1
		}
	case t.Kind == types.Double:
		values = func(a, b int) int {
			x, y := v.F64[a], v.F64[b]
			return cmp.Or(cmp.Compare(x, y), cmp.Compare(int64(math.Float64bits(x)), int64(math.Float64bits(y))))
		}
	default: // the kinds kept in I64
		values = func(a, b int) int { return cmp.Compare(v.I64[a], v.I64[b]) }
	}
	return func(a, b int) int {
		na, nb := isNull(a), isNull(b)
		switch {
		case na && nb:
			return 0
		case na:
			return -1
		case nb:
			return 1
		}
		return values(a, b)
	}
}

// gather returns the rows idx of v as a vector: a view of v when they are
// consecutive rows in order, else a copy.
func gather(v *types.Vector, idx []int) *types.Vector {
	if n := len(idx); n > 0 && idx[n-1]-idx[0] == n-1 && slices.IsSorted(idx) {
		// Consecutive rows (idx holds each row once): a view of them.
		lo, hi := idx[0], idx[n-1]+1
		out := &types.Vector{Type: v.Type}
		switch t := v.Type; {
		case t.Kind == types.String:
			out.Str = v.Str[lo:hi:hi]
		case t.Kind == types.Boolean:
			out.Bool = v.Bool[lo:hi:hi]
		case t.Kind == types.Double:
			out.F64 = v.F64[lo:hi:hi]
		default:
			out.I64 = v.I64[lo:hi:hi]
		}
		if v.Null != nil {
			out.Null = v.Null[lo:hi:hi]
		}
		return out
	}
	out := types.NewVector(v.Type, len(idx))
	for _, i := range idx {
		if v.IsNull(i) {
			out.AppendNull()
			continue
		}
		switch t := v.Type; {
		case t.Kind == types.String:
			out.AppendString(v.Str[i])
		case t.Kind == types.Boolean:
			out.AppendBool(v.Bool[i])
		case t.Kind == types.Double:
			out.AppendFloat(v.F64[i])
		default:
			out.AppendInt(v.I64[i])
		}
	}
	return out
}

// castText is CAST(column AS STRING) over batches of one schema: the text
// Spark gives a value where it writes it as a string (a partition
// directory, a record key).
type castText struct {
	e   expr.Expr
	out types.Vector
}

func newCastText(s types.Schema, col int) (castText, error) {
	cols := make([]expr.Column, len(s))
	for i, f := range s {
		cols[i] = expr.Column{Name: fmt.Sprintf("c%d", i), Type: f.Type}
	}
	ref := &sql.ColumnRef{Parts: []sql.Ident{{Name: fmt.Sprintf("c%d", col)}}}
	e, err := expr.Compile(&sql.Cast{X: ref, To: &sql.TypeName{Name: "STRING"}}, &expr.Scope{Columns: cols})
	if err != nil {
		return castText{}, err
	}
	return castText{e: e}, nil
}

// eval returns the text of every row of b, "" for NULL.
func (c *castText) eval(b *types.Batch) []string {
	c.out.Reset()
	c.e.Eval(b, &c.out)
	out := make([]string, b.N)
	for i := range out {
		if !c.out.IsNull(i) {
			out[i] = c.out.Str[i]
		}
	}
	return out
}
