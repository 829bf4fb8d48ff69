package plan

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/query/decode"
	"github.com/sensorlab/sensorlab/query/expr"
	"github.com/sensorlab/sensorlab/query/types"
)

const checkedDDL = `CREATE SOURCE s (
  id STRING, v BIGINT, x DOUBLE NOT NULL, tag STRING,
  t AS timestamp_millis(v),
  CONSTRAINT bad_id CHECK (octet_length(id) BETWEEN 1 AND 4 AND NOT id RLIKE '[\\x00-\\x1f]'),
  CONSTRAINT bad_v CHECK (v >= 0 AND v <= unix_millis(current_timestamp()) + 10),
  CONSTRAINT bad_x CHECK (x BETWEEN -1 AND 1 OR tag = 'ok' OR t IS NULL)
) WITH (topic = 't');
CREATE SINK out WITH (connector = 'console', mode = 'append') AS SELECT * FROM s;`

// The source reader's rows and rejections are those of the CHECK
// constraints evaluated as expressions over every decoded row (NULL
// passes, the first failing constraint in declared order names the
// reason), on random records with NULLs and failures of each constraint.
func TestSourceReaderChecksMatchEval(t *testing.T) {
	p, err := compile(t, checkedDDL, Streaming)
	if err != nil {
		t.Fatal(err)
	}
	src := p.Queries[0].Source
	r, err := NewSourceReader(src)
	if err != nil {
		t.Fatal(err)
	}
	unchecked := *src
	unchecked.Checks = nil
	r0, err := NewSourceReader(&unchecked)
	if err != nil {
		t.Fatal(err)
	}
	const now = 1_000_000 // micros: unix_millis(current_timestamp()) is 1000
	var cols []expr.Column
	for _, f := range src.Schema {
		cols = append(cols, expr.Column{Name: f.Name, Type: f.Type})
	}
	var checks []expr.Expr
	for _, c := range src.Checks {
		e, err := expr.Compile(c.Expr, &expr.Scope{Columns: cols, Now: func() int64 { return now }})
		if err != nil {
			t.Fatal(err)
		}
		checks = append(checks, e)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	for iter := range 300 {
		n := 1 + rng.IntN(40)
		if iter%50 == 0 {
			n = 3000 // longer than the filters' first allocation
		}
		var values []string
		for range n {
			var fields []string
			for _, f := range []string{
				pick(``, `"id":null`, `"id":""`, `"id":"ab"`, `"id":"abcd"`, `"id":"abcde"`, `"id":"a\u0001"`),
				pick(``, `"v":null`, `"v":-1`, `"v":0`, `"v":500`, `"v":1010`, `"v":1011`),
				pick(`"x":0.5`, `"x":-1`, `"x":1.01`, `"x":-3`, `"x":"bad"`),
				pick(``, `"tag":null`, `"tag":"ok"`, `"tag":"no"`),
			} {
				if f != "" {
					fields = append(fields, f)
				}
			}
			values = append(values, "{"+strings.Join(fields, ",")+"}")
		}
		recs := records(values...)
		// The reference: every decoded row, the checks evaluated on it.
		all, rej0 := r0.Read(recs, now)
		var wantRej []string
		for _, rj := range rej0 {
			wantRej = append(wantRej, fmt.Sprintf("%d:%s", rj.Index, rj.Reason))
		}
		failed := make([]bool, all.N)
		keep := []int{}
		for k, e := range checks {
			var v types.Vector
			e.Eval(all, &v)
			for i := range all.N {
				if !failed[i] && !v.IsNull(i) && !v.Bool[i] {
					failed[i] = true
					wantRej = append(wantRej, fmt.Sprintf("%d:%s", r0.rec[i], src.Checks[k].Name.Name))
				}
			}
		}
		for i := range all.N {
			if !failed[i] {
				keep = append(keep, i)
			}
		}
		want := rowsText(all, keep)

		got, rej := r.Read(recs, now)
		var gotRej []string
		for _, rj := range rej {
			gotRej = append(gotRej, fmt.Sprintf("%d:%s", rj.Index, rj.Reason))
			if rj.Detail != "CONSTRAINT "+rj.Reason+" CHECK failed" && !strings.HasPrefix(rj.Reason, "wrong") {
				t.Fatalf("rejection %+v: detail", rj)
			}
		}
		if !slices.Equal(gotRej, wantRej) {
			t.Fatalf("records %q\nrejected %v\nwant     %v", values, gotRej, wantRej)
		}
		if g := rowsText(got, nil); g != want {
			t.Fatalf("records %q\nrows %s\nwant %s", values, g, want)
		}
	}
}

// rowText renders row i of b: its values, strings quoted, separated by
// spaces.
func rowText(b *types.Batch, i int) string {
	var sb strings.Builder
	for c, v := range b.Cols {
		if c > 0 {
			sb.WriteByte(' ')
		}
		switch {
		case v.IsNull(i):
			sb.WriteString("NULL")
		case v.Type.Kind == types.String:
			fmt.Fprintf(&sb, "%q", v.Str[i])
		case v.Type.Kind == types.Double:
			fmt.Fprint(&sb, v.F64[i])
		case v.Type.Kind == types.Boolean:
			fmt.Fprint(&sb, v.Bool[i])
		default:
			fmt.Fprint(&sb, v.I64[i])
		}
	}
	return sb.String()
}

// rowsText renders rows of b (all when rows is nil) with their partitions.
func rowsText(b *types.Batch, rows []int) string {
	if rows == nil {
		for i := range b.N {
			rows = append(rows, i)
		}
	}
	var sb strings.Builder
	for _, i := range rows {
		sb.WriteString(rowText(b, i))
		fmt.Fprintf(&sb, " p%d;", b.Partition[i])
	}
	if len(rows) != b.N {
		return sb.String() // the reference's rows, a subset
	}
	for _, v := range b.Cols {
		if v.Len() != b.N {
			return fmt.Sprintf("a column of %d rows in a batch of %d", v.Len(), b.N)
		}
	}
	return sb.String()
}

// A source declared keyed by a column rejects, as key_mismatch, every
// record whose Kafka key is not that column's value (another key, or none),
// in record order among the records that do not decode; the CHECKs apply
// to the rows kept (their rejections after). A record without a key whose
// column is NULL is kept: a kafka sink keyed by the column writes such a
// row so, and a replica's repartition stage re-keys it so.
func TestKeyedSourceRejectsRecordsKeyedOtherwise(t *testing.T) {
	p, err := compile(t, `CREATE SOURCE s (id STRING, v BIGINT, CONSTRAINT neg CHECK (v >= 0)) WITH (topic = 't', key = 'id');
CREATE SINK out WITH (connector = 'console', mode = 'append') AS SELECT * FROM s;`, Streaming)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewSourceReader(p.Queries[0].Source)
	if err != nil {
		t.Fatal(err)
	}
	recs := []decode.Record{
		{Key: []byte("a"), Value: []byte(`{"id":"a","v":1}`)},
		{Key: []byte("b"), Value: []byte(`{"id":"a","v":2}`)},
		{Value: []byte(`{"id":"c","v":3}`)},
		{Key: []byte("d"), Value: []byte(`{"id":"d",`)},
		{Key: []byte("e"), Value: []byte(`{"id":"e","v":-5}`)},
		{Key: []byte("f"), Value: []byte(`{"v":6}`)},
		{Key: []byte("g"), Value: []byte(`{"id":"g","v":7}`)},
		{Value: []byte(`{"v":8}`)},
		{Key: []byte(""), Value: []byte(`{"v":9}`)},
	}
	b, rej := r.Read(recs, 0)
	var got []string
	for i := range b.N {
		got = append(got, fmt.Sprintf("%s=%d", b.Cols[0].Str[i], b.Cols[1].I64[i]))
	}
	if want := []string{"a=1", "g=7", "=8"}; !slices.Equal(got, want) || !b.Cols[0].IsNull(2) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	var reasons []string
	for _, x := range rej {
		reasons = append(reasons, fmt.Sprintf("%d:%s", x.Index, x.Reason))
	}
	if want := []string{"1:key_mismatch", "2:key_mismatch", "3:malformed_json", "5:key_mismatch", "8:key_mismatch", "4:neg"}; !slices.Equal(reasons, want) {
		t.Fatalf("rejected %v, want %v", reasons, want)
	}
	if d := rej[1].Detail; !strings.Contains(d, "the record has no key, not its id") {
		t.Errorf("detail %q", d)
	}

	for ddl, msg := range map[string]string{
		"CREATE SOURCE s (id BIGINT) WITH (topic = 't', key = 'id')":                `key "id": the column is BIGINT`,
		"CREATE SOURCE s (id STRING, k AS lower(id)) WITH (topic = 't', key = 'k')": `key "k": name a column read from the record`,
		"CREATE SOURCE s (id STRING) WITH (topic = 't', key = 'nope')":              `key "nope": no such column`,
	} {
		_, err := compile(t, ddl+";\nSELECT * FROM s", Streaming)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want …%s…", ddl, err, msg)
		}
	}
}
