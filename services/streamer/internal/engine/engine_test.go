package engine

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
)

// in is one reading fed to a test engine.
type in struct {
	p    int32
	id   string
	ts   int64
	temp float64
	hum  float64
	ok   bool
}

// row builds an expected window row of a 10s window starting at startMs.
func row10(startMs int64, id string, n int64, avgT, avgH float64, ok int64, minT, maxT float64) contract.WindowRow {
	return contract.WindowRow{
		WinStart: time.UnixMilli(startMs).UTC(), WinEnd: time.UnixMilli(startMs + 10_000).UTC(),
		SensorID: id, Eventos: n, AvgTemp: avgT, AvgHum: avgH, OKCount: ok, MinTemp: minT, MaxTemp: maxT,
	}
}

// rowString renders a row with exact float bits, so that comparing strings
// compares bytes.
func rowString(r contract.WindowRow) string {
	return fmt.Sprintf("[%s,%s) %s n=%d avgT=%v(%x) avgH=%v(%x) ok=%d min=%v max=%v",
		r.WinStart.Format(time.RFC3339Nano), r.WinEnd.Format(time.RFC3339Nano), r.SensorID, r.Eventos,
		r.AvgTemp, math.Float64bits(r.AvgTemp), r.AvgHum, math.Float64bits(r.AvgHum), r.OKCount, r.MinTemp, r.MaxTemp)
}

func rowsString(rows []contract.WindowRow) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(rowString(r))
		b.WriteByte('\n')
	}
	return b.String()
}

func checkRows(t *testing.T, what string, got, want []contract.WindowRow) {
	t.Helper()
	if g, w := rowsString(got), rowsString(want); g != w {
		t.Errorf("%s rows:\ngot:\n%swant:\n%s", what, g, w)
	}
	for _, r := range got {
		if r.WinStart.Location() != time.UTC || r.WinEnd.Location() != time.UTC {
			t.Errorf("%s row %s: times not in UTC", what, rowString(r))
		}
	}
}

func mustNew(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return e
}

var cfg10s5s = Config{Window: 10 * time.Second, Watermark: 5 * time.Second}

func TestBatches(t *testing.T) {
	type batch struct {
		wm         int64
		add        []in
		added      []bool // Add's result per reading; nil: all true
		dropped    int64
		append     []contract.WindowRow
		update     []contract.WindowRow
		next       int64
		noDataNext bool
	}
	tests := []struct {
		name    string
		batches []batch
	}{
		{
			name: "out of order readings within the watermark land in their windows",
			batches: []batch{
				{
					wm: 0,
					add: []in{
						{0, "S1", 25_000, 20, 50, true},
						{0, "S1", 12_000, 10, 40, true},
						{0, "S2", 11_000, 5, 60, false},
						{0, "S1", 18_000, 30, 60, false},
					},
					update: []contract.WindowRow{
						row10(10_000, "S1", 2, 20, 50, 1, 10, 30),
						row10(10_000, "S2", 1, 5, 60, 0, 5, 5),
						row10(20_000, "S1", 1, 20, 50, 1, 20, 20),
					},
					next: 20_000, noDataNext: true,
				},
				{
					wm: 20_000,
					append: []contract.WindowRow{
						row10(10_000, "S1", 2, 20, 50, 1, 10, 30),
						row10(10_000, "S2", 1, 5, 60, 0, 5, 5),
					},
					next: 20_000,
				},
			},
		},
		{
			name: "a reading at or before the watermark is late and dropped",
			batches: []batch{
				{wm: 0, add: []in{{0, "S1", 30_000, 1, 1, true}},
					update: []contract.WindowRow{row10(30_000, "S1", 1, 1, 1, 1, 1, 1)}, next: 25_000},
				{
					wm: 25_000,
					add: []in{
						{0, "S1", 25_000, 2, 2, true}, // == watermark: late
						{0, "S1", 24_999, 3, 3, true},
						{0, "S1", 25_001, 4, 4, true},
					},
					added:   []bool{false, false, true},
					dropped: 2,
					update:  []contract.WindowRow{row10(20_000, "S1", 1, 4, 4, 1, 4, 4)},
					next:    25_000,
				},
			},
		},
		{
			name: "duplicate readings are counted twice",
			batches: []batch{
				{wm: 0, add: []in{{0, "S1", 12_000, 10, 50, true}, {0, "S1", 12_000, 10, 50, true}},
					update: []contract.WindowRow{row10(10_000, "S1", 2, 10, 50, 2, 10, 10)}, next: 7_000},
				{wm: 7_000, add: []in{{0, "S9", 40_000, 0, 0, false}},
					update: []contract.WindowRow{row10(40_000, "S9", 1, 0, 0, 0, 0, 0)}, next: 35_000, noDataNext: true},
				{wm: 35_000, append: []contract.WindowRow{row10(10_000, "S1", 2, 10, 50, 2, 10, 10)}, next: 35_000},
			},
		},
		{
			name: "one sensor in several partitions is merged",
			batches: []batch{
				{
					wm: 0,
					add: []in{
						{2, "S1", 11_000, 30, 10, true},
						{0, "S1", 12_000, 20, 20, false},
						{1, "S1", 13_000, 10, 30, true}, // min in a later partition
						{1, "S2", 13_000, 7, 7, true},
					},
					update: []contract.WindowRow{
						row10(10_000, "S1", 3, 20, 20, 2, 10, 30),
						row10(10_000, "S2", 1, 7, 7, 1, 7, 7),
					},
					next: 8_000,
				},
				{
					wm: 8_000, add: []in{{1, "S1", 30_000, 40, 40, true}},
					update: []contract.WindowRow{row10(30_000, "S1", 1, 40, 40, 1, 40, 40)}, next: 25_000, noDataNext: true,
				},
				{
					wm: 25_000,
					append: []contract.WindowRow{
						row10(10_000, "S1", 3, 20, 20, 2, 10, 30),
						row10(10_000, "S2", 1, 7, 7, 1, 7, 7),
					},
					next: 25_000,
				},
			},
		},
		{
			name: "update rows merge partitions the batch did not touch",
			batches: []batch{
				{wm: 0, add: []in{{0, "S1", 12_000, 10, 0, true}, {1, "S1", 13_000, 20, 0, true}},
					update: []contract.WindowRow{row10(10_000, "S1", 2, 15, 0, 2, 10, 20)}, next: 8_000},
				{wm: 8_000, add: []in{{1, "S1", 14_000, 30, 0, false}},
					update: []contract.WindowRow{row10(10_000, "S1", 3, 20, 0, 2, 10, 30)}, next: 9_000},
			},
		},
		{
			name: "a window is evicted exactly when its end equals the watermark",
			batches: []batch{
				{wm: 0, add: []in{{0, "S1", 19_999, 1, 2, true}},
					update: []contract.WindowRow{row10(10_000, "S1", 1, 1, 2, 1, 1, 1)}, next: 14_999},
				{wm: 19_999, next: 19_999},
				{wm: 20_000, append: []contract.WindowRow{row10(10_000, "S1", 1, 1, 2, 1, 1, 1)}, next: 20_000},
				{wm: 30_000, next: 30_000}, // emitted once only
			},
		},
		{
			name: "the watermark never moves backwards",
			batches: []batch{
				{wm: 0, add: []in{{0, "S1", 100_000, 1, 1, true}},
					update: []contract.WindowRow{row10(100_000, "S1", 1, 1, 1, 1, 1, 1)}, next: 95_000},
				// Old readings (late) still count for the max event time, which stays 100s.
				{wm: 95_000, add: []in{{0, "S1", 50_000, 1, 1, true}}, added: []bool{false}, dropped: 1, next: 95_000},
				// A lower watermark from the runner is raised to the current one.
				{wm: 10, add: []in{{0, "S1", 60_000, 1, 1, true}}, added: []bool{false}, dropped: 1, next: 95_000},
			},
		},
		{
			name: "a no-data batch is asked for only when the next watermark closes state",
			batches: []batch{
				{wm: 0, add: []in{{0, "S1", 12_000, 1, 1, true}},
					update: []contract.WindowRow{row10(10_000, "S1", 1, 1, 1, 1, 1, 1)}, next: 7_000},
				{wm: 7_000, add: []in{{0, "S1", 24_999, 2, 2, true}},
					update: []contract.WindowRow{row10(20_000, "S1", 1, 2, 2, 1, 2, 2)}, next: 19_999},
				{wm: 19_999, add: []in{{0, "S1", 25_000, 3, 3, true}},
					update: []contract.WindowRow{row10(20_000, "S1", 2, 2.5, 2.5, 2, 2, 3)}, next: 20_000, noDataNext: true},
				{wm: 20_000, append: []contract.WindowRow{row10(10_000, "S1", 1, 1, 1, 1, 1, 1)}, next: 20_000},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustNew(t, cfg10s5s)
			for i, b := range tt.batches {
				e.StartBatch(b.wm)
				for j, r := range b.add {
					want := b.added == nil || b.added[j]
					if got := e.Add(r.p, Reading{r.id, r.ts, r.temp, r.hum, r.ok}); got != want {
						t.Errorf("batch %d: Add(%+v) = %v, want %v", i, r, got, want)
					}
				}
				res := e.FinishBatch()
				checkRows(t, fmt.Sprintf("batch %d append", i), res.Append, b.append)
				checkRows(t, fmt.Sprintf("batch %d update", i), res.Update, b.update)
				if res.NextWatermark != b.next {
					t.Errorf("batch %d: NextWatermark = %d, want %d", i, res.NextWatermark, b.next)
				}
				if res.NeedsNoDataBatch != b.noDataNext {
					t.Errorf("batch %d: NeedsNoDataBatch = %v, want %v", i, res.NeedsNoDataBatch, b.noDataNext)
				}
				if res.Stats.NumRowsDroppedByWatermark != b.dropped {
					t.Errorf("batch %d: dropped = %d, want %d", i, res.Stats.NumRowsDroppedByWatermark, b.dropped)
				}
				if res.Stats.NumInputRows != int64(len(b.add)) {
					t.Errorf("batch %d: NumInputRows = %d, want %d", i, res.Stats.NumInputRows, len(b.add))
				}
				if res.NextWatermark < e.Watermark() {
					t.Errorf("batch %d: NextWatermark %d below the batch watermark %d", i, res.NextWatermark, e.Watermark())
				}
			}
		})
	}
}

func TestStats(t *testing.T) {
	e := mustNew(t, cfg10s5s)
	e.StartBatch(0)
	for _, r := range []in{
		{0, "S1", 12_000, 1, 1, true}, {1, "S1", 13_000, 1, 1, true}, {0, "S1", 14_000, 1, 1, true},
		{0, "S2", 21_000, 1, 1, true},
	} {
		e.Add(r.p, Reading{r.id, r.ts, r.temp, r.hum, r.ok})
	}
	s := e.FinishBatch().Stats
	want := Stats{NumInputRows: 4, NumRowsTotal: 3, NumRowsUpdated: 3,
		EventTimeMin: 12_000, EventTimeMax: 21_000, EventTimeAvg: 15_000, MemoryUsedBytes: s.MemoryUsedBytes}
	if s != want {
		t.Errorf("batch 0 stats = %+v, want %+v", s, want)
	}
	if s.MemoryUsedBytes < 3*rowBytes {
		t.Errorf("MemoryUsedBytes = %d, less than its 3 rows", s.MemoryUsedBytes)
	}

	e.StartBatch(16_000)
	e.Add(0, Reading{"S1", 15_000, 1, 1, true}) // late
	e.Add(0, Reading{"S2", 22_000, 1, 1, true})
	e.Add(1, Reading{"S3", 40_000, 1, 1, true})
	s = e.FinishBatch().Stats
	want = Stats{NumInputRows: 3, NumRowsDroppedByWatermark: 1, NumRowsTotal: 4, NumRowsUpdated: 2,
		EventTimeMin: 15_000, EventTimeMax: 40_000, EventTimeAvg: 25_666, MemoryUsedBytes: s.MemoryUsedBytes}
	if s != want {
		t.Errorf("batch 1 stats = %+v, want %+v", s, want)
	}

	e.StartBatch(35_000) // closes [10s,20s) in partitions 0 and 1, and [20s,30s)
	s = e.FinishBatch().Stats
	want = Stats{NumRowsTotal: 1, NumRowsRemoved: 3, MemoryUsedBytes: s.MemoryUsedBytes}
	if s != want {
		t.Errorf("no-data batch stats = %+v, want %+v", s, want)
	}
}

func TestWindowStart(t *testing.T) {
	tests := []struct{ t, l, want int64 }{
		{25_000, 10_000, 20_000},
		{20_000, 10_000, 20_000},
		{19_999, 10_000, 10_000},
		{0, 10_000, 0},
		{-1, 10_000, -10_000},
		{-10_000, 10_000, -10_000},
		{-10_001, 10_000, -20_000},
		{1_732_200_000_123, 10_000, 1_732_200_000_000},
	}
	for _, tt := range tests {
		if got := windowStart(tt.t, tt.l); got != tt.want {
			t.Errorf("windowStart(%d, %d) = %d, want %d", tt.t, tt.l, got, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config rejected: %v", err)
	}
	tests := []struct {
		cfg  Config
		want []string
	}{
		{Config{}, []string{"window length 0s: must be > 0"}},
		{Config{Window: -time.Second, Watermark: -time.Second}, []string{"window length -1s", "watermark delay -1s: must be >= 0"}},
		{Config{Window: 1500 * time.Microsecond, Watermark: time.Microsecond}, []string{"whole milliseconds", "watermark delay 1µs: must be whole milliseconds"}},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", tt.cfg)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Validate(%+v) = %q, want it to mention %q", tt.cfg, err, w)
			}
		}
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("New(%+v) accepted an invalid config", tt.cfg)
		}
	}
}

func TestAddRawDoesNotAllocate(t *testing.T) {
	e := mustNew(t, cfg10s5s)
	id := []byte("sensor-0001")
	e.StartBatch(0)
	e.AddRaw(0, id, 12_000, 1, 1, true)
	e.AddRaw(1, id, 12_000, 1, 1, true)
	e.FinishBatch()
	e.StartBatch(20_000) // evicts [10s,20s): its windows are recycled
	e.FinishBatch()
	e.StartBatch(20_000)
	if n := testing.AllocsPerRun(100, func() {
		e.AddRaw(0, id, 23_000, 1, 1, true) // a known sensor in a new (recycled) window
		e.AddRaw(1, id, 24_000, 2, 2, false)
	}); n != 0 {
		t.Errorf("AddRaw allocated %v times per call for a known sensor", n)
	}
	res := e.FinishBatch()
	if got := res.Update; len(got) != 1 || got[0].Eventos != 202 {
		t.Errorf("update after the loop = %s, want one row of 202 readings", rowsString(got))
	}
}

func TestAddAndAddRawAgree(t *testing.T) {
	a, b := mustNew(t, cfg10s5s), mustNew(t, cfg10s5s)
	a.StartBatch(0)
	b.StartBatch(0)
	buf := []byte("S1")
	for i, ts := range []int64{11_000, 12_000, 23_000, 24_000} {
		buf[1] = byte('1' + i%2)
		temp := float64(i) * 1.1
		a.Add(int32(i%2), Reading{string(buf), ts, temp, 1, i%3 == 0})
		b.AddRaw(int32(i%2), buf, ts, temp, 1, i%3 == 0)
	}
	buf[1] = 'X' // AddRaw must not have kept the slice
	ra, rb := a.FinishBatch(), b.FinishBatch()
	checkRows(t, "AddRaw update", rb.Update, ra.Update)
	if len(ra.Update) != 4 {
		t.Errorf("update has %d rows, want 4", len(ra.Update))
	}
}

// TestMinMaxKeepFirstOfEqual: of equal temperatures (0 and -0 are equal),
// min_temp and max_temp keep the first one folded, within a partition and
// when partitions merge (lower partition first), as Spark's min and max do.
func TestMinMaxKeepFirstOfEqual(t *testing.T) {
	negZero := math.Copysign(0, -1)
	for _, c := range []struct {
		name     string
		add      []in
		wantNeg  bool // the sign of both min_temp and max_temp
		wantRows int64
	}{
		{"0 then -0", []in{{0, "S1", 1000, 0, 50, true}, {0, "S1", 2000, negZero, 50, true}}, false, 2},
		{"-0 then 0", []in{{0, "S1", 1000, negZero, 50, true}, {0, "S1", 2000, 0, 50, true}}, true, 2},
		{"partition 0's 0, partition 1's -0", []in{{1, "S1", 1000, negZero, 50, true}, {0, "S1", 2000, 0, 50, true}}, false, 2},
		{"partition 0's -0, partition 1's 0", []in{{1, "S1", 1000, 0, 50, true}, {0, "S1", 2000, negZero, 50, true}}, true, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := mustNew(t, cfg10s5s)
			e.StartBatch(0)
			for _, r := range c.add {
				e.AddRaw(r.p, []byte(r.id), r.ts, r.temp, r.hum, r.ok)
			}
			rows := e.FinishBatch().Update
			if len(rows) != 1 || rows[0].Eventos != c.wantRows {
				t.Fatalf("update rows: %s", rowsString(rows))
			}
			if got := rows[0]; math.Signbit(got.MinTemp) != c.wantNeg || math.Signbit(got.MaxTemp) != c.wantNeg {
				t.Errorf("min_temp %v, max_temp %v: want both %s", got.MinTemp, got.MaxTemp,
					map[bool]string{false: "0", true: "-0"}[c.wantNeg])
			}
		})
	}
}

// TestUpdateRowsOfLaterBatches: a row changed again in a later batch is in
// that batch's update rows and counted as updated, however its readings
// reach it (AddRaw folds the readings of a window it just used in place).
func TestUpdateRowsOfLaterBatches(t *testing.T) {
	e := mustNew(t, cfg10s5s)
	wm := int64(0)
	for b, want := range []int64{3, 2, 1} {
		e.StartBatch(wm)
		// Batch 0 changes S1, S2 and S3; batch 1, S2 and S1; batch 2, S3.
		ids := [][]string{{"S1", "S2", "S3"}, {"S2", "S1", "S2"}, {"S3"}}[b]
		for i, id := range ids {
			e.AddRaw(0, []byte(id), int64(1000+100*b+i), 20, 50, true)
		}
		res := e.FinishBatch()
		if got := res.Stats.NumRowsUpdated; got != want || int64(len(res.Update)) != want {
			t.Errorf("batch %d: %d rows updated, update rows:\n%swant %d", b, got, rowsString(res.Update), want)
		}
		wm = res.NextWatermark
	}
}
