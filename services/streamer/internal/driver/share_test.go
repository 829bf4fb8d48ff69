package driver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
)

// stateParts returns the names of the parts of the checkpoint's newest
// snapshot (recovery's), sorted.
func stateParts(t *testing.T, ctx context.Context, w *world) []string {
	t.Helper()
	rec, err := openCheckpoint(t, ctx, w).Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := decodeState(rec.State, kindSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range parts {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// The seed's three queries keep one aggregation in the checkpoint, and a
// restart goes on from it: the stream table of two runs equals one run's
// over the same readings.
func TestTheSeedQueriesKeepOneState(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rng := rand.New(rand.NewPCG(7, 8))
	first, second := readings(rng, origin, 900), readings(rng, origin+90_000, 900)

	w := newWorld(t, contract.EventsTopic)
	w.send(ctx, contract.EventsTopic, first...)
	cfg := w.config()
	if err := w.run(ctx, cfg, seedScript(t), io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := stateParts(t, ctx, w), []string{"stream+console+alerts"}; !slices.Equal(got, want) {
		t.Fatalf("state parts %v, want %v", got, want)
	}
	w.send(ctx, contract.EventsTopic, second...)
	if err := w.run(ctx, cfg, seedScript(t), io.Discard, nil); err != nil {
		t.Fatal(err)
	}

	once := newWorld(t, contract.EventsTopic)
	once.send(ctx, contract.EventsTopic, first...)
	once.send(ctx, contract.EventsTopic, second...)
	if err := once.run(ctx, once.config(), seedScript(t), io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	got, want := streamRows(t, ctx, w.store), streamRows(t, ctx, once.store)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("stream table after a restart: %d rows, one run: %d rows (or they differ)", len(got), len(want))
	}
}

// A query with its own part keeps it when a query that groups alike is
// added (the added one starts empty, on its own), and a shared part goes
// on without a query removed from the file when the others aggregate all
// it held; when the removed query aggregated more, the start is refused.
func TestSharingFollowsTheCheckpoint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	script := seedScript(t)
	i := strings.Index(script, "-- The same windows on the console")
	streamOnly := script[:i]
	extra := `
CREATE SINK hum WITH (connector = 'console', mode = 'update') AS
SELECT window.start AS win_start, sensor_id, sum(hum) AS sum_hum
FROM sensors GROUP BY window(event_time, '10 seconds'), sensor_id;
`
	w := newWorld(t, contract.EventsTopic)
	rng := rand.New(rand.NewPCG(9, 9))
	cfg := w.config()
	round := func(script string, n int) (string, error) {
		w.send(ctx, contract.EventsTopic, readings(rng, origin+int64(n)*100_000, 300)...)
		var out bytes.Buffer
		err := w.run(ctx, cfg, script, &out, nil)
		return out.String(), err
	}
	if _, err := round(streamOnly, 0); err != nil {
		t.Fatal(err)
	}
	if got := stateParts(t, ctx, w); !slices.Equal(got, []string{"stream"}) {
		t.Fatalf("state parts %v, want [stream]", got)
	}
	out, err := round(streamOnly+extra, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := stateParts(t, ctx, w); !slices.Equal(got, []string{"hum", "stream"}) {
		t.Fatalf("state parts after adding hum: %v, want [hum stream]", got)
	}
	if !strings.Contains(out, "sum_hum") {
		t.Fatalf("the added query printed nothing:\n%s", out)
	}

	// A fresh checkpoint: stream and hum share; hum aggregates what stream
	// does not (sum(hum)), so removing it is refused.
	w2 := newWorld(t, contract.EventsTopic)
	w2.send(ctx, contract.EventsTopic, readings(rng, origin, 300)...)
	if err := w2.run(ctx, w2.config(), streamOnly+extra, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	if got := stateParts(t, ctx, w2); !slices.Equal(got, []string{"stream+hum"}) {
		t.Fatalf("state parts %v, want [stream+hum]", got)
	}
	err = w2.run(ctx, w2.config(), streamOnly, io.Discard, nil)
	if !errors.Is(err, errIncompatibleQuery) || !strings.Contains(err.Error(), "hum, no longer in the query file, aggregated what the others do not") {
		t.Fatalf("removing hum from its shared state: err = %v, want it refused naming hum", err)
	}
	// The seed's console and alerts aggregate nothing stream does not:
	// removing them is accepted (TestARestartWithAChangedQueryIsRefused).
}
