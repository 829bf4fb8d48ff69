package plan

import (
	"fmt"
	"strings"

	"github.com/sensorlab/sensorlab/query/agg"
	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// Shared aggregations. Queries of one script that read the same source
// through the same WHERE and group by the same window and keys, in append
// or update mode, hold the same groups in state: the seed's stream,
// console and alerts sinks are three views of one 10-second aggregation.
// They may share one operator whose aggregates are the union of theirs:
// each row is projected and folded once, the state and its checkpoint are
// kept once, and each query reads its mode's rows (agg.Op.FinishShared)
// through its own columns of the shared output, then runs its own HAVING
// and select list. What each query emits is what it would emit alone
// (agg's invariants make every aggregate's arithmetic independent of the
// others in its record).

// shareKey says what a query's aggregation must have in common with
// another's for the two to share an operator: the source and WHERE, the
// window and the keys, the watermark. "" when the query cannot share: a
// batch query, a complete-mode or session-window aggregation (their state
// is not an append or update query's), or a FROM other than the source
// itself (a subquery or a generator runs its own operators first).
func (b *builder) shareKey(s *sql.Select, r *relation, ap *aggPlan) string {
	ref, ok := s.From.(*sql.TableRef)
	if b.mode != Streaming || !ok || !ap.cfg.Shareable() || b.q.Source == nil {
		return ""
	}
	wantPre := 0
	if s.Where != nil {
		wantPre = 1
	}
	if len(b.q.pre) != wantPre {
		return ""
	}
	var k strings.Builder
	fmt.Fprintf(&k, "source=%s", strings.ToLower(ref.Name.Name))
	if s.Where != nil {
		fmt.Fprintf(&k, " where=%s", canon(s.Where, r))
	}
	w := ap.cfg.Window
	fmt.Fprintf(&k, " window=%d/%d/%d/%d", w.Kind, w.Size, w.Slide, w.Gap)
	if w.Kind != agg.None {
		fmt.Fprintf(&k, " time=%s", ap.inCanon[w.TimeCol])
	}
	k.WriteString(" keys=")
	for i, c := range ap.cfg.Keys {
		if i > 0 {
			k.WriteByte(',')
		}
		fmt.Fprintf(&k, "%s:%s", ap.inCanon[c], ap.schema[c].Type)
	}
	fmt.Fprintf(&k, " watermark=%t/%d", ap.cfg.HasWatermark, ap.cfg.Delay)
	return k.String()
}

// ShareKey is what queries must have in common to share one aggregation
// operator (equal, non-empty keys); "" when q cannot share.
func (q *Query) ShareKey() string {
	if q.agg == nil {
		return ""
	}
	return q.agg.shareKey
}

// ShareGroups partitions the stateful queries of qs that can share an
// aggregation into groups of equal ShareKey, in order of first appearance,
// each query in the order of qs; a group of one is a query that shares
// with none.
func ShareGroups(qs []*Query) [][]*Query {
	var groups [][]*Query
	at := map[string]int{}
	for _, q := range qs {
		k := q.ShareKey()
		if k == "" {
			continue
		}
		i, ok := at[k]
		if !ok {
			i = len(groups)
			at[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], q)
	}
	return groups
}

// sharedAgg is the operator members' executors share, and what each
// member reads of it.
type sharedAgg struct {
	members []*Query
	pre     []op // the first member's operators before its input projection
	in      *projectOp
	schema  types.Schema
	cfg     agg.Config
	cols    [][]int // by member: the shared output column of each of its operator's output columns
	op      *agg.Op

	// The executors call Push and Finish in rounds, one call per member:
	// the round's first call does the work.
	pushed, finished int
	app, upd         *types.Batch
	st               agg.Stats
	err              error
}

// SharedConfig returns the input schema and configuration of the operator
// the queries qs share (for agg.Restore), and checks that they can.
func SharedConfig(qs []*Query) (types.Schema, agg.Config, error) {
	g, err := newShared(qs)
	if err != nil {
		return nil, agg.Config{}, err
	}
	return g.schema, g.cfg, nil
}

// NewSharedExecutors prepares the queries qs (of one ShareKey, at least
// one) to run from an empty state over one aggregation operator: one
// executor each, in qs's order, every one of which is pushed every batch
// and finished every batch, as the driver does with every query. With op
// non-nil (restored from a checkpoint, with SharedConfig's configuration)
// they continue from its state.
func NewSharedExecutors(qs []*Query, op *agg.Op) ([]*Executor, error) {
	g, err := newShared(qs)
	if err != nil {
		return nil, err
	}
	if op == nil {
		if op, err = agg.New(g.schema, g.cfg); err != nil {
			return nil, err
		}
	}
	g.op = op
	xs := make([]*Executor, len(qs))
	for i, q := range qs {
		xs[i] = &Executor{q: q, agg: op, shared: g, member: i}
	}
	return xs, nil
}

func newShared(qs []*Query) (*sharedAgg, error) {
	if len(qs) == 0 {
		return nil, fmt.Errorf("no query to share an aggregation")
	}
	lead := qs[0]
	key := lead.ShareKey()
	for _, q := range qs {
		if k := q.ShareKey(); k == "" || k != key {
			return nil, fmt.Errorf("query %s cannot share the aggregation of %s", q.Name, lead.Name)
		}
	}
	lap := lead.agg
	if n := len(lead.pre); n == 0 || lead.pre[n-1] != op(lap.in) {
		return nil, fmt.Errorf("query %s: the aggregation's input is not its last operator", lead.Name)
	}
	g := &sharedAgg{members: qs, pre: lead.pre[:len(lead.pre)-1], in: &projectOp{reuse: true}}
	canonAt := map[string]int{}
	input := func(ap *aggPlan, i int) int {
		if i < 0 {
			return i
		}
		c := ap.inCanon[i]
		if j, ok := canonAt[c]; ok {
			return j
		}
		canonAt[c] = len(g.in.exprs)
		g.in.exprs = append(g.in.exprs, ap.in.exprs[i])
		g.schema = append(g.schema, ap.schema[i])
		return len(g.in.exprs) - 1
	}
	// The first member's inputs and aggregates come first, in its order:
	// a group of one is that query's own operator.
	for i := range lap.in.exprs {
		input(lap, i)
	}
	g.cfg = lap.cfg
	g.cfg.Aggs = nil
	g.cfg.Mode = agg.Update
	aggAt := map[agg.Agg]int{}
	nw := 0
	if lap.cfg.Window.Kind != agg.None {
		nw = 2
	}
	nk := len(lap.cfg.Keys)
	for _, q := range qs {
		ap := q.agg
		if ap.cfg.Mode == agg.Append {
			g.cfg.Mode = agg.Append
		}
		cols := make([]int, 0, nw+nk+len(ap.cfg.Aggs))
		for c := range nw + nk {
			cols = append(cols, c)
		}
		for _, a := range ap.cfg.Aggs {
			u := agg.Agg{Func: a.Func, Arg: input(ap, a.Arg)}
			j, ok := aggAt[u]
			if !ok {
				j = len(g.cfg.Aggs)
				aggAt[u] = j
				g.cfg.Aggs = append(g.cfg.Aggs, u)
			}
			cols = append(cols, nw+nk+j)
		}
		g.cols = append(g.cols, cols)
	}
	return g, nil
}

// push folds a batch of the source's rows once per round of the members'
// Push calls.
func (g *sharedAgg) push(b *types.Batch, nowMicros int64) error {
	first := g.pushed == 0
	g.pushed = (g.pushed + 1) % len(g.members)
	if !first || g.err != nil {
		return g.err
	}
	for _, q := range g.members {
		*q.now = nowMicros
	}
	for _, o := range g.pre {
		b = o.run(b)
	}
	if err := g.op.Add(g.in.run(b)); err != nil {
		g.err = fmt.Errorf("queries %s: %w", g.names(), err)
	}
	return g.err
}

// finish ends the batch once per round of the members' Finish calls and
// returns member i's rows: its mode's rows of the shared output, as its
// own operator's output schema.
func (g *sharedAgg) finish(i int, nowMicros int64) (*types.Batch, agg.Stats, error) {
	if g.finished == 0 {
		for _, q := range g.members {
			*q.now = nowMicros
		}
		g.app, g.upd, g.st = g.op.FinishShared()
		if err := g.op.Err(); err != nil && g.err == nil {
			g.err = fmt.Errorf("queries %s: %w", g.names(), err)
		}
	}
	g.finished = (g.finished + 1) % len(g.members)
	if g.err != nil {
		return nil, agg.Stats{}, g.err
	}
	q := g.members[i]
	src := g.app
	if q.agg.cfg.Mode == agg.Update {
		src = g.upd
	}
	b := &types.Batch{Schema: q.agg.out, N: src.N, Cols: make([]*types.Vector, len(g.cols[i]))}
	for c, s := range g.cols[i] {
		b.Cols[c] = src.Cols[s]
	}
	if g.finished == 0 {
		g.app, g.upd = nil, nil
	}
	return b, g.st, nil
}

func (g *sharedAgg) names() string {
	n := make([]string, len(g.members))
	for i, q := range g.members {
		n[i] = q.Name
	}
	return strings.Join(n, ", ")
}
