package types

// Vector is one column of a batch. Exactly one of the value slices is used,
// chosen by Type (see the package doc); its length is the batch's.
type Vector struct {
	Type Type
	Str  []string
	Bool []bool
	I64  []int64
	F64  []float64
	Null []bool // nil: no row is null
}

// NewVector returns an empty vector of type t with room for n rows.
func NewVector(t Type, n int) *Vector {
	v := &Vector{Type: t}
	switch {
	case t.Kind == String:
		v.Str = make([]string, 0, n)
	case t.Kind == Boolean:
		v.Bool = make([]bool, 0, n)
	case t.Kind == Double:
		v.F64 = make([]float64, 0, n)
	case t.UsesI64():
		v.I64 = make([]int64, 0, n)
	}
	return v
}

// Len returns the number of rows.
func (v *Vector) Len() int {
	switch {
	case v.Type.Kind == String:
		return len(v.Str)
	case v.Type.Kind == Boolean:
		return len(v.Bool)
	case v.Type.Kind == Double:
		return len(v.F64)
	case v.Type.UsesI64():
		return len(v.I64)
	}
	return len(v.Null)
}

// IsNull reports whether row i is null.
func (v *Vector) IsNull(i int) bool { return v.Null != nil && v.Null[i] }

// Reset empties the vector, keeping its capacity.
func (v *Vector) Reset() {
	v.Str, v.Bool, v.I64, v.F64 = v.Str[:0], v.Bool[:0], v.I64[:0], v.F64[:0]
	v.Null = nil
}

// AppendNull appends a null row.
func (v *Vector) AppendNull() {
	n := v.Len()
	if v.Null == nil {
		v.Null = make([]bool, n, max(n+1, 16))
	}
	v.Null = append(v.Null, true)
	switch {
	case v.Type.Kind == String:
		v.Str = append(v.Str, "")
	case v.Type.Kind == Boolean:
		v.Bool = append(v.Bool, false)
	case v.Type.Kind == Double:
		v.F64 = append(v.F64, 0)
	case v.Type.UsesI64():
		v.I64 = append(v.I64, 0)
	}
}

// markNotNull keeps Null's length in step after a non-null append.
func (v *Vector) markNotNull() {
	if v.Null != nil {
		v.Null = append(v.Null, false)
	}
}

// AppendString appends a non-null STRING.
func (v *Vector) AppendString(s string) { v.Str = append(v.Str, s); v.markNotNull() }

// AppendBool appends a non-null BOOLEAN.
func (v *Vector) AppendBool(b bool) { v.Bool = append(v.Bool, b); v.markNotNull() }

// AppendInt appends a non-null value kept in I64 (INT, BIGINT, DECIMAL
// unscaled, TIMESTAMP micros, DATE days).
func (v *Vector) AppendInt(x int64) { v.I64 = append(v.I64, x); v.markNotNull() }

// AppendFloat appends a non-null DOUBLE.
func (v *Vector) AppendFloat(x float64) { v.F64 = append(v.F64, x); v.markNotNull() }

// Batch is a set of rows, column by column. Partition, when not nil, holds
// each row's input partition (the Kafka partition it was read from); the
// engine merges per-partition partial aggregates in ascending partition
// order so that results do not depend on how input was cut into batches.
type Batch struct {
	Schema    Schema
	Cols      []*Vector
	Partition []int32
	N         int
}

// NewBatch returns an empty batch of schema s with room for n rows.
func NewBatch(s Schema, n int) *Batch {
	b := &Batch{Schema: s, Cols: make([]*Vector, len(s))}
	for i, f := range s {
		b.Cols[i] = NewVector(f.Type, n)
	}
	return b
}

// Reset empties the batch, keeping its capacity.
func (b *Batch) Reset() {
	for _, c := range b.Cols {
		c.Reset()
	}
	b.Partition = b.Partition[:0]
	b.N = 0
}
