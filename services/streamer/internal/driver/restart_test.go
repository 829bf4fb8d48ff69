package driver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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

// A console in complete mode prints its first numRows rows in ORDER BY's
// order and says how many it did not show, and the live page's rows are
// the first of that order, while only those are sorted (ReadsFirst): here
// 160 words, the console's 3 and the page's 100 out of them.
func TestConsoleShowsTheFirstRowsOfTheOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := newWorld(t, "lines")
	script := strings.Replace(readFile(t, "../../../../queries/examples/wordcount.sql"),
		"mode = 'complete')", "mode = 'complete', numRows = '3')", 1)
	type wc struct {
		word string
		n    int
	}
	var lines [][]byte
	var all []wc
	for i := range 160 {
		word := fmt.Sprintf("w%03d", (i*37)%160) // not in the order of the counts
		n := i%7 + 1
		all = append(all, wc{word, n})
		lines = append(lines, []byte(strings.TrimSpace(strings.Repeat(word+" ", n))))
	}
	w.send(ctx, "lines", lines...)
	prog, err := Compile("wordcount.sql", script)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	d := New(w.config(), prog, slog.New(slog.DiscardHandler), &out)
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(all, func(a, b wc) int {
		if a.n != b.n {
			return b.n - a.n
		}
		return strings.Compare(a.word, b.word)
	})
	s := out.String()
	last := s[strings.LastIndex(s, "Batch: "):]
	want := fmt.Sprintf("+----+-----+\n|word|count|\n+----+-----+\n|%s|    %d|\n|%s|    %d|\n|%s|    %d|\n+----+-----+\nonly showing top 3 rows\n",
		all[0].word, all[0].n, all[1].word, all[1].n, all[2].word, all[2].n)
	if !strings.Contains(last, want) {
		t.Errorf("last batch printed\n%s\nwant the first 3 by count then word:\n%s", last, want)
	}
	var rows []QueryRows
	for _, r := range d.LatestRows() {
		if r.Query == "word_counts" {
			rows = append(rows, r)
		}
	}
	if len(rows) != 1 {
		t.Fatalf("latest rows %+v, want word_counts'", d.LatestRows())
	}
	if rows[0].NumRows != 160 || len(rows[0].Rows) != LatestRowsCap {
		t.Fatalf("latest rows: %d of %d, want the first %d of 160", len(rows[0].Rows), rows[0].NumRows, LatestRowsCap)
	}
	for i, r := range rows[0].Rows {
		if want := fmt.Sprintf(`{"word":%q,"count":%d}`, all[i].word, all[i].n); string(r) != want {
			t.Fatalf("latest row %d is %s, want %s (the order's)", i, r, want)
		}
	}
}

// A checkpoint an earlier build wrote, whose state keeps a null marker in
// every group key, is refused with that reason, not read as this build's
// layout (which would misread every key) and not as a query the user
// changed.
func TestACheckpointOfTheEarlierStateLayoutIsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := newWorld(t, contract.EventsTopic)
	w.send(ctx, contract.EventsTopic, readings(rand.New(rand.NewPCG(7, 8)), origin, 300)...)
	script := seedScript(t)
	cfg := w.config()
	if err := w.run(ctx, cfg, script, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	dir := strings.TrimPrefix(cfg.Checkpoint, "file://")
	meta := filepath.Join(dir, "metadata.json")
	b, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	old := strings.ReplaceAll(string(b), "state{"+stateLayout+" ", "state{")
	if old == string(b) {
		t.Fatalf("metadata.json names no state layout:\n%s", b)
	}
	if err := os.WriteFile(meta, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	err = w.run(ctx, cfg, script, io.Discard, nil)
	if !errors.Is(err, errIncompatibleQuery) || !strings.Contains(err.Error(), "written by an earlier sensorlab build") ||
		!strings.Contains(err.Error(), "start it with a new --checkpoint") {
		t.Fatalf("restart on a checkpoint of the earlier layout: err = %v, want it refused for its layout", err)
	}
}
