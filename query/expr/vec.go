package expr

import "github.com/sensorlab/sensorlab/query/types"

// phys is the value slice a vector of a type uses (see query/types).
type phys uint8

const (
	pNone phys = iota // NULL type: no value slice
	pStr
	pBool
	pI64
	pF64
)

func physOf(t types.Type) phys {
	switch {
	case t.Kind == types.String:
		return pStr
	case t.Kind == types.Boolean:
		return pBool
	case t.Kind == types.Double:
		return pF64
	case t.UsesI64():
		return pI64
	}
	return pNone
}

func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n, n+n/4)
}

// prepare makes out a vector of type t with n value slots (their contents
// unspecified) and no nulls, reusing out's value capacity. Only the slice
// of t's kind is kept; the others are emptied so that out never shows stale
// values of another type.
func prepare(out *types.Vector, t types.Type, n int) {
	out.Type = t
	out.Null = nil
	switch physOf(t) {
	case pStr:
		out.Str = grow(out.Str, n)
		out.Bool, out.I64, out.F64 = out.Bool[:0], out.I64[:0], out.F64[:0]
	case pBool:
		out.Bool = grow(out.Bool, n)
		out.Str, out.I64, out.F64 = out.Str[:0], out.I64[:0], out.F64[:0]
	case pI64:
		out.I64 = grow(out.I64, n)
		out.Str, out.Bool, out.F64 = out.Str[:0], out.Bool[:0], out.F64[:0]
	case pF64:
		out.F64 = grow(out.F64, n)
		out.Str, out.Bool, out.I64 = out.Str[:0], out.Bool[:0], out.I64[:0]
	default:
		out.Str, out.Bool, out.I64, out.F64 = out.Str[:0], out.Bool[:0], out.I64[:0], out.F64[:0]
	}
}

// newNulls gives out a fresh all-false null slice of n rows and returns it.
// It never reuses a slice out did not allocate itself: a null slice may have
// been shared with an input column.
func newNulls(out *types.Vector, n int) []bool {
	out.Null = make([]bool, n)
	return out.Null
}

// unionNulls sets out.Null to the rows null in any of ins (nil when none).
func unionNulls(out *types.Vector, n int, ins ...[]bool) {
	var nulls []bool
	for _, in := range ins {
		if in == nil {
			continue
		}
		if nulls == nil {
			nulls = newNulls(out, n)
			copy(nulls, in[:n])
			continue
		}
		for i, x := range in[:n] {
			nulls[i] = nulls[i] || x
		}
	}
}

// fixNulls restores the representation invariant after a kernel computed
// every row: value slots of null rows hold the zero value, and a null slice
// without any null is dropped.
func fixNulls(out *types.Vector) {
	if out.Null == nil {
		return
	}
	any := false
	switch physOf(out.Type) {
	case pStr:
		for i, x := range out.Null {
			if x {
				out.Str[i], any = "", true
			}
		}
	case pBool:
		for i, x := range out.Null {
			if x {
				out.Bool[i], any = false, true
			}
		}
	case pI64:
		for i, x := range out.Null {
			if x {
				out.I64[i], any = 0, true
			}
		}
	case pF64:
		for i, x := range out.Null {
			if x {
				out.F64[i], any = 0, true
			}
		}
	default:
		any = true
	}
	if !any {
		out.Null = nil
	}
}

// allNull makes out n null rows of type t.
func allNull(out *types.Vector, t types.Type, n int) {
	prepare(out, t, n)
	clear(out.Str)
	clear(out.Bool)
	clear(out.I64)
	clear(out.F64)
	nulls := newNulls(out, n)
	for i := range nulls {
		nulls[i] = true
	}
}

// copyVector makes out a copy of in's first n rows, in out's own storage.
func copyVector(out, in *types.Vector, n int) {
	prepare(out, in.Type, n)
	switch physOf(in.Type) {
	case pStr:
		copy(out.Str, in.Str[:n])
	case pBool:
		copy(out.Bool, in.Bool[:n])
	case pI64:
		copy(out.I64, in.I64[:n])
	case pF64:
		copy(out.F64, in.F64[:n])
	}
	if in.Null != nil {
		copy(newNulls(out, n), in.Null[:n])
	}
}

// arg evaluates a child for reading: a column reference answers with the
// batch's own vector (read-only, never written to), anything else is
// evaluated into the scratch vector the parent owns for it.
func arg(e Expr, b *types.Batch, scratch *types.Vector) *types.Vector {
	switch e := e.(type) {
	case *colRef:
		return b.Cols[e.idx]
	case *constant:
		return e.broadcast(b.N)
	}
	e.Eval(b, scratch)
	return scratch
}
