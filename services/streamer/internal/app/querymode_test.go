package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
)

// seedQueryFile is the seed lab's streaming query file.
const seedQueryFile = "../../../../queries/seed/streaming.sql"

// The seed lab's query file, run by the query driver, writes the stream
// table and the alerts the built-in path writes from the same records:
// the same rows, float bits equal, over 3 partitions, many batches, late
// readings, invalid records and a restart between two rounds of input.
func TestSeedQueryFileMatchesTheBuiltInPath(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	w := newWorld(t)
	rng := rand.New(rand.NewPCG(7, 11))
	queryLake := "file://" + t.TempDir()
	qstore, err := lake.Open(ctx, queryLake, lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	builtIn := w.config(func(c *config.Config) {
		c.MaxOffsetsPerTrigger = 250
		c.AlertsTopic = "alerts_builtin"
	})
	queryMode := builtIn
	queryMode.AlertsTopic = ""
	queryMode.Query = seedQueryFile
	queryMode.Lake, queryMode.Checkpoint = queryLake, queryLake+"/_checkpoints/streamer"

	run := func() {
		t.Helper()
		w.run(ctx, builtIn)
		if err := RunQueryFile(ctx, queryMode, quietLog(), io.Discard); err != nil {
			t.Fatalf("query file: %v", err)
		}
	}
	// Round 1: 4 minutes of readings, then readings 3 minutes late.
	w.produce(ctx, rng, origin, 2400, `{"sensor_id":"S001"`, `{"sensor_id":"S002","ts":1732200000000,"temp":500,"hum":1,"ok":true}`)
	w.produce(ctx, rng, origin+60_000, 300)
	run()
	// Round 2, after a restart: more readings, some late, some within the delay.
	w.produce(ctx, rng, origin+240_000, 2400, "not json")
	w.produce(ctx, rng, origin+200_000, 400)
	w.produce(ctx, rng, origin+480_000, 600)
	run()

	want, got := w.committedRows(ctx), tableRows(t, ctx, qstore)
	if len(want) < 200 {
		t.Fatalf("the built-in path wrote %d window rows: the input should close hundreds", len(want))
	}
	type key struct {
		start  int64
		sensor string
	}
	byKey := func(rows []contract.WindowRow) map[key]contract.WindowRow {
		m := map[key]contract.WindowRow{}
		for _, r := range rows {
			k := key{r.WinStart.UnixMilli(), r.SensorID}
			if _, dup := m[k]; dup {
				t.Fatalf("window %v written twice", k)
			}
			m[k] = r
		}
		return m
	}
	wm, gm := byKey(want), byKey(got)
	if len(gm) != len(wm) {
		t.Errorf("query file wrote %d window rows, the built-in path %d", len(gm), len(wm))
	}
	bits := math.Float64bits
	diffs := 0
	for k, a := range wm {
		b, ok := gm[k]
		switch {
		case !ok:
			t.Errorf("window %v: missing from the query file's table", k)
		case !a.WinEnd.Equal(b.WinEnd) || a.Eventos != b.Eventos || a.OKCount != b.OKCount ||
			bits(a.AvgTemp) != bits(b.AvgTemp) || bits(a.AvgHum) != bits(b.AvgHum) ||
			bits(a.MinTemp) != bits(b.MinTemp) || bits(a.MaxTemp) != bits(b.MaxTemp):
			t.Errorf("window %v: query file %+v, built-in %+v", k, b, a)
		default:
			continue
		}
		if diffs++; diffs > 10 {
			t.Fatal("more than 10 differences")
		}
	}

	// Alerts: the same high_temp alerts, in the same batches.
	type alert struct {
		Type                string
		Sensor              string
		TS, WinStart, WinEn int64
		MaxTemp, Threshold  uint64
		Batch               int64
	}
	var wantAlerts, gotAlerts []alert
	for _, r := range committedRecords(t, ctx, w.brokers, "alerts_builtin") {
		var a contract.Alert
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		wantAlerts = append(wantAlerts, alert{a.Type, a.SensorID, a.TS, a.WinStart, a.WinEnd, bits(a.MaxTemp), bits(a.Threshold), a.BatchID})
	}
	for _, r := range committedRecords(t, ctx, w.brokers, contract.AlertsTopic) {
		var a contract.Alert
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != a.SensorID {
			t.Errorf("alert keyed %q, want its sensor_id %q", r.Key, a.SensorID)
		}
		a.BatchID = headerBatch(t, r)
		gotAlerts = append(gotAlerts, alert{a.Type, a.SensorID, a.TS, a.WinStart, a.WinEnd, bits(a.MaxTemp), bits(a.Threshold), a.BatchID})
	}
	order := func(a, b alert) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) }
	slices.SortFunc(wantAlerts, order)
	slices.SortFunc(gotAlerts, order)
	if len(wantAlerts) == 0 {
		t.Fatal("the built-in path raised no alert: the input should raise some")
	}
	if !slices.Equal(wantAlerts, gotAlerts) {
		t.Errorf("alerts differ:\nquery file %d: %v\nbuilt-in   %d: %v", len(gotAlerts), gotAlerts, len(wantAlerts), wantAlerts)
	}
}

// headerBatch is the batch id a query's Kafka record carries.
func headerBatch(t *testing.T, r *kgo.Record) int64 {
	t.Helper()
	for _, h := range r.Headers {
		if h.Key == "sensorlab.batch_id" {
			n, err := strconv.ParseInt(string(h.Value), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("record without a sensorlab.batch_id header: %v", r.Headers)
	return 0
}
