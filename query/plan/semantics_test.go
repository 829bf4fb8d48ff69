package plan

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/query/decode"
	"github.com/sensorlab/sensorlab/query/types"
)

// The worked examples of docs/streaming-semantics.md, run as SQL queries
// through the general engine the way the streamer drives it: every batch
// runs with the watermark the previous one computed (max event time read
// - delay, never backwards), rows are pushed with their Kafka partition, and
// a batch without data runs only when a query asked for one.

// reading is one record of a test: `sensor@time (temp)` in partition p;
// ts is in epoch milliseconds.
type reading struct {
	p    int32
	id   string
	ts   int64
	temp float64
}

// semBatch is one micro-batch of an example and what it must produce.
// The rows are rendered by renderRow; a nil list means no rows.
type semBatch struct {
	wm       int64 // the watermark the batch runs with (ms), as the streamer computes it
	read     []reading
	late     int64 // rows dropped as late (and sent to a late_topic)
	append   []string
	update   []string
	complete []string
}

// semQuery is the examples' source and one sink per output mode. delay is
// the watermark delay in seconds; group is the GROUP BY's window call and
// win its name for the SELECT list (window or session_window).
func semQuery(delay int, group, win string, modes []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `CREATE SOURCE readings (
  sensor_id STRING NOT NULL,
  ts        BIGINT NOT NULL,
  temp      DOUBLE NOT NULL,
  event_time AS timestamp_millis(ts),
  WATERMARK FOR event_time AS event_time - INTERVAL '%d' SECOND
) WITH (topic = 'readings', late_topic = 'readings.late');
`, delay)
	for _, m := range modes {
		fmt.Fprintf(&b, `CREATE SINK out_%s WITH (connector = 'console', mode = '%s') AS
SELECT %s.start AS win_start, %s.end AS win_end, sensor_id, count(*) AS n, avg(temp) AS avg_temp
FROM readings
GROUP BY %s, sensor_id;
`, m, m, win, win, group)
	}
	return b.String()
}

// secs renders a TIMESTAMP (micros) or a time in ms as seconds.
func secs(v int64, perSecond float64) string {
	return strconv.FormatFloat(float64(v)/perSecond, 'f', -1, 64)
}

// renderRow renders output row i as `[start,end) sensor n=count avg=avg`,
// times in seconds; the average is the shortest decimal that reads back as
// the same float64, so that equal strings are equal bits.
func renderRow(b *types.Batch, i int) string {
	return fmt.Sprintf("[%s,%s) %s n=%d avg=%s", secs(b.Cols[0].I64[i], 1e6), secs(b.Cols[1].I64[i], 1e6),
		b.Cols[2].Str[i], b.Cols[3].I64[i], strconv.FormatFloat(b.Cols[4].F64[i], 'g', -1, 64))
}

func renderRows(b *types.Batch) []string {
	var out []string
	for i := range b.N {
		out = append(out, renderRow(b, i))
	}
	return out
}

// semDriver runs a program's queries over one source batch by batch, as
// services/streamer's driver does.
type semDriver struct {
	t       *testing.T
	modes   []string
	execs   []*Executor
	reader  *SourceReader
	delayMs int64
	wm      int64 // the next batch's watermark, ms
	noData  bool  // a query asked for a batch without data
	offset  int64
}

func newSemDriver(t *testing.T, delay int, group, win string, modes []string) *semDriver {
	t.Helper()
	p, err := compile(t, semQuery(delay, group, win, modes), Streaming)
	if err != nil {
		t.Fatal(err)
	}
	d := &semDriver{t: t, modes: modes, delayMs: int64(delay) * 1000}
	for i := range modes {
		x, err := p.Queries[i].NewExecutor()
		if err != nil {
			t.Fatal(err)
		}
		d.execs = append(d.execs, x)
	}
	if d.reader, err = NewSourceReader(p.Queries[0].Source); err != nil {
		t.Fatal(err)
	}
	return d
}

// batchOut is one batch's output: rows per mode, and the late rows.
type batchOut struct {
	rows  map[string][]string
	late  int64
	state map[string]int64 // rows in state after the batch (numRowsTotal)
}

// run runs one batch of rs with the current watermark and computes the
// next one, and whether a batch without data must follow.
func (d *semDriver) run(rs []reading) batchOut {
	t := d.t
	t.Helper()
	wm := d.wm
	for _, x := range d.execs {
		x.Agg().SetWatermark(wm * 1000)
	}
	recs := make([]decode.Record, len(rs))
	for i, r := range rs {
		v := fmt.Sprintf(`{"sensor_id":%q,"ts":%d,"temp":%s}`, r.id, r.ts, strconv.FormatFloat(r.temp, 'g', -1, 64))
		recs[i] = decode.Record{Topic: "readings", Partition: r.p, Offset: d.offset, Value: []byte(v)}
		d.offset++
	}
	rows, rejected := d.reader.Read(recs, 0)
	if len(rejected) > 0 {
		t.Fatalf("rejected %+v", rejected)
	}
	// The records the driver forwards to the late topic: event time at or
	// before the batch's watermark.
	out := batchOut{rows: map[string][]string{}, state: map[string]int64{}}
	ev := rows.Cols[rows.Schema.Index("event_time")]
	maxEv, seen := int64(0), false
	for i := range rows.N {
		if ev.I64[i] <= wm*1000 {
			out.late++
		}
		if !seen || ev.I64[i] > maxEv {
			maxEv, seen = ev.I64[i], true
		}
	}
	for _, x := range d.execs {
		if err := x.Push(rows, 0); err != nil {
			t.Fatal(err)
		}
	}
	next := wm
	if seen {
		next = max(wm, floorDivMs(maxEv)-d.delayMs)
	}
	d.noData = false
	for i, x := range d.execs {
		o, err := x.Finish(0)
		if err != nil {
			t.Fatal(err)
		}
		st := o.Stats
		if st.NumRowsDroppedByWatermark != out.late {
			t.Errorf("%s: %d rows dropped as late, but %d would go to the late topic", d.modes[i], st.NumRowsDroppedByWatermark, out.late)
		}
		if st.NextWatermark != next*1000 {
			t.Errorf("%s: next watermark %dµs, the driver's is %dms", d.modes[i], st.NextWatermark, next)
		}
		d.noData = d.noData || st.NeedsNoDataBatch
		out.rows[d.modes[i]] = renderRows(o.Rows)
		out.state[d.modes[i]] = st.NumRowsTotal
	}
	d.wm = next
	return out
}

func floorDivMs(micros int64) int64 {
	q := micros / 1000
	if micros%1000 != 0 && micros < 0 {
		q--
	}
	return q
}

// runExample drives the batches and checks each against its expectations.
// A batch without readings must be one a query asked for, and a batch
// after such a request must be without readings: the streamer runs no other.
func runExample(t *testing.T, delay int, group, win string, modes []string, batches []semBatch) {
	t.Helper()
	d := newSemDriver(t, delay, group, win, modes)
	for i, b := range batches {
		if b.wm != d.wm {
			t.Fatalf("batch %d: the streamer runs it with watermark %dms, the example says %dms", i, d.wm, b.wm)
		}
		if d.noData && len(b.read) > 0 {
			t.Fatalf("batch %d: a query asked for a batch without data first", i)
		}
		if i > 0 && !d.noData && len(b.read) == 0 {
			t.Fatalf("batch %d: no query asked for a batch without data; the streamer would not run it", i)
		}
		out := d.run(b.read)
		if out.late != b.late {
			t.Errorf("batch %d: %d late rows, want %d", i, out.late, b.late)
		}
		want := map[string][]string{"append": b.append, "update": b.update, "complete": b.complete}
		for _, m := range modes {
			if got := out.rows[m]; !slices.Equal(got, want[m]) {
				t.Errorf("batch %d (W=%s), %s rows:\ngot  %q\nwant %q", i, secs(b.wm, 1e3), m, got, want[m])
			}
		}
	}
	if d.noData {
		t.Errorf("after the last batch a query still asks for a batch without data (watermark %dms)", d.wm)
	}
}

const tumbling10s = "window(event_time, '10 seconds')"

// TestMicroBatches: tumbling 10s windows, watermark delay 5s.
func TestMicroBatches(t *testing.T) {
	modes := []string{"append", "update"}
	tests := []struct {
		name    string
		batches []semBatch
	}{
		{
			name: "out of order readings within the watermark land in their windows",
			batches: []semBatch{
				{wm: 0, read: []reading{{0, "S1", 25_000, 20}, {0, "S1", 12_000, 10}, {0, "S2", 11_000, 5}, {0, "S1", 18_000, 30}},
					update: []string{"[10,20) S1 n=2 avg=20", "[10,20) S2 n=1 avg=5", "[20,30) S1 n=1 avg=20"}},
				{wm: 20_000, append: []string{"[10,20) S1 n=2 avg=20", "[10,20) S2 n=1 avg=5"}},
			},
		},
		{
			name: "a reading at or before the watermark is late and dropped",
			batches: []semBatch{
				{wm: 0, read: []reading{{0, "S1", 30_000, 1}}, update: []string{"[30,40) S1 n=1 avg=1"}},
				{wm: 25_000, read: []reading{{0, "S1", 25_000, 2}, {0, "S1", 24_999, 3}, {0, "S1", 25_001, 4}},
					late: 2, update: []string{"[20,30) S1 n=1 avg=4"}},
			},
		},
		{
			name: "a repeated reading counts twice",
			batches: []semBatch{
				{wm: 0, read: []reading{{0, "S1", 12_000, 10}, {0, "S1", 12_000, 10}}, update: []string{"[10,20) S1 n=2 avg=10"}},
				{wm: 7_000, read: []reading{{0, "S9", 40_000, 0}}, update: []string{"[40,50) S9 n=1 avg=0"}},
				{wm: 35_000, append: []string{"[10,20) S1 n=2 avg=10"}},
			},
		},
		{
			name: "one sensor in several partitions is merged",
			batches: []semBatch{
				{wm: 0, read: []reading{{2, "S1", 11_000, 30}, {0, "S1", 12_000, 20}, {1, "S1", 13_000, 10}, {1, "S2", 13_000, 7}},
					update: []string{"[10,20) S1 n=3 avg=20", "[10,20) S2 n=1 avg=7"}},
				{wm: 8_000, read: []reading{{1, "S1", 30_000, 40}}, update: []string{"[30,40) S1 n=1 avg=40"}},
				{wm: 25_000, append: []string{"[10,20) S1 n=3 avg=20", "[10,20) S2 n=1 avg=7"}},
			},
		},
		{
			name: "an update row merges partitions the batch did not touch",
			batches: []semBatch{
				{wm: 0, read: []reading{{0, "S1", 12_000, 10}, {1, "S1", 13_000, 20}}, update: []string{"[10,20) S1 n=2 avg=15"}},
				{wm: 8_000, read: []reading{{1, "S1", 14_000, 30}}, update: []string{"[10,20) S1 n=3 avg=20"}},
			},
		},
		{
			name: "a window closes when the watermark reaches its end, and a batch without data is asked for only then",
			batches: []semBatch{
				{wm: 0, read: []reading{{0, "S1", 19_999, 1}}, update: []string{"[10,20) S1 n=1 avg=1"}},
				{wm: 14_999, read: []reading{{0, "S2", 24_999, 2}}, update: []string{"[20,30) S2 n=1 avg=2"}},
				{wm: 19_999, read: []reading{{0, "S2", 25_000, 3}}, update: []string{"[20,30) S2 n=2 avg=2.5"}},
				{wm: 20_000, append: []string{"[10,20) S1 n=1 avg=1"}},
			},
		},
		{
			name: "the watermark never moves backwards",
			batches: []semBatch{
				{wm: 0, read: []reading{{0, "S1", 100_000, 1}}, update: []string{"[100,110) S1 n=1 avg=1"}},
				{wm: 95_000, read: []reading{{0, "S1", 50_000, 1}}, late: 1},
				{wm: 95_000, read: []reading{{0, "S1", 96_000, 2}}, update: []string{"[90,100) S1 n=1 avg=2"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runExample(t, 5, tumbling10s, "window", modes, tt.batches) })
	}
}

// TestTumblingCompleteMode: tumbling 10s, delay 5s, a sink per mode.
func TestTumblingCompleteMode(t *testing.T) {
	a2, b := "[10,20) S1 n=3 avg=20", "[20,30) S2 n=1 avg=7"
	c := "[30,40) S3 n=1 avg=5"
	runExample(t, 5, tumbling10s, "window", []string{"append", "update", "complete"}, []semBatch{
		{wm: 0, read: []reading{{0, "S1", 11_000, 10}, {1, "S1", 12_000, 20}},
			update: []string{"[10,20) S1 n=2 avg=15"}, complete: []string{"[10,20) S1 n=2 avg=15"}},
		{wm: 7_000, read: []reading{{1, "S1", 13_000, 30}, {0, "S2", 26_000, 7}},
			update: []string{a2, b}, complete: []string{a2, b}},
		{wm: 21_000, append: []string{a2}, complete: []string{a2, b}},
		{wm: 21_000, read: []reading{{0, "S1", 19_000, 1}, {0, "S3", 35_000, 5}}, late: 1,
			update: []string{c}, complete: []string{a2, b, c}},
		{wm: 30_000, append: []string{b}, complete: []string{a2, b, c}},
	})
}

// TestSlidingWindows: windows of 10s every 5s, delay 5s.
func TestSlidingWindows(t *testing.T) {
	const (
		s1a = "[0,10) S1 n=1 avg=20"
		s1b = "[5,15) S1 n=2 avg=15"
		s2b = "[5,15) S2 n=1 avg=5"
		s1c = "[10,20) S1 n=1 avg=10"
		s2c = "[10,20) S2 n=1 avg=5"
		s1d = "[15,25) S1 n=1 avg=30"
		s1e = "[20,30) S1 n=1 avg=30"
		s2f = "[30,40) S2 n=1 avg=0"
		s2g = "[35,45) S2 n=1 avg=0"
	)
	seven := []string{s1a, s1b, s2b, s1c, s2c, s1d, s1e}
	nine := []string{s1a, s1b, s2b, s1c, s2c, s1d, s1e, s2f, s2g}
	runExample(t, 5, "window(event_time, '10 seconds', '5 seconds')", "window", []string{"append", "update", "complete"}, []semBatch{
		{wm: 0, read: []reading{{0, "S1", 12_000, 10}, {0, "S1", 7_000, 20}, {1, "S2", 14_000, 5}},
			update:   []string{s1a, s1b, s2b, s1c, s2c},
			complete: []string{s1a, s1b, s2b, s1c, s2c}},
		{wm: 9_000, read: []reading{{0, "S1", 9_000, 99}, {0, "S1", 21_000, 30}}, late: 1,
			update: []string{s1d, s1e}, complete: seven},
		{wm: 16_000, append: []string{s1a, s1b, s2b}, complete: seven},
		{wm: 16_000, read: []reading{{1, "S2", 35_000, 0}}, update: []string{s2f, s2g}, complete: nine},
		{wm: 30_000, append: []string{s1c, s2c, s1d, s1e}, complete: nine},
	})
}

// A window that is not a multiple of its slide: as in Spark, a reading is
// in every window [k·slide, k·slide + size) that holds it, two or three of
// them here.
func TestSlideNotDividingTheWindow(t *testing.T) {
	runExample(t, 5, "window(event_time, '10 seconds', '4 seconds')", "window", []string{"update"}, []semBatch{
		{wm: 0, read: []reading{{0, "S1", 11_000, 1}, {0, "S2", 12_000, 2}},
			update: []string{"[4,14) S1 n=1 avg=1", "[4,14) S2 n=1 avg=2", "[8,18) S1 n=1 avg=1", "[8,18) S2 n=1 avg=2", "[12,22) S2 n=1 avg=2"}},
	})
}

// TestSessionWindows: session windows with a 5s gap, delay 20s. Update
// mode is refused for session windows (as in Spark), so the sinks are
// append and complete.
func TestSessionWindows(t *testing.T) {
	const (
		s1ab = "[10,30) S1 n=5 avg=20"
		s2a  = "[11,16) S2 n=1 avg=5"
		s2ab = "[11,19) S2 n=2 avg=10"
		s1b  = "[30,35) S1 n=1 avg=30"
		s1bc = "[30,36) S1 n=2 avg=20"
		s1c  = "[50,55) S1 n=1 avg=50"
		s2c  = "[60,65) S2 n=1 avg=0"
		s2d  = "[75,80) S2 n=1 avg=0"
	)
	runExample(t, 20, "session_window(event_time, '5 seconds')", "session_window", []string{"append", "complete"}, []semBatch{
		{wm: 0, read: []reading{{0, "S1", 10_000, 10}, {0, "S1", 12_000, 20}, {0, "S1", 30_000, 30}, {0, "S2", 11_000, 5}},
			complete: []string{"[10,17) S1 n=2 avg=15", s2a, s1b}},
		// 16 extends S1's first session; 25 opens one (9s after 16, exactly
		// 5s before 30); 20.5 bridges them.
		{wm: 10_000, read: []reading{{0, "S1", 16_000, 40}, {0, "S1", 25_000, 0}, {0, "S1", 20_500, 30}, {0, "S2", 9_000, 1}}, late: 1,
			complete: []string{s1ab, s2a, s1b}},
		// S2@14 in partition 1 merges with S2@11 in partition 0.
		{wm: 10_000, read: []reading{{1, "S2", 14_000, 15}, {1, "S1", 50_000, 50}},
			complete: []string{s1ab, s2ab, s1b, s1c}},
		{wm: 30_000, append: []string{s1ab, s2ab}, complete: []string{s1ab, s2ab, s1b, s1c}},
		// S1@31 in partition 1 joins partition 0's session at 30.
		{wm: 30_000, read: []reading{{1, "S1", 31_000, 10}, {1, "S1", 29_000, 1}, {0, "S2", 60_000, 0}}, late: 1,
			complete: []string{s1ab, s2ab, s1bc, s1c, s2c}},
		{wm: 40_000, append: []string{s1bc}, complete: []string{s1ab, s2ab, s1bc, s1c, s2c}},
		{wm: 40_000, read: []reading{{0, "S2", 75_000, 0}}, complete: []string{s1ab, s2ab, s1bc, s1c, s2c, s2d}},
		{wm: 55_000, append: []string{s1c}, complete: []string{s1ab, s2ab, s1bc, s1c, s2c, s2d}},
	})
}

// A session closed in one partition but bridged by an open part in another
// is emitted only when the merged session closes (gap 5s, delay 2s).
func TestSessionClosesOnlyWhenAllPartitionsDo(t *testing.T) {
	runExample(t, 2, "session_window(event_time, '5 seconds')", "session_window", []string{"append"}, []semBatch{
		{wm: 0, read: []reading{{0, "S1", 10_000, 1}, {1, "S1", 14_000, 3}}},
		{wm: 12_000, read: []reading{{0, "S2", 18_000, 0}}},
		// Partition 0's part alone ends at 15 <= 16: the operator asks for
		// a batch without data, which emits nothing, the merged session
		// ending at 19.
		{wm: 16_000},
		{wm: 16_000, read: []reading{{0, "S2", 21_000, 0}}},
		{wm: 19_000, append: []string{"[10,19) S1 n=2 avg=2"}},
	})
}

// genReadings returns n readings over nSensors sensors and nParts
// partitions, out of order but never by delayMs or more behind the maximum
// so far (so none is late, however the batches are cut), with full
// precision temperatures (so sums depend on the order of additions).
// Every 2s of event time a sensor pauses for 1s, so sessions close.
func genReadings(rng *rand.Rand, n, nSensors, nParts int, delayMs int64) []reading {
	out := make([]reading, 0, n)
	maxTS := int64(1_732_200_000_000)
	for len(out) < n {
		maxTS += rng.Int64N(40)
		ts := maxTS - rng.Int64N(delayMs)
		s := rng.IntN(nSensors)
		if (ts/1000+int64(s))%3 == 0 {
			continue
		}
		out = append(out, reading{p: int32(rng.IntN(nParts)), id: fmt.Sprintf("S%03d", s), ts: ts, temp: -10 + 50*rng.Float64()})
	}
	return out
}

// TestBatchBoundariesDoNotChangeOutput: the same readings cut into batches
// anywhere give the same appended rows, bit for bit, and the same state
// at the end, for every window kind (and in complete mode, the same last
// table), as long as none is late.
func TestBatchBoundariesDoNotChangeOutput(t *testing.T) {
	const delay = 5
	tests := []struct {
		name, group, win, mode string
	}{
		{"tumbling 10s", tumbling10s, "window", "append"},
		{"sliding 10s/2s", "window(event_time, '10 seconds', '2 seconds')", "window", "append"},
		{"session 600ms", "session_window(event_time, '600 milliseconds')", "session_window", "append"},
		{"sliding 10s/5s, complete", "window(event_time, '10 seconds', '5 seconds')", "window", "complete"},
		{"session 600ms, complete", "session_window(event_time, '600 milliseconds')", "session_window", "complete"},
	}
	for ti, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(ti)))
			n := 3000
			if tt.mode == "complete" { // every batch emits the whole table
				n = 600
			}
			rs := genReadings(rng, n, 25, 3, delay*1000)
			splits := map[string][]int{"one batch": nil}
			every := make([]int, 0, len(rs))
			for i := 1; i < len(rs); i++ {
				every = append(every, i)
			}
			splits["one reading per batch"] = every
			for s := range 8 {
				cuts := make([]int, 1+rng.IntN(200))
				for i := range cuts {
					cuts[i] = 1 + rng.IntN(len(rs)-1)
				}
				slices.Sort(cuts)
				splits[fmt.Sprintf("random split %d", s)] = slices.Compact(cuts)
			}
			var wantRows []string
			var wantState []byte
			for _, name := range slices.Sorted(maps.Keys(splits)) {
				rows, state := runSplit(t, delay, tt.group, tt.win, tt.mode, rs, splits[name])
				if wantRows == nil {
					if len(rows) < 100 {
						t.Fatalf("%s: only %d rows: the generator tests too little", name, len(rows))
					}
					wantRows, wantState = rows, state
					continue
				}
				if !slices.Equal(rows, wantRows) {
					i := 0
					for i < min(len(rows), len(wantRows)) && rows[i] == wantRows[i] {
						i++
					}
					t.Errorf("%s: %d rows, another split %d; first difference at row %d", name, len(rows), len(wantRows), i)
				}
				if !bytes.Equal(state, wantState) {
					t.Errorf("%s: the state left differs from another split's", name)
				}
			}
		})
	}
}

// runSplit runs rs cut at cuts, then the batches without data asked for,
// and returns the appended rows (sorted: sessions close in order of end)
// or the last complete table, and the state's snapshot.
func runSplit(t *testing.T, delay int, group, win, mode string, rs []reading, cuts []int) ([]string, []byte) {
	t.Helper()
	d := newSemDriver(t, delay, group, win, []string{mode})
	var rows []string
	take := func(out batchOut) {
		if out.late != 0 {
			t.Fatalf("%d rows late at watermark %d", out.late, d.wm)
		}
		if mode == "complete" {
			rows = out.rows[mode]
		} else {
			rows = append(rows, out.rows[mode]...)
		}
	}
	lo := 0
	for _, c := range append(cuts, len(rs)) {
		if d.noData {
			take(d.run(nil))
		}
		take(d.run(rs[lo:c]))
		lo = c
	}
	for d.noData {
		take(d.run(nil))
	}
	slices.Sort(rows)
	var snap bytes.Buffer
	if err := d.execs[0].Agg().WriteSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	return rows, snap.Bytes()
}

// TestStateStaysBounded runs a long stream (event time advancing, out of
// order within the watermark, sensors pausing) through every window kind
// in append mode and checks that the rows in state stay under a bound set
// by the query, not by the stream's length.
func TestStateStaysBounded(t *testing.T) {
	const (
		nSensors  = 200
		nParts    = 4
		perMs     = 2      // readings per ms of event time
		batchSize = 20_000 // readings per micro-batch: 10s of event time
		jitterMs  = 3_000  // readings arrive up to 3s out of order
		delayMs   = 5_000
	)
	n := 400_000
	if testing.Short() {
		n = 100_000
	}
	tests := []struct {
		name, group, win string
		spanMs, stepMs   int64 // the window (or gap), and how often one starts
	}{
		{"tumbling 10s", tumbling10s, "window", 10_000, 10_000},
		{"sliding 30s/10s", "window(event_time, '30 seconds', '10 seconds')", "window", 30_000, 10_000},
		{"session 2s", "session_window(event_time, '2 seconds')", "session_window", 2_000, 2_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newSemDriver(t, delayMs/1000, tt.group, tt.win, []string{"append"})
			// The state spans at most the delay, the jitter, one batch of
			// event time and one window (or gap) behind the max; a row per
			// sensor, partition and window start (or gap-long stretch) in it.
			span := delayMs + jitterMs + batchSize/perMs + tt.spanMs
			bound := int64(nSensors * nParts * (span/tt.stepMs + 1))
			const t0 = int64(1_732_200_000_000)
			var firstHalf, secondHalf, appended int64
			rs := make([]reading, 0, batchSize)
			for lo := 0; lo < n; lo += batchSize {
				rs = rs[:0]
				for i := lo; i < lo+batchSize; i++ {
					s := i % nSensors
					ts := t0 + int64(i/perMs) - int64(uint64(i)*0x9E3779B97F4A7C15>>40)%jitterMs
					if (ts/20_000+int64(s))%5 == 0 { // each sensor pauses 20s in every 100s
						continue
					}
					rs = append(rs, reading{p: int32(s % nParts), id: fmt.Sprintf("sensor-%03d", s), ts: ts, temp: 20})
				}
				outs := []batchOut{d.run(rs)}
				if d.noData {
					outs = append(outs, d.run(nil))
				}
				for _, out := range outs {
					appended += int64(len(out.rows["append"]))
					rows := out.state["append"]
					if rows > bound {
						t.Fatalf("batch at watermark %d: %d rows in state, bound %d", d.wm, rows, bound)
					}
					if lo < n/2 {
						firstHalf = max(firstHalf, rows)
					} else {
						secondHalf = max(secondHalf, rows)
					}
				}
			}
			t.Logf("max state: %d rows in the first half, %d in the second (bound %d); %d rows appended", firstHalf, secondHalf, bound, appended)
			if secondHalf > firstHalf*11/10 {
				t.Errorf("state grows with the stream: max %d rows in the first half, %d in the second", firstHalf, secondHalf)
			}
			if appended == 0 {
				t.Error("no row appended: the stream exercises too little")
			}
		})
	}
}
