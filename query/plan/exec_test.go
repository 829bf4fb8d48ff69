package plan

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/sensorlab/sensorlab/query/decode"
)

func executor(t *testing.T, text string, query int) *Executor {
	t.Helper()
	p, err := compile(t, text, Streaming)
	if err != nil {
		t.Fatal(err)
	}
	x, err := p.Queries[query].NewExecutor()
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func records(values ...string) []decode.Record {
	out := make([]decode.Record, len(values))
	for i, v := range values {
		out[i] = decode.Record{Value: []byte(v), Partition: int32(i % 3), Offset: int64(i)}
	}
	return out
}

// Word count in complete mode: every batch emits the whole table, counts
// carry across batches, the empty words of double spaces are filtered, and
// ORDER BY orders each batch's output.
func TestWordCountComplete(t *testing.T) {
	text, err := os.ReadFile("../../queries/examples/wordcount.sql")
	if err != nil {
		t.Fatal(err)
	}
	x := executor(t, string(text), 0)
	if _, err := x.Process(records("the cat", "the  dog"), 0); err != nil {
		t.Fatal(err)
	}
	out, err := x.Process(records("a cat"), 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := 0; i < out.Rows.N; i++ {
		got = append(got, fmt.Sprintf("%s=%d", out.Rows.Cols[0].Str[i], out.Rows.Cols[1].I64[i]))
	}
	want := []string{"cat=2", "the=2", "a=1", "dog=1"}
	if !slices.Equal(got, want) {
		t.Errorf("word counts %v, want %v", got, want)
	}
}

// A record that breaks a CHECK constraint is rejected with the
// constraint's name and does not reach the rows; one that does not decode
// keeps the decoder's reason; the index names the record.
func TestChecksRejectWithTheirName(t *testing.T) {
	text, err := os.ReadFile("../../queries/seed/streaming.sql")
	if err != nil {
		t.Fatal(err)
	}
	x := executor(t, string(text), 1) // the console query: update mode
	const now = 1_764_756_000_000_000 // micros
	recs := records(
		`{"sensor_id":"S001","ts":1764755000000,"temp":20.5,"hum":50,"ok":true}`,
		`{"sensor_id":"S001","ts":1764755000001,"temp":999,"hum":50,"ok":true}`,
		`{"sensor_id":"","ts":1764755000002,"temp":20,"hum":50,"ok":true}`,
		`{"sensor_id":"S002","ts":946684799999,"temp":20,"hum":50,"ok":true}`,
		`{"sensor_id":"S002","ts":1764842400001,"temp":20,"hum":50,"ok":true}`,
		`{"sensor_id":"S002","ts":1764755000003,"temp":"hot","hum":50,"ok":true}`,
		`{"sensor_id":"S002","ts":1764755000004,"temp":21.5,"hum":50,"ok":false}`,
	)
	out, err := x.Process(recs, now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range out.Rejected {
		got = append(got, fmt.Sprintf("%d:%s", r.Index, r.Reason))
	}
	slices.Sort(got)
	want := []string{"1:out_of_range", "2:invalid_sensor_id", "3:ts_out_of_range", "4:ts_out_of_range", "5:wrong_type"}
	if !slices.Equal(got, want) {
		t.Errorf("rejected %v, want %v", got, want)
	}
	if out.NumInput != 2 || out.Rows.N != 2 {
		t.Fatalf("took %d records and emitted %d rows, want 2 and 2", out.NumInput, out.Rows.N)
	}
	ids, counts, oks := out.Rows.Cols[2].Str, out.Rows.Cols[3].I64, out.Rows.Cols[6].I64
	if ids[0] != "S001" || ids[1] != "S002" || counts[0] != 1 || counts[1] != 1 || oks[0] != 1 || oks[1] != 0 {
		t.Errorf("rows: ids %v counts %v ok_counts %v", ids, counts, oks)
	}
}

// A stateless query fed in several pieces per micro-batch emits every
// piece's rows at Finish, intact although the reader, the filter and the
// projection reuse their vectors from one piece to the next.
func TestStatelessPiecesSurviveReaderReuse(t *testing.T) {
	p, err := compile(t, sensorsDDL+"SELECT sensor_id, temp, temp * 2, CASE WHEN temp > 2 THEN 'hi' ELSE 'lo' END FROM raw WHERE temp > 0", Streaming)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Queries[0]
	r, err := NewSourceReader(q.Source)
	if err != nil {
		t.Fatal(err)
	}
	x, err := q.NewExecutor()
	if err != nil {
		t.Fatal(err)
	}
	for _, piece := range [][]decode.Record{
		records(`{"sensor_id":"A","temp":1.5}`, `{"sensor_id":"B","temp":-1}`),
		records(`{"sensor_id":"C","temp":2.5}`, `{"sensor_id":"D","temp":-2}`),
	} {
		b, rej := r.Read(piece, 0)
		if len(rej) != 0 {
			t.Fatalf("rejected %v", rej)
		}
		if err := x.Push(b, 0); err != nil {
			t.Fatal(err)
		}
	}
	out, err := x.Finish(0)
	if err != nil {
		t.Fatal(err)
	}
	c := out.Rows.Cols
	got := fmt.Sprint(c[0].Str, c[1].F64, c[2].F64, c[3].Str, out.NumInput)
	if want := "[A C] [1.5 2.5] [3 5] [lo hi] 4"; got != want {
		t.Errorf("rows %s, want %s", got, want)
	}
}

// explode(split(…)) gives one row per piece, with Spark's split: empty
// pieces kept, a limit leaving the rest in the last piece; the input's
// columns repeat on each piece when the select list reads them, and are
// not carried when it does not.
func TestExplodeSplit(t *testing.T) {
	src := "CREATE SOURCE lines (value STRING, n BIGINT) WITH (connector = 'kafka', topic = 'lines', format = 'json');\n"
	recs := records(`{"value":"a b  c","n":1}`, `{"value":null,"n":2}`, `{"value":"","n":3}`, `{"value":"x,y,z","n":4}`)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"SELECT explode(split(value, ' ')) AS w FROM lines",
			[]string{`"a"`, `"b"`, `""`, `"c"`, `""`, `"x,y,z"`}},
		{"SELECT n, explode(split(value, ' ')) AS w, upper(value) AS u FROM lines",
			[]string{`1 "a" "A B  C"`, `1 "b" "A B  C"`, `1 "" "A B  C"`, `1 "c" "A B  C"`, `3 "" ""`, `4 "x,y,z" "X,Y,Z"`}},
		{"SELECT explode_outer(split(value, ',', 2)) AS w, n FROM lines",
			[]string{`"a b  c" 1`, `NULL 2`, `"" 3`, `"x" 4`, `"y,z" 4`}},
		{"SELECT w FROM lines LATERAL VIEW explode(split(value, '[ ,]')) t AS w WHERE n > 3",
			[]string{`"x"`, `"y"`, `"z"`}},
	} {
		x := executor(t, src+tc.query+";", 0)
		out, err := x.Process(recs, 0)
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		if got := anyRows(out.Rows); !slices.Equal(got, tc.want) {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.query, got, tc.want)
		}
	}
}
