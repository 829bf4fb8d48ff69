package plan

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/query/sql"
)

const streamDDL = "CREATE TABLE stream (sensor_id STRING, eventos BIGINT) WITH (connector = 'delta', path = 'stream');\n"

// VERSION AS OF and TIMESTAMP AS OF on a table reference are the query's
// AsOf, for the batcher to read that snapshot; the plan is otherwise the
// same as without them.
func TestTimeTravelBinding(t *testing.T) {
	const agg = "SELECT sensor_id, sum(eventos) AS n FROM %s GROUP BY sensor_id"
	latest, err := compile(t, streamDDL+strings.Replace(agg, "%s", "stream", 1), Batch)
	if err != nil {
		t.Fatal(err)
	}
	if latest.Queries[0].AsOf != nil {
		t.Fatalf("no AS OF: AsOf %v, want nil", latest.Queries[0].AsOf)
	}
	for _, c := range []struct {
		from    string
		version int64 // -1: a timestamp
		at      time.Time
	}{
		{"stream VERSION AS OF 3", 3, time.Time{}},
		{"stream VERSION AS OF 0 AS s", 0, time.Time{}},
		{"(SELECT * FROM stream VERSION AS OF 7) t", 7, time.Time{}},
		{"stream TIMESTAMP AS OF '2024-11-21'", -1, time.Date(2024, 11, 21, 0, 0, 0, 0, time.UTC)},
		{"stream TIMESTAMP AS OF '2024-11-21 10:30:00'", -1, time.Date(2024, 11, 21, 10, 30, 0, 0, time.UTC)},
		{"stream TIMESTAMP AS OF '2024-11-21T10:30:00.25Z'", -1, time.Date(2024, 11, 21, 10, 30, 0, 250e6, time.UTC)},
		{"stream TIMESTAMP AS OF '2024-11-21T12:30:00+02:00' s", -1, time.Date(2024, 11, 21, 10, 30, 0, 0, time.UTC)},
	} {
		p, err := compile(t, streamDDL+strings.Replace(agg, "%s", c.from, 1), Batch)
		if err != nil {
			t.Errorf("%s: %v", c.from, err)
			continue
		}
		q := p.Queries[0]
		a := q.AsOf
		switch {
		case a == nil:
			t.Errorf("%s: AsOf nil", c.from)
		case c.version >= 0 && (a.Version == nil || *a.Version != c.version || !a.Timestamp.IsZero()):
			t.Errorf("%s: AsOf %+v, want version %d", c.from, a, c.version)
		case c.version < 0 && (a.Version != nil || !a.Timestamp.Equal(c.at)):
			t.Errorf("%s: AsOf %+v, want timestamp %v", c.from, a, c.at)
		}
		if q.Output.String() != latest.Queries[0].Output.String() || q.Fingerprint() != latest.Queries[0].Fingerprint() {
			t.Errorf("%s: output %s / fingerprint %s, want the latest read's %s / %s", c.from, q.Output, q.Fingerprint(), latest.Queries[0].Output, latest.Queries[0].Fingerprint())
		}
	}
}

// A TIMESTAMP AS OF that is not a timestamp is refused where it is written.
func TestTimeTravelBadTimestamp(t *testing.T) {
	_, err := compile(t, streamDDL+"SELECT sensor_id FROM\n  stream TIMESTAMP AS OF 'yesterday'", Batch)
	var se *sql.Error
	if !errors.As(err, &se) || se.Pos.Line != 3 || se.Pos.Col != 3 || !strings.Contains(se.Msg, "INVALID_TIME_TRAVEL_TIMESTAMP_EXPR") || !strings.Contains(se.Msg, "'yesterday'") {
		t.Fatalf("got %v, want q.sql:3:3 refusing 'yesterday'", err)
	}
}
