package plan

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/query/decode"
	"github.com/sensorlab/sensorlab/query/types"
)

// anyRows renders every row of b (rowText).
func anyRows(b *types.Batch) []string {
	out := make([]string, b.N)
	for i := range b.N {
		out[i] = rowText(b, i)
	}
	return out
}

func TestSeedQueriesShareOneAggregation(t *testing.T) {
	p := seedProgram(t)
	var got [][]string
	for _, g := range ShareGroups(p.Queries) {
		var names []string
		for _, q := range g {
			names = append(names, q.Name)
		}
		got = append(got, names)
	}
	if want := [][]string{{"stream", "console", "alerts"}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("share groups %v, want %v", got, want)
	}
}

// A script whose queries group alike and unlike: those in one ShareGroup
// run over one operator and emit, batch after batch and bit for bit, what
// each emits with its own.
const shareScript = `
CREATE SOURCE r (id STRING NOT NULL, ts BIGINT NOT NULL, v DOUBLE, n BIGINT, event_time AS timestamp_millis(ts),
  WATERMARK FOR event_time AS event_time - INTERVAL '2' SECONDS) WITH (topic = 't', format = 'json');
CREATE SINK a WITH (connector = 'console', mode = 'append') AS
  SELECT window.start AS ws, id, count(*) AS c, avg(v) AS av, max(v) AS mx FROM r GROUP BY window(event_time, '1 second'), id;
CREATE SINK b WITH (connector = 'console', mode = 'update') AS
  SELECT id, window.end AS we, sum(n) AS s, count(*) AS c, min(v) FROM r GROUP BY window(event_time, '1 second'), id;
CREATE SINK c WITH (connector = 'console', mode = 'append') AS
  SELECT id, max(v) AS mx, max(v) * 2 AS mx2 FROM r x GROUP BY window(x.event_time, '1 second'), x.id HAVING max(v) > 5;
CREATE SINK d WITH (connector = 'console', mode = 'append') AS
  SELECT id, count(*) AS c FROM r WHERE v > 0 GROUP BY window(event_time, '1 second'), id;
CREATE SINK e WITH (connector = 'console', mode = 'update') AS
  SELECT id, count_if(v > 0) AS c, approx_count_distinct(n) AS dn FROM r WHERE v > 0 GROUP BY window(event_time, '1 second'), id;
CREATE SINK f WITH (connector = 'console', mode = 'append') AS
  SELECT id, count(*) AS c FROM r GROUP BY window(event_time, '2 seconds', '1 second'), id;
CREATE SINK g WITH (connector = 'console', mode = 'complete') AS
  SELECT id, count(*) AS c FROM r GROUP BY window(event_time, '1 second'), id;
`

func TestSharedExecutorsEmitWhatEachQueryEmitsAlone(t *testing.T) {
	p, err := compile(t, shareScript, Streaming)
	if err != nil {
		t.Fatal(err)
	}
	var shape []string
	for _, g := range ShareGroups(p.Queries) {
		var names []string
		for _, q := range g {
			names = append(names, q.Name)
		}
		shape = append(shape, strings.Join(names, "+"))
	}
	if want := []string{"a+b+c", "d+e", "f"}; !slices.Equal(shape, want) {
		t.Fatalf("share groups %v, want %v", shape, want)
	}

	alone := make([]*Executor, len(p.Queries))
	for i, q := range p.Queries {
		if alone[i], err = q.NewExecutor(); err != nil {
			t.Fatal(err)
		}
	}
	shared := make([]*Executor, len(p.Queries))
	for _, g := range ShareGroups(p.Queries) {
		xs, err := NewSharedExecutors(g, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range xs {
			shared[slices.Index(p.Queries, x.Query())] = x
		}
	}
	if shared[len(shared)-1] != nil {
		t.Fatal("a complete-mode query was given a shared operator")
	}
	shared[len(shared)-1], err = p.Queries[len(shared)-1].NewExecutor()
	if err != nil {
		t.Fatal(err)
	}

	rng := rand.New(rand.NewPCG(3, 4))
	readerA, err := NewSourceReader(p.Sources[0])
	if err != nil {
		t.Fatal(err)
	}
	readerS, err := NewSourceReader(p.Sources[0])
	if err != nil {
		t.Fatal(err)
	}
	ts, off := int64(1_732_200_000_000), int64(0)
	for bi := range 40 {
		// A batch in pieces, as the driver pushes it; late rows, NULLs,
		// several partitions.
		wm := (ts - 2000) * 1000
		for _, x := range append(slices.Clone(alone), shared...) {
			if x.Agg() != nil {
				x.Agg().SetWatermark(wm)
			}
		}
		for range rng.IntN(3) + 1 {
			var recs []decode.Record
			for range rng.IntN(60) {
				ts += rng.Int64N(80)
				v := "null"
				if rng.IntN(6) > 0 {
					v = fmt.Sprint(rng.Float64()*20 - 5)
				}
				recs = append(recs, decode.Record{Partition: int32(rng.IntN(3)), Offset: off,
					Value: fmt.Appendf(nil, `{"id":"k%d","ts":%d,"v":%s,"n":%d}`, rng.IntN(5), ts-rng.Int64N(3000), v, rng.IntN(4))})
				off++
			}
			ba, _ := readerA.Read(recs, 0)
			for _, x := range alone {
				if err := x.Push(ba, 0); err != nil {
					t.Fatal(err)
				}
			}
			bs, _ := readerS.Read(recs, 0)
			for _, x := range shared {
				if err := x.Push(bs, 0); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := range alone {
			want, err := alone[i].Finish(0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := shared[i].Finish(0)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := anyRows(got.Rows), anyRows(want.Rows); !slices.Equal(g, w) {
				t.Fatalf("batch %d, query %s (shared with %v):\ngot  %q\nwant %q", bi, p.Queries[i].Name, shared[i].Shared(), g, w)
			}
			if got.NumInput != want.NumInput || got.Stats.NextWatermark != want.Stats.NextWatermark ||
				got.Stats.NumRowsDroppedByWatermark != want.Stats.NumRowsDroppedByWatermark {
				t.Fatalf("batch %d, query %s: input %d, stats %+v; alone %d, %+v", bi, p.Queries[i].Name, got.NumInput, got.Stats, want.NumInput, want.Stats)
			}
		}
	}
}

// Queries that share nothing, or cannot, are refused as a group.
func TestNewSharedExecutorsRefusesQueriesThatDiffer(t *testing.T) {
	p, err := compile(t, shareScript, Streaming)
	if err != nil {
		t.Fatal(err)
	}
	for _, names := range [][]string{{"a", "d"}, {"a", "f"}, {"a", "g"}} {
		var qs []*Query
		for _, n := range names {
			qs = append(qs, p.Queries[slices.IndexFunc(p.Queries, func(q *Query) bool { return q.Name == n })])
		}
		if _, err := NewSharedExecutors(qs, nil); err == nil {
			t.Errorf("queries %v share an operator", names)
		}
	}
}
