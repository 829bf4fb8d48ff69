package plan

import (
	"fmt"

	"github.com/sensorlab/sensorlab/query/agg"
	"github.com/sensorlab/sensorlab/query/decode"
	"github.com/sensorlab/sensorlab/query/expr"
	"github.com/sensorlab/sensorlab/query/types"
)

// Executor runs one query, one micro-batch at a time. It holds the query's
// state (the aggregation's), so one Executor serves one running query.
type Executor struct {
	q        *Query
	dec      *decode.Decoder
	raw      *types.Batch // decoded columns of the batch's records
	rec      []int        // record index of each raw row
	computed []expr.Expr
	checks   []check
	agg      *agg.Op
	checkVec *types.Vector
}

type check struct {
	reason string
	e      expr.Expr
}

// Rejected is a record the query did not take: its index in the batch's
// records and why (a decode reason, or a CHECK constraint's name).
type Rejected struct {
	Index  int
	Reason string
	Field  string
	Detail string
}

// Output is what one micro-batch produced.
type Output struct {
	Rows     *types.Batch // in the query's Output schema
	Rejected []Rejected
	Stats    agg.Stats // zero for a stateless query
	NumInput int       // records taken into the query
}

// NewExecutor prepares q to run from an empty state.
func (q *Query) NewExecutor() (*Executor, error) {
	x := &Executor{q: q}
	s := q.Source
	if s.Kind == Stream {
		d, err := decode.New(s.Format, s.Decoded)
		if err != nil {
			return nil, fmt.Errorf("query %s: source %s: %w", q.Name, s.Name, err)
		}
		x.dec = d
		x.raw = types.NewBatch(d.Schema(), 1024)
	}
	internal := make(types.Schema, 0, len(s.Schema))
	for _, c := range s.Decoded {
		internal = append(internal, types.Field{Name: c.Name, Type: c.Type, Nullable: !c.NotNull})
	}
	now := q.now
	sc := &expr.Scope{Columns: sourceColumns(s, internal), Now: func() int64 { return *now }}
	for _, c := range s.Computed {
		e, err := expr.Compile(c.Computed, sc)
		if err != nil {
			return nil, err
		}
		x.computed = append(x.computed, e)
		internal = append(internal, types.Field{Name: c.Name.Name, Type: e.Type(), Nullable: true})
	}
	full := &expr.Scope{Columns: sourceColumns(s, internal), Now: func() int64 { return *now }}
	for _, c := range s.Checks {
		e, err := expr.Compile(c.Expr, full)
		if err != nil {
			return nil, err
		}
		x.checks = append(x.checks, check{reason: c.Name.Name, e: e})
	}
	if q.agg != nil {
		op, err := agg.New(q.agg.schema, q.agg.cfg)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", q.Name, err)
		}
		x.agg = op
	}
	return x, nil
}

// Agg returns the query's aggregation operator (nil for a stateless
// query), for checkpointing its state.
func (x *Executor) Agg() *agg.Op { return x.agg }

// SetAgg replaces the aggregation's state with one restored from a
// checkpoint.
func (x *Executor) SetAgg(op *agg.Op) { x.agg = op }

// AggConfig returns the aggregation's input schema and configuration, for
// agg.Restore.
func (q *Query) AggConfig() (types.Schema, agg.Config, bool) {
	if q.agg == nil {
		return nil, agg.Config{}, false
	}
	return q.agg.schema, q.agg.cfg, true
}

// Process runs one micro-batch over recs. nowMicros is the batch's
// timestamp (current_timestamp()).
func (x *Executor) Process(recs []decode.Record, nowMicros int64) (*Output, error) {
	if x.dec == nil {
		return nil, fmt.Errorf("query %s reads a table: use ProcessRows", x.q.Name)
	}
	*x.q.now = nowMicros
	out := &Output{}
	x.raw.Reset()
	x.rec = x.rec[:0]
	for i := range recs {
		if rej := x.dec.Decode(&recs[i], x.raw); rej != nil {
			out.Rejected = append(out.Rejected, Rejected{Index: i, Reason: rej.Reason, Field: rej.Field, Detail: rej.Detail})
			continue
		}
		x.rec = append(x.rec, i)
	}
	x.raw.N = len(x.rec)
	b := x.sourceRows(x.raw, out)
	if err := x.finish(b, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ProcessRows runs the query over rows of its table source (in the source's
// declared schema), as one batch: the batcher's path.
func (x *Executor) ProcessRows(b *types.Batch) (*Output, error) {
	out := &Output{}
	if err := x.finish(b, out); err != nil {
		return nil, err
	}
	return out, nil
}

// sourceRows adds the computed columns, applies the CHECK constraints
// (rejected rows leave, named in out) and orders the columns as declared.
func (x *Executor) sourceRows(b *types.Batch, out *Output) *types.Batch {
	s := x.q.Source
	cols := append([]*types.Vector(nil), b.Cols...)
	work := &types.Batch{Cols: cols, Partition: b.Partition, N: b.N}
	for _, e := range x.computed {
		v := types.NewVector(e.Type(), b.N)
		e.Eval(work, v)
		work.Cols = append(work.Cols, v)
	}
	if len(x.checks) > 0 && b.N > 0 {
		if x.checkVec == nil {
			x.checkVec = types.NewVector(types.TBoolean, b.N)
		}
		failed := make([]bool, b.N)
		nFailed := 0
		for _, c := range x.checks {
			x.checkVec.Reset()
			c.e.Eval(work, x.checkVec)
			for i := 0; i < b.N; i++ {
				// SQL CHECK semantics: NULL passes, only FALSE fails.
				if !failed[i] && !x.checkVec.Bool[i] && !x.checkVec.IsNull(i) {
					failed[i] = true
					nFailed++
					out.Rejected = append(out.Rejected, Rejected{Index: x.rec[i], Reason: c.reason,
						Detail: fmt.Sprintf("CONSTRAINT %s CHECK failed", c.reason)})
				}
			}
		}
		if nFailed > 0 {
			sel := make([]int32, 0, b.N-nFailed)
			for i, f := range failed {
				if !f {
					sel = append(sel, int32(i))
				}
			}
			work = take(work, sel)
		}
	}
	decl := &types.Batch{Schema: s.Schema, Cols: make([]*types.Vector, len(s.Schema)), Partition: work.Partition, N: work.N}
	for d, in := range s.order {
		decl.Cols[d] = work.Cols[in]
	}
	out.NumInput = decl.N
	return decl
}

// finish runs the operator chain over b and ends the batch.
func (x *Executor) finish(b *types.Batch, out *Output) error {
	for _, o := range x.q.pre {
		b = o.run(b)
	}
	if x.agg != nil {
		if err := x.agg.Add(b); err != nil {
			return fmt.Errorf("query %s: %w", x.q.Name, err)
		}
		var st agg.Stats
		b, st = x.agg.Finish()
		if err := x.agg.Err(); err != nil {
			return fmt.Errorf("query %s: %w", x.q.Name, err)
		}
		out.Stats = st
		for _, o := range x.q.post {
			b = o.run(b)
		}
	}
	if x.q.order != nil {
		b = sortBatch(b, x.q.order)
	}
	if x.q.limit >= 0 && int64(b.N) > x.q.limit {
		sel := make([]int32, x.q.limit)
		for i := range sel {
			sel[i] = int32(i)
		}
		b = take(b, sel)
	}
	b.Schema = x.q.Output
	out.Rows = b
	return nil
}
