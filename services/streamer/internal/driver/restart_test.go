package driver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/services/streamer/internal/checkpoint"
)

// A restart whose query changed what its state means is refused with
// Spark's kind of reason, naming the query; a query added to the script
// starts empty and a removed one is dropped.
func TestARestartWithAChangedQueryIsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := newWorld(t, contract.EventsTopic)
	rng := rand.New(rand.NewPCG(1, 2))
	w.send(ctx, contract.EventsTopic, readings(rng, origin, 900)...)
	script := seedScript(t)
	cfg := w.config()
	if err := w.run(ctx, cfg, script, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	before := streamRows(t, ctx, w.store)

	changed := strings.Replace(script, "GROUP BY window(event_time, '10 seconds'), sensor_id;\n\n-- The same windows",
		"GROUP BY window(event_time, '20 seconds'), sensor_id;\n\n-- The same windows", 1)
	if changed == script {
		t.Fatal("the test's edit of the seed script did not apply")
	}
	err := w.run(ctx, cfg, changed, io.Discard, nil)
	if err == nil || !errors.Is(err, errIncompatibleQuery) {
		t.Fatalf("restart with the stream query's window changed: err = %v, want it refused", err)
	}
	for _, s := range []string{"query stream changed incompatibly with its checkpoint", "start it with a new --checkpoint", "20000000"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("refusal %q does not say %q", err, s)
		}
	}
	if strings.Contains(err.Error(), "query alerts") || strings.Contains(err.Error(), "query console") {
		t.Errorf("refusal %q names queries that did not change", err)
	}

	// Drop the console, add a count per sensor: both accepted.
	i := strings.Index(script, "-- The same windows on the console")
	j := strings.Index(script, "-- A high_temp alert")
	edited := script[:i] + script[j:] + `
CREATE SINK per_sensor WITH (connector = 'console', mode = 'complete') AS
SELECT sensor_id, count(*) AS n FROM sensors GROUP BY sensor_id ORDER BY sensor_id;
`
	w.send(ctx, contract.EventsTopic, readings(rng, origin+90_000, 900)...)
	var out bytes.Buffer
	if err := w.run(ctx, cfg, edited, &out, nil); err != nil {
		t.Fatalf("restart with a query removed and one added: %v", err)
	}
	after := streamRows(t, ctx, w.store)
	if len(after) <= len(before) {
		t.Errorf("the stream table has %d rows after the second run, %d before: the kept query did not go on", len(after), len(before))
	}
	// The added query counts only what it read since it was added: the
	// second round's 900 readings, in its last complete-mode batch.
	last := out.String()[strings.LastIndex(out.String(), "Batch: "):]
	total := 0
	for _, m := range regexp.MustCompile(`\|\s*S\d{3}\s*\|\s*(\d+)\s*\|`).FindAllStringSubmatch(last, -1) {
		n := 0
		for _, c := range m[1] {
			n = n*10 + int(c-'0')
		}
		total += n
	}
	if total != 900 {
		t.Errorf("the added query counted %d readings in its last batch, want the 900 sent since it was added:\n%s", total, last)
	}
	ck := openCheckpoint(t, ctx, w)
	meta, err := ck.InitMetadata(ctx, checkpoint.Metadata{Topic: contract.EventsTopic, OutputMode: checkpoint.QueryFileMode})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range meta.Queries {
		names = append(names, q.Name)
	}
	if strings.Join(names, ",") != "stream,alerts,per_sensor" {
		t.Errorf("metadata.json lists queries %v, want stream, alerts, per_sensor", names)
	}
}

// Word count over text lines prints the whole table to the console every
// batch (complete mode), counting across batches and across a restart.
func TestWordCountToTheConsoleInCompleteMode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := newWorld(t, "lines")
	script := readFile(t, "../../../../queries/examples/wordcount.sql")
	cfg := w.config()
	cfg.MaxOffsetsPerTrigger = 2
	w.send(ctx, "lines", []byte("the cat sat"), []byte("the  dog"), []byte("a cat"))
	var out bytes.Buffer
	if err := w.run(ctx, cfg, script, &out, nil); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "Batch: "); n < 2 {
		t.Fatalf("%d batches printed, want one per batch (max 2 records each):\n%s", n, out.String())
	}
	w.send(ctx, "lines", []byte("the end"))
	out.Reset()
	if err := w.run(ctx, cfg, script, &out, nil); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	last := s[strings.LastIndex(s, "Batch: "):]
	want := "+----+-----+\n|word|count|\n+----+-----+\n| the|    3|\n| cat|    2|\n|   a|    1|\n| dog|    1|\n| end|    1|\n| sat|    1|\n+----+-----+\n"
	if !strings.Contains(last, want) {
		t.Errorf("last batch printed\n%s\nwant the whole table, by count then word:\n%s", last, want)
	}
}
