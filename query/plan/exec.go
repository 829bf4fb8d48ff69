package plan

import (
	"fmt"
	"slices"

	"github.com/sensorlab/sensorlab/query/agg"
	"github.com/sensorlab/sensorlab/query/decode"
	"github.com/sensorlab/sensorlab/query/expr"
	"github.com/sensorlab/sensorlab/query/types"
)

// SourceReader turns a stream source's records into rows of its declared
// schema: decode, computed columns, CHECK constraints. One reader serves
// every query over the source, so a record is decoded, and rejected, once.
type SourceReader struct {
	src      *Source
	dec      *decode.Decoder
	raw      *types.Batch // decoded columns of the records
	rec      []int        // record index of each raw row
	computed []expr.Expr
	checks   []check
	keyCol   int        // the decoded column the records' key must equal (WITH key); -1: none
	sel      [2][]int32 // the rows that passed the checks so far, and the next check's
	now      int64
	work     types.Batch     // the decoded and computed columns of a batch
	compVecs []*types.Vector // the computed columns' vectors
}

// check is a CHECK constraint, as a filter that keeps the rows where it is
// TRUE or NULL.
type check struct {
	reason, detail string
	f              *expr.Filter
}

// Rejected is a record the source did not take: its index in the records
// given to Read and why (a decode reason, or a CHECK constraint's name).
type Rejected struct {
	Index  int
	Reason string
	Field  string
	Detail string
}

// NewSourceReader prepares the reading of a stream source.
func NewSourceReader(s *Source) (*SourceReader, error) {
	if s.Kind != Stream {
		return nil, fmt.Errorf("source %s is a table: it has no records to decode", s.Name)
	}
	d, err := decode.New(s.Format, s.Decoded)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", s.Name, err)
	}
	r := &SourceReader{src: s, dec: d, raw: types.NewBatch(d.Schema(), 1024), keyCol: -1}
	if s.Key != "" {
		r.keyCol = slices.IndexFunc(s.Decoded, func(c decode.Column) bool { return c.Name == s.Key })
	}
	internal := make(types.Schema, 0, len(s.Schema))
	for _, c := range s.Decoded {
		internal = append(internal, types.Field{Name: c.Name, Type: c.Type, Nullable: !c.NotNull})
	}
	now := func() int64 { return r.now }
	sc := &expr.Scope{Columns: sourceColumns(s, internal), Now: now}
	for _, c := range s.Computed {
		e, err := expr.Compile(c.Computed, sc)
		if err != nil {
			return nil, err
		}
		r.computed = append(r.computed, e)
		internal = append(internal, types.Field{Name: c.Name.Name, Type: e.Type(), Nullable: true})
	}
	full := &expr.Scope{Columns: sourceColumns(s, internal), Now: now}
	for _, c := range s.Checks {
		e, err := expr.Compile(c.Expr, full)
		if err != nil {
			return nil, err
		}
		f, err := expr.NewFilter(e, true)
		if err != nil {
			return nil, fmt.Errorf("CONSTRAINT %s: %w", c.Name.Name, err)
		}
		r.checks = append(r.checks, check{reason: c.Name.Name, f: f,
			detail: fmt.Sprintf("CONSTRAINT %s CHECK failed", c.Name.Name)})
	}
	return r, nil
}

// Source returns the source the reader reads.
func (r *SourceReader) Source() *Source { return r.src }

// Read decodes recs (nowMicros is the batch's timestamp, current_timestamp()
// in computed columns and checks) and returns the rows in the source's
// declared schema, with each row's partition, and the records rejected.
// The batch is valid until the next Read.
func (r *SourceReader) Read(recs []decode.Record, nowMicros int64) (*types.Batch, []Rejected) {
	r.now = nowMicros
	var rejected []Rejected
	r.raw.Reset()
	r.rec = r.rec[:0]
	for i := range recs {
		if rej := r.dec.Decode(&recs[i], r.raw); rej != nil {
			rejected = append(rejected, Rejected{Index: i, Reason: rej.Reason, Field: rej.Field, Detail: rej.Detail})
			continue
		}
		r.rec = append(r.rec, i)
	}
	r.raw.N = len(r.rec)
	if r.keyCol >= 0 {
		rejected = r.checkKeys(recs, rejected)
	}
	return r.rows(r.raw, rejected)
}

// checkKeys rejects the rows whose record's Kafka key is not their key
// column's value: a source declared keyed by a column has each value's
// records in one partition, which a record keyed otherwise breaks.
func (r *SourceReader) checkKeys(recs []decode.Record, rejected []Rejected) []Rejected {
	v := r.raw.Cols[r.keyCol]
	sel := r.sel[0][:0]
	before := len(rejected)
	for j := range r.raw.N {
		i := r.rec[j]
		null := v.Null != nil && v.Null[j]
		if null && recs[i].Key == nil || !null && recs[i].Key != nil && string(recs[i].Key) == v.Str[j] {
			sel = append(sel, int32(j))
			continue
		}
		got := "no key"
		if recs[i].Key != nil {
			got = fmt.Sprintf("key %q", recs[i].Key)
		}
		rejected = append(rejected, Rejected{Index: i, Reason: decode.ReasonKeyMismatch, Field: r.src.Key,
			Detail: fmt.Sprintf("the record has %s, not its %s: the source is declared keyed by %s", got, r.src.Key, r.src.Key)})
	}
	r.sel[0] = sel
	if len(rejected) == before {
		return rejected
	}
	compact(r.raw, sel)
	for j, k := range sel {
		r.rec[j] = r.rec[k]
	}
	r.rec = r.rec[:len(sel)]
	slices.SortStableFunc(rejected, func(a, b Rejected) int { return a.Index - b.Index })
	return rejected
}

// rows adds the computed columns, applies the CHECK constraints (rejected
// rows leave) and orders the columns as declared.
func (r *SourceReader) rows(b *types.Batch, rejected []Rejected) (*types.Batch, []Rejected) {
	s := r.src
	// The computed columns' vectors are the reader's, reused batch after
	// batch (the batch Read returns is valid until the next Read).
	work := &r.work
	*work = types.Batch{Cols: append(work.Cols[:0], b.Cols...), Partition: b.Partition, N: b.N}
	if r.compVecs == nil {
		for _, e := range r.computed {
			r.compVecs = append(r.compVecs, types.NewVector(e.Type(), b.N))
		}
	}
	for i, e := range r.computed {
		v := r.compVecs[i]
		v.Reset()
		e.Eval(work, v)
		work.Cols = append(work.Cols, v)
	}
	if len(r.checks) > 0 && b.N > 0 {
		// Each check narrows the rows the previous ones passed; the rows
		// it drops are rejected with its name, in row order.
		var sel []int32 // nil: every row
		for k := range r.checks {
			c := &r.checks[k]
			kept := c.f.Select(work, sel, r.sel[k%2])
			r.sel[k%2] = kept[:0]
			n := len(sel)
			if sel == nil {
				n = work.N
			}
			if len(kept) < n {
				for j, x := 0, 0; x < n; x++ {
					i := int32(x)
					if sel != nil {
						i = sel[x]
					}
					if j < len(kept) && kept[j] == i {
						j++
						continue
					}
					rejected = append(rejected, Rejected{Index: r.rec[i], Reason: c.reason, Detail: c.detail})
				}
			}
			sel = kept
			if len(sel) == 0 {
				break
			}
		}
		if len(sel) < work.N {
			compact(work, sel)
		}
	}
	decl := &types.Batch{Schema: s.Schema, Cols: make([]*types.Vector, len(s.Schema)), Partition: work.Partition, N: work.N}
	for d, in := range s.order {
		decl.Cols[d] = work.Cols[in]
	}
	return decl, rejected
}

// compact keeps the rows sel (ascending) of b, moving them down in place:
// the reader's own vectors, reused by the next Read.
func compact(b *types.Batch, sel []int32) {
	n := len(sel)
	for _, v := range b.Cols {
		switch {
		case v.Type.Kind == types.String:
			v.Str = compactSlice(v.Str, sel)
		case v.Type.Kind == types.Boolean:
			v.Bool = compactSlice(v.Bool, sel)
		case v.Type.Kind == types.Double:
			v.F64 = compactSlice(v.F64, sel)
		case v.Type.UsesI64():
			v.I64 = compactSlice(v.I64, sel)
		}
		if v.Null != nil {
			v.Null = compactSlice(v.Null, sel)
			if !slices.Contains(v.Null, true) {
				v.Null = nil
			}
		}
	}
	if b.Partition != nil {
		b.Partition = compactSlice(b.Partition, sel)
	}
	b.N = n
}

func compactSlice[T any](s []T, sel []int32) []T {
	for j, i := range sel {
		s[j] = s[i]
	}
	clear(s[len(sel):]) // no string kept alive past the rows
	return s[:len(sel)]
}

// Executor runs one query, one micro-batch at a time: Push the batch's
// source rows (in one or more pieces), then Finish. It holds the query's
// state (the aggregation's), so one Executor serves one running query.
type Executor struct {
	q       *Query
	reader  *SourceReader // for Process; nil until first used
	agg     *agg.Op
	pending []*types.Batch // a stateless query's rows of the batch
	stats   int            // rows pushed in the batch
	shared  *sharedAgg     // the aggregation shared with other queries (share.go); nil if none
	member  int            // this query's place among shared's members
	// readsFirst > 0: the sink reads only the first readsFirst rows in
	// ORDER BY's order (ReadsFirst).
	readsFirst int
}

// ReadsFirst tells the executor that its query's sink reads only the first
// n rows of each batch's output in ORDER BY's order, as a console shows
// its first rows: with ORDER BY (and no LIMIT), only those n are sorted;
// the other rows follow, every one of them still there, in row order. n <=
// 0: every row is sorted (the default).
func (x *Executor) ReadsFirst(n int) { x.readsFirst = n }

// Output is what one micro-batch produced.
type Output struct {
	Rows     *types.Batch // in the query's Output schema
	Rejected []Rejected   // Process only
	Stats    agg.Stats    // zero for a stateless query
	NumInput int          // source rows pushed
}

// NewExecutor prepares q to run from an empty state.
func (q *Query) NewExecutor() (*Executor, error) {
	x := &Executor{q: q}
	if q.agg != nil {
		op, err := agg.New(q.agg.schema, q.agg.cfg)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", q.Name, err)
		}
		x.agg = op
	}
	return x, nil
}

// Query returns the query the executor runs.
func (x *Executor) Query() *Query { return x.q }

// Agg returns the query's aggregation operator (nil for a stateless
// query), for checkpointing its state.
func (x *Executor) Agg() *agg.Op { return x.agg }

// SetAgg replaces the aggregation's state with one restored from a
// checkpoint (not for an executor of NewSharedExecutors: give it the
// restored operator instead).
func (x *Executor) SetAgg(op *agg.Op) { x.agg = op }

// Shared returns the names of the queries whose executors share this
// one's aggregation operator (NewSharedExecutors), this one's included;
// nil when it has its own.
func (x *Executor) Shared() []string {
	if x.shared == nil {
		return nil
	}
	n := make([]string, len(x.shared.members))
	for i, q := range x.shared.members {
		n[i] = q.Name
	}
	return n
}

// AggConfig returns the aggregation's input schema and configuration, for
// agg.Restore.
func (q *Query) AggConfig() (types.Schema, agg.Config, bool) {
	if q.agg == nil {
		return nil, agg.Config{}, false
	}
	return q.agg.schema, q.agg.cfg, true
}

// Push runs the query's operators over rows of its source (in the source's
// declared schema). nowMicros is the batch's timestamp.
func (x *Executor) Push(b *types.Batch, nowMicros int64) error {
	*x.q.now = nowMicros
	x.stats += b.N
	if x.shared != nil {
		return x.shared.push(b, nowMicros)
	}
	for _, o := range x.q.pre {
		b = o.run(b)
	}
	if x.agg != nil {
		if err := x.agg.Add(b); err != nil {
			return fmt.Errorf("query %s: %w", x.q.Name, err)
		}
		return nil
	}
	if b.N > 0 {
		// The rows may alias the reader's vectors, which its next Read
		// reuses: keep a copy until Finish.
		all := make([]int32, b.N)
		for i := range all {
			all[i] = int32(i)
		}
		x.pending = append(x.pending, take(b, all))
	}
	return nil
}

// Finish ends the micro-batch and returns its output rows.
func (x *Executor) Finish(nowMicros int64) (*Output, error) {
	*x.q.now = nowMicros
	out := &Output{NumInput: x.stats}
	x.stats = 0
	var b *types.Batch
	if x.agg != nil {
		var st agg.Stats
		if x.shared != nil {
			var err error
			if b, st, err = x.shared.finish(x.member, nowMicros); err != nil {
				return nil, err
			}
		} else {
			b, st = x.agg.Finish()
			if err := x.agg.Err(); err != nil {
				return nil, fmt.Errorf("query %s: %w", x.q.Name, err)
			}
		}
		out.Stats = st
		for _, o := range x.q.post {
			b = o.run(b)
		}
	} else {
		b = concat(x.q.Output, x.pending)
		x.pending = x.pending[:0]
	}
	limited := x.q.limit >= 0 && int64(b.N) > x.q.limit
	switch {
	case x.q.order != nil && limited:
		b = take(b, sortedRows(b, x.q.order, int(x.q.limit))[:x.q.limit])
	case x.q.order != nil && x.readsFirst > 0:
		b = take(b, sortedRows(b, x.q.order, x.readsFirst))
	case x.q.order != nil:
		b = sortBatch(b, x.q.order)
	case limited:
		sel := make([]int32, x.q.limit)
		for i := range sel {
			sel[i] = int32(i)
		}
		b = take(b, sel)
	}
	b.Schema = x.q.Output
	out.Rows = b
	return out, nil
}

// Process runs one micro-batch over recs of the query's stream source:
// Read, Push and Finish, for a query that reads its source alone.
func (x *Executor) Process(recs []decode.Record, nowMicros int64) (*Output, error) {
	if x.reader == nil {
		r, err := NewSourceReader(x.q.Source)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", x.q.Name, err)
		}
		x.reader = r
	}
	b, rejected := x.reader.Read(recs, nowMicros)
	if err := x.Push(b, nowMicros); err != nil {
		return nil, err
	}
	out, err := x.Finish(nowMicros)
	if err != nil {
		return nil, err
	}
	out.Rejected = rejected
	return out, nil
}

// ProcessRows runs the query over rows of its table source (in the source's
// declared schema), as one batch: the batcher's path.
func (x *Executor) ProcessRows(b *types.Batch) (*Output, error) {
	if err := x.Push(b, 0); err != nil {
		return nil, err
	}
	return x.Finish(0)
}

// concat joins batches of one schema.
func concat(s types.Schema, bs []*types.Batch) *types.Batch {
	switch len(bs) {
	case 0:
		return types.NewBatch(s, 0)
	case 1:
		return bs[0]
	}
	n := 0
	for _, b := range bs {
		n += b.N
	}
	out := &types.Batch{Schema: s, Cols: make([]*types.Vector, len(s)), N: n}
	for c := range s {
		v := &types.Vector{Type: bs[0].Cols[c].Type}
		hasNull := false
		for _, b := range bs {
			src := b.Cols[c]
			v.Str = append(v.Str, src.Str...)
			v.Bool = append(v.Bool, src.Bool...)
			v.I64 = append(v.I64, src.I64...)
			v.F64 = append(v.F64, src.F64...)
			hasNull = hasNull || src.Null != nil
		}
		if hasNull {
			v.Null = make([]bool, 0, n)
			for _, b := range bs {
				if nl := b.Cols[c].Null; nl != nil {
					v.Null = append(v.Null, nl...)
				} else {
					v.Null = append(v.Null, make([]bool, b.N)...)
				}
			}
		}
		out.Cols[c] = v
	}
	hasPart := false
	for _, b := range bs {
		hasPart = hasPart || b.Partition != nil
	}
	if hasPart {
		out.Partition = make([]int32, 0, n)
		for _, b := range bs {
			if b.Partition != nil {
				out.Partition = append(out.Partition, b.Partition...)
			} else {
				out.Partition = append(out.Partition, make([]int32, b.N)...)
			}
		}
	}
	return out
}
