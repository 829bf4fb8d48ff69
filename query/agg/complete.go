package agg

import (
	"bytes"
	"slices"
	"unsafe"

	"github.com/sensorlab/sensorlab/query/types"
)

// shown is a window's last output in Complete mode, kept so that the next
// batch emits it again without sorting the groups or recomputing those
// the batch did not change: the groups in key order, and their key and
// aggregate columns in that order. A batch sorts only its new groups and
// inserts them by binary search, then overwrites the rows of the groups
// it changed; the window's rows are copied out whole.
type shown struct {
	order []int32 // main rows in key order
	pos   []int32 // by record: a main row's index in order
	upTo  int32   // records that existed at the last emission
	cols  []*types.Vector
}

// bytes estimates the heap the cache holds.
func (c *shown) bytes() int64 {
	if c == nil {
		return 0
	}
	n := int64(cap(c.order)+cap(c.pos)) * 4
	for _, v := range c.cols {
		n += int64(cap(v.Str))*16 + int64(cap(v.I64)+cap(v.F64))*8 + int64(cap(v.Bool)+cap(v.Null))
		for _, s := range v.Str {
			n += int64(len(s))
		}
	}
	return n
}

// emitComplete appends every group of w to out, sorted by key, through
// w's cache of its last output.
func (o *Op) emitComplete(out *types.Batch, w *store) error {
	S := o.stride
	c := w.shown
	if c == nil {
		c = &shown{}
		for _, f := range o.out[len(o.out)-len(o.cfg.Keys)-len(o.aggs):] {
			c.cols = append(c.cols, types.NewVector(f.Type, 0))
		}
		w.shown = c
	}
	// The rows to compute: the groups created since the last emission,
	// sorted by key, then the older groups the batch changed (whose keys
	// the cache holds: only their aggregates are computed).
	refs := o.sc.refs[:0]
	for r := c.upTo; r < w.n; r++ {
		if w.isMain(r, S) {
			refs = append(refs, keyRef{k: w.key(r, S), r: r})
		}
	}
	nNew := len(refs)
	o.sortKeys(refs)
	for _, m := range w.touched {
		if m < c.upTo {
			refs = append(refs, keyRef{r: m})
		}
	}
	rows := refs[:0:0]
	if len(refs) > 0 {
		rows = append(o.emitRefs[:0], refs...) // mergeGroups rewrites r
	}
	scratch := o.scratchBatch()
	reserve(scratch, len(refs))
	err := o.mergeGroups(&o.sc, w, refs)
	if err == nil {
		err = o.emitKeys(scratch, 0, refs[:nNew])
	}
	if err == nil {
		err = o.emitAggs(&o.sc, scratch, len(o.cfg.Keys), w, refs)
		scratch.N = len(refs) // the key columns hold the new groups' rows only
	}
	clear(refs)
	o.sc.refs = refs[:0]
	if err != nil {
		return err
	}
	if nNew > 0 {
		c.insert(w, S, rows[:nNew], scratch, o.stringKey())
	}
	// The changed groups' aggregates replace theirs (keys never change:
	// the cache keeps the strings it has).
	nk := len(o.cfg.Keys)
	for j := nNew; j < len(rows); j++ {
		i := int(c.pos[rows[j].r])
		for k := nk; k < len(c.cols); k++ {
			setRow(c.cols[k], i, scratch.Cols[k], j)
		}
	}
	c.upTo = w.n
	clear(rows)
	o.emitRefs = rows[:0]
	n := len(c.order)
	k := 0
	if o.size > 0 {
		appendConst(out.Cols[0], w.start, n)
		appendConst(out.Cols[1], w.start+o.size, n)
		k = 2
	}
	for i, v := range c.cols {
		appendVec(out.Cols[k+i], v)
	}
	out.N += n
	return nil
}

// scratchBatch returns an empty batch of the key and aggregate columns.
func (o *Op) scratchBatch() *types.Batch {
	fs := o.out[len(o.out)-len(o.cfg.Keys)-len(o.aggs):]
	if o.scratch == nil {
		o.scratch = types.NewBatch(fs, 0)
	}
	o.scratch.Reset()
	return o.scratch
}

// insert merges the new groups rows (sorted by key), whose columns are the
// first rows of b, into the cache.
func (c *shown) insert(w *store, S int, rows []keyRef, b *types.Batch, rawKeys bool) {
	old := c.order
	n := len(old) + len(rows)
	// Where each new group goes: the old groups before it, found by
	// binary search from the previous one's place.
	// With one NOT NULL STRING key the cached key column is the keys'
	// encoding: compared in place, without the records' indirection.
	at := make([]int, len(rows))
	lo := 0
	for j, kr := range rows {
		var i int
		if rawKeys {
			i, _ = slices.BinarySearchFunc(c.cols[0].Str[lo:len(old)], kr.k, func(s string, k []byte) int {
				return bytes.Compare(unsafe.Slice(unsafe.StringData(s), len(s)), k)
			})
		} else {
			i, _ = slices.BinarySearchFunc(old[lo:], kr.k, func(r int32, k []byte) int {
				return bytes.Compare(w.key(r, S), k)
			})
		}
		lo += i
		at[j] = lo
	}
	order := make([]int32, 0, n)
	cols := make([]*types.Vector, len(c.cols))
	for k, v := range c.cols {
		cols[k] = types.NewVector(v.Type, n)
	}
	prev := 0
	for j, kr := range rows {
		order = append(order, old[prev:at[j]]...)
		order = append(order, kr.r)
		for k, v := range c.cols {
			appendRange(cols[k], v, prev, at[j])
			appendRange(cols[k], b.Cols[k], j, j+1)
		}
		prev = at[j]
	}
	order = append(order, old[prev:]...)
	for k, v := range c.cols {
		appendRange(cols[k], v, prev, len(old))
	}
	c.order, c.cols = order, cols
	if cap(c.pos) < int(w.n) {
		c.pos = make([]int32, w.n, cap(w.rec)/S)
	}
	c.pos = c.pos[:w.n]
	for i, r := range order {
		c.pos[r] = int32(i)
	}
}

// appendRange appends rows [lo, hi) of src to dst.
func appendRange(dst, src *types.Vector, lo, hi int) {
	if lo >= hi {
		return
	}
	n := dst.Len()
	switch {
	case src.Type.Kind == types.String:
		dst.Str = append(dst.Str, src.Str[lo:hi]...)
	case src.Type.Kind == types.Boolean:
		dst.Bool = append(dst.Bool, src.Bool[lo:hi]...)
	case src.Type.Kind == types.Double:
		dst.F64 = append(dst.F64, src.F64[lo:hi]...)
	default:
		dst.I64 = append(dst.I64, src.I64[lo:hi]...)
	}
	switch {
	case src.Null != nil:
		if dst.Null == nil {
			dst.Null = make([]bool, n, cap(dst.Str)+cap(dst.Bool)+cap(dst.F64)+cap(dst.I64))
		}
		dst.Null = append(dst.Null, src.Null[lo:hi]...)
	case dst.Null != nil:
		dst.Null = append(dst.Null, make([]bool, hi-lo)...)
	}
}

// appendVec appends every row of src to dst.
func appendVec(dst, src *types.Vector) { appendRange(dst, src, 0, src.Len()) }

// setRow overwrites row i of dst with row j of src.
func setRow(dst *types.Vector, i int, src *types.Vector, j int) {
	switch {
	case src.Type.Kind == types.String:
		dst.Str[i] = src.Str[j]
	case src.Type.Kind == types.Boolean:
		dst.Bool[i] = src.Bool[j]
	case src.Type.Kind == types.Double:
		dst.F64[i] = src.F64[j]
	default:
		dst.I64[i] = src.I64[j]
	}
	null := src.Null != nil && src.Null[j]
	if null && dst.Null == nil {
		dst.Null = make([]bool, dst.Len())
	}
	if dst.Null != nil {
		dst.Null[i] = null
	}
}
