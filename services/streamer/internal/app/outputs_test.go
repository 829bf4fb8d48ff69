package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/qsink"
	"github.com/sensorlab/sensorlab/services/streamer/internal/streamtest"
)

// committedRecords reads a topic as a read_committed consumer.
var committedRecords = streamtest.Committed

// The seed's alerts sink raises a high_temp alert once per closed window
// whose max_temp is above 39.5, and its source sends a reading that came
// too late for its window to the late topic.
func TestAlertsAndLateTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := newWorld(t)
	rng := rand.New(rand.NewPCG(5, 6))
	w.produce(ctx, rng, origin, 3000)
	w.run(ctx, w.config())

	// A reading stamped at the origin is now far behind the watermark.
	late := contract.Event{SensorID: "S003", TS: origin + 1, Temp: 20, Hum: 50, OK: true}
	if err := w.prod.ProduceSync(ctx, &kgo.Record{Topic: contract.EventsTopic, Key: []byte("S003"),
		Value: contract.AppendJSON(nil, late)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	w.produce(ctx, rng, origin+300_000, 1000)
	w.run(ctx, w.config())

	// Expected alerts, from the independent window computation.
	var want []string
	for k, r := range expected(w.sent, 10_000, 60_000) {
		if r.MaxTemp > 39.5 {
			want = append(want, k.sensor+"@"+r.WinStart.UTC().Format(time.RFC3339))
		}
	}
	var got []string
	for _, r := range committedRecords(t, ctx, w.brokers, contract.AlertsTopic) {
		var a contract.Alert
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatalf("alert %s: %v", r.Value, err)
		}
		if a.Type != contract.AlertHighTemp || a.MaxTemp <= 39.5 || a.Threshold != 39.5 || string(r.Key) != a.SensorID ||
			a.TS != a.WinEnd || a.WinEnd-a.WinStart != 10_000 {
			t.Fatalf("unexpected alert %s", r.Value)
		}
		got = append(got, a.SensorID+"@"+time.UnixMilli(a.WinStart).UTC().Format(time.RFC3339))
	}
	slices.Sort(want)
	slices.Sort(got)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("alerts: got %d %v, want %d %v", len(got), got, len(want), want)
	}

	lates := committedRecords(t, ctx, w.brokers, contract.LateTopic)
	if len(lates) != 1 {
		t.Fatalf("late topic holds %d records, want 1", len(lates))
	}
	if ev, err := contract.DecodeEvent(lates[0].Value, time.Now().UnixMilli()); err != nil || ev != late {
		t.Fatalf("late topic holds %s (%v), want %+v", lates[0].Value, err, late)
	}
}

// windowsSource and windowsSink (one per output mode) make a query file
// that writes the seed's windows to a Kafka topic per mode, ventanas_<mode>.
const windowsSource = `
CREATE SOURCE sensors (
  sensor_id STRING NOT NULL, ts BIGINT NOT NULL, temp DOUBLE NOT NULL, hum DOUBLE NOT NULL, ok BOOLEAN NOT NULL,
  event_time AS timestamp_millis(ts),
  WATERMARK FOR event_time AS event_time - INTERVAL '1' MINUTE
) WITH (connector = 'kafka', topic = 'eventos_sensores', format = 'json');
`

const windowsSink = `
CREATE SINK ventanas_%[1]s WITH (connector = 'kafka', topic = 'ventanas_%[1]s', mode = '%[1]s', key = 'sensor_id') AS
SELECT window.start AS win_start, window.end AS win_end, sensor_id, count(*) AS eventos, avg(temp) AS avg_temp,
       avg(hum) AS avg_hum, sum(CASE WHEN ok THEN 1 ELSE 0 END) AS ok_count, min(temp) AS min_temp, max(temp) AS max_temp
FROM sensors GROUP BY window(event_time, '10 seconds'), sensor_id;
`

// A Kafka sink honours its output mode (Spark's Kafka sink takes all
// three): append sends each closed window once; update sends the rows each
// batch changed, so the last value per window is its final aggregate; and
// complete sends the whole result table every batch, closed or open.
func TestKafkaSinkModes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	w := newWorld(t)
	w.produce(ctx, rand.New(rand.NewPCG(11, 12)), origin, 2000)
	file := filepath.Join(t.TempDir(), "windows.sql")
	text := windowsSource
	for _, mode := range []string{"append", "update", "complete"} {
		text += fmt.Sprintf(windowsSink, mode)
	}
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	w.run(ctx, w.config(func(c *config.Config) { c.Query, c.MaxOffsetsPerTrigger = file, 400 }))
	for _, mode := range []string{"append", "update", "complete"} {
		t.Run(mode, func(t *testing.T) {
			closed := expected(w.sent, 10_000, 60_000)
			all := expected(w.sent, 10_000, -1<<40) // no watermark: every window, open ones too
			type rec struct {
				batch int64
				row   contract.WindowRow
			}
			var recs []rec
			for _, r := range committedRecords(t, ctx, w.brokers, "ventanas_"+mode) {
				var row contract.WindowRow
				if err := json.Unmarshal(r.Value, &row); err != nil {
					t.Fatal(err)
				}
				if string(r.Key) != row.SensorID {
					t.Fatalf("record keyed %q holds %s", r.Key, r.Value)
				}
				var batch string
				for _, h := range r.Headers {
					if h.Key == qsink.HeaderBatchID {
						batch = string(h.Value)
					}
				}
				b, err := strconv.ParseInt(batch, 10, 64)
				if err != nil {
					t.Fatalf("record %s: batch id header %q", r.Value, batch)
				}
				recs = append(recs, rec{b, row})
			}
			last := map[wkey]contract.WindowRow{}
			lastBatch := int64(-1)
			for _, r := range recs {
				k := wkey{r.row.WinStart.UnixMilli(), r.row.SensorID}
				if _, dup := last[k]; dup && mode == "append" {
					t.Fatalf("append sent window %v twice", k)
				}
				last[k] = r.row
				lastBatch = max(lastBatch, r.batch)
			}
			want := all
			switch mode {
			case "append":
				want = closed
			case "complete": // the last batch alone holds the whole table
				n := 0
				for _, r := range recs {
					if r.batch == lastBatch {
						n++
					}
				}
				if n != len(all) {
					t.Fatalf("complete: last batch sent %d rows, the table has %d", n, len(all))
				}
			}
			got := make([]contract.WindowRow, 0, len(last))
			for _, r := range last {
				got = append(got, r)
			}
			compareRows(t, got, want)
		})
	}
}
