package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
)

// wr builds an expected window row over [startMs, endMs).
func wr(startMs, endMs int64, id string, n int64, avgT, avgH float64, ok int64, minT, maxT float64) contract.WindowRow {
	return contract.WindowRow{
		WinStart: time.UnixMilli(startMs).UTC(), WinEnd: time.UnixMilli(endMs).UTC(),
		SensorID: id, Eventos: n, AvgTemp: avgT, AvgHum: avgH, OKCount: ok, MinTemp: minT, MaxTemp: maxT,
	}
}

// step is one micro-batch of a table test and what it must produce.
type step struct {
	wm       int64
	add      []in
	verdicts []Verdict // Offer's verdict per reading; nil: all Folded
	late     int64
	dups     int64
	append   []contract.WindowRow
	update   []contract.WindowRow
	complete []contract.WindowRow // checked only when the config retains all; else Complete must be nil
	events   []contract.Alert
	next     int64
	noData   bool
	rows     int64 // NumRowsTotal after the batch; -1: not checked
}

// runSteps feeds the steps to a new engine of cfg and checks every result.
func runSteps(t *testing.T, cfg Config, steps []step) *Engine {
	t.Helper()
	e := mustNew(t, cfg)
	for i, b := range steps {
		e.StartBatch(b.wm)
		for j, r := range b.add {
			want := Folded
			if b.verdicts != nil {
				want = b.verdicts[j]
			}
			if got := e.Offer(r.p, Reading{r.id, r.ts, r.temp, r.hum, r.ok}); got != want {
				t.Errorf("batch %d: Offer(%+v) = %v, want %v", i, r, got, want)
			}
		}
		res := e.FinishBatch()
		checkRows(t, fmt.Sprintf("batch %d append", i), res.Append, b.append)
		checkRows(t, fmt.Sprintf("batch %d update", i), res.Update, b.update)
		if cfg.RetainAll {
			checkRows(t, fmt.Sprintf("batch %d complete", i), res.Complete, b.complete)
		} else if res.Complete != nil {
			t.Errorf("batch %d: Complete has %d rows without RetainAll", i, len(res.Complete))
		}
		if g, w := fmt.Sprint(res.Events), fmt.Sprint(b.events); g != w {
			t.Errorf("batch %d events:\ngot  %s\nwant %s", i, g, w)
		}
		if res.NextWatermark != b.next || res.NeedsNoDataBatch != b.noData {
			t.Errorf("batch %d: NextWatermark, NeedsNoDataBatch = %d, %v; want %d, %v",
				i, res.NextWatermark, res.NeedsNoDataBatch, b.next, b.noData)
		}
		if st := res.Stats; st.NumRowsDroppedByWatermark != b.late || st.NumDuplicatesDropped != b.dups {
			t.Errorf("batch %d: late, duplicates = %d, %d; want %d, %d", i, st.NumRowsDroppedByWatermark, st.NumDuplicatesDropped, b.late, b.dups)
		}
		if b.rows >= 0 && res.Stats.NumRowsTotal != b.rows {
			t.Errorf("batch %d: NumRowsTotal = %d, want %d", i, res.Stats.NumRowsTotal, b.rows)
		}
	}
	return e
}

func (v Verdict) String() string {
	switch v {
	case Folded:
		return "Folded"
	case Late:
		return "Late"
	case Duplicate:
		return "Duplicate"
	}
	return fmt.Sprintf("Verdict(%d)", uint8(v))
}

// Sliding windows of 10s every 5s, watermark delay 5s. A reading at t is in
// the windows starting at t - t mod 5s and 5s before.
func TestSlidingWindows(t *testing.T) {
	cfg := Config{Window: 10 * time.Second, Slide: 5 * time.Second, Watermark: 5 * time.Second}
	var (
		s1a = wr(0, 10_000, "S1", 1, 20, 50, 0, 20, 20)               // 7s
		s1b = wr(5_000, 15_000, "S1", 2, 15, 45, 1, 10, 20)           // 12s, 7s
		s2b = wr(5_000, 15_000, "S2", 1, 5, 60, 1, 5, 5)              // 14s
		s1c = wr(10_000, 20_000, "S1", 1, 10, 40, 1, 10, 10)          // 12s
		s2c = wr(10_000, 20_000, "S2", 1, 5, 60, 1, 5, 5)             // 14s
		s1d = wr(15_000, 25_000, "S1", 1, 30, 30, 1, 30, 30)          // 21s
		s1e = wr(20_000, 30_000, "S1", 1, 30, 30, 1, 30, 30)          // 21s
		all = []contract.WindowRow{s1a, s1b, s2b, s1c, s2c, s1d, s1e} // sorted
	)
	steps := []step{
		{
			wm: 0,
			add: []in{
				{0, "S1", 12_000, 10, 40, true},
				{0, "S1", 7_000, 20, 50, false}, // out of order: windows [0,10s) and [5s,15s)
				{1, "S2", 14_000, 5, 60, true},
			},
			update:   []contract.WindowRow{s1a, s1b, s2b, s1c, s2c},
			complete: []contract.WindowRow{s1a, s1b, s2b, s1c, s2c},
			next:     9_000, rows: 5, // [0,10s) closes at 10s > 9s: no no-data batch
		},
		{
			wm:       9_000,
			add:      []in{{0, "S1", 9_000, 99, 99, true}, {0, "S1", 21_000, 30, 30, true}},
			verdicts: []Verdict{Late, Folded}, late: 1,
			update:   []contract.WindowRow{s1d, s1e},
			complete: all,
			next:     16_000, noData: true, rows: 7,
		},
		{ // the no-data batch closes the windows ending at or before 16s
			wm:     16_000,
			append: []contract.WindowRow{s1a, s1b, s2b}, complete: all,
			next: 16_000, rows: 4,
		},
		{wm: 25_000, append: []contract.WindowRow{s1c, s2c, s1d}, complete: all, next: 25_000, rows: 1},
		{wm: 30_000, append: []contract.WindowRow{s1e}, complete: all, next: 30_000, rows: 0},
		{wm: 40_000, complete: all, next: 40_000, rows: 0}, // each window is appended once
	}
	t.Run("append and update", func(t *testing.T) { runSteps(t, cfg, steps) })

	// Complete mode: the same Append and Update, the whole table every
	// batch, and nothing evicted.
	cfg.RetainAll = true
	kept := []int64{5, 7, 7, 7, 7, 7}
	for i := range steps {
		steps[i].rows = kept[i]
	}
	t.Run("complete", func(t *testing.T) { runSteps(t, cfg, steps) })
}

func TestTumblingCompleteMode(t *testing.T) {
	cfg := Config{Window: 10 * time.Second, Watermark: 5 * time.Second, RetainAll: true}
	a := row10(10_000, "S1", 2, 15, 15, 1, 10, 20)
	a2 := row10(10_000, "S1", 3, 20, 20, 2, 10, 30)
	b := row10(20_000, "S2", 1, 7, 7, 1, 7, 7)
	runSteps(t, cfg, []step{
		{wm: 0, add: []in{{0, "S1", 11_000, 10, 10, true}, {1, "S1", 12_000, 20, 20, false}},
			update: []contract.WindowRow{a}, complete: []contract.WindowRow{a}, next: 7_000, rows: 2},
		{wm: 7_000, add: []in{{1, "S1", 13_000, 30, 30, true}, {0, "S2", 26_000, 7, 7, true}},
			update: []contract.WindowRow{a2, b}, complete: []contract.WindowRow{a2, b}, next: 21_000, noData: true, rows: 3},
		{wm: 21_000, add: []in{{0, "S1", 19_000, 1, 1, true}}, verdicts: []Verdict{Late}, late: 1,
			append: []contract.WindowRow{a2}, complete: []contract.WindowRow{a2, b}, next: 21_000, rows: 3},
		{wm: 21_000, complete: []contract.WindowRow{a2, b}, next: 21_000, rows: 3}, // appended once only
		{wm: 35_000, append: []contract.WindowRow{b}, complete: []contract.WindowRow{a2, b}, next: 35_000, rows: 3},
	})
}

// Session windows with a 5s gap, watermark delay 20s.
func TestSessionWindows(t *testing.T) {
	cfg := Config{SessionGap: 5 * time.Second, Watermark: 20 * time.Second}
	var (
		// S1's readings at 10s and 12s: one session, ends at 12s + 5s.
		s1a = wr(10_000, 17_000, "S1", 2, 15, 55, 1, 10, 20)
		s1b = wr(30_000, 35_000, "S1", 1, 30, 70, 1, 30, 30)
		s2a = wr(11_000, 16_000, "S2", 1, 5, 10, 1, 5, 5)
		// 16s extends s1a; 25s opens a session; 20.5s bridges both: one
		// session 10s..25s, ending at 30s. It does not merge with the one
		// starting at 30s: their readings are exactly a gap apart.
		s1ab = wr(10_000, 30_000, "S1", 5, 20, 36, 3, 0, 40)
		// S2's 11s (partition 0) and 14s (partition 1) merge at emission.
		s2ab = wr(11_000, 19_000, "S2", 2, 10, 15, 2, 5, 15)
		s1c  = wr(50_000, 55_000, "S1", 1, 50, 50, 1, 50, 50)
		// 31s in partition 1 joins the session at 30s in partition 0.
		s1bc = wr(30_000, 36_000, "S1", 2, 20, 40, 1, 10, 30)
	)
	steps := []step{
		{
			wm: 0,
			add: []in{
				{0, "S1", 10_000, 10, 50, true},
				{0, "S1", 12_000, 20, 60, false},
				{0, "S1", 30_000, 30, 70, true},
				{0, "S2", 11_000, 5, 10, true},
			},
			update:   []contract.WindowRow{s1a, s2a, s1b},
			complete: []contract.WindowRow{s1a, s2a, s1b},
			next:     10_000, rows: 3,
		},
		{
			wm: 10_000,
			add: []in{
				{0, "S1", 16_000, 40, 40, true},
				{0, "S1", 25_000, 0, 0, false},
				{0, "S1", 20_500, 30, 30, true},
				{0, "S2", 9_000, 1, 1, true},
			},
			verdicts: []Verdict{Folded, Folded, Folded, Late}, late: 1,
			update:   []contract.WindowRow{s1ab},
			complete: []contract.WindowRow{s1ab, s2a, s1b},
			next:     10_000, rows: 3,
		},
		{
			wm:       10_000,
			add:      []in{{1, "S2", 14_000, 15, 20, true}, {1, "S1", 50_000, 50, 50, true}},
			update:   []contract.WindowRow{s2ab, s1c},
			complete: []contract.WindowRow{s1ab, s2ab, s1b, s1c},
			next:     30_000, noData: true, rows: 5,
		},
		{
			wm:       30_000,
			add:      []in{{1, "S1", 31_000, 10, 10, false}, {1, "S1", 29_000, 1, 1, true}},
			verdicts: []Verdict{Folded, Late}, late: 1,
			append:   []contract.WindowRow{s1ab, s2ab},
			update:   []contract.WindowRow{s1bc},
			complete: []contract.WindowRow{s1ab, s2ab, s1bc, s1c},
			next:     30_000, rows: 3,
		},
		{wm: 40_000, append: []contract.WindowRow{s1bc}, complete: []contract.WindowRow{s1ab, s2ab, s1bc, s1c}, next: 40_000, rows: 1},
		{wm: 55_000, append: []contract.WindowRow{s1c}, complete: []contract.WindowRow{s1ab, s2ab, s1bc, s1c}, next: 55_000, rows: 0},
	}
	t.Run("append and update", func(t *testing.T) { runSteps(t, cfg, steps) })

	cfg.RetainAll = true
	kept := []int64{3, 3, 5, 6, 6, 6}
	for i := range steps {
		steps[i].rows = kept[i]
	}
	t.Run("complete", func(t *testing.T) { runSteps(t, cfg, steps) })
}

// A session that is closed in one partition but bridged by an open session
// of another partition is not emitted until the whole merged session closes.
func TestSessionClosesOnlyWhenAllPartitionsDo(t *testing.T) {
	cfg := Config{SessionGap: 5 * time.Second, Watermark: 2 * time.Second}
	runSteps(t, cfg, []step{
		{wm: 0, add: []in{{0, "S1", 10_000, 1, 1, true}, {1, "S1", 14_000, 3, 3, true}},
			update: []contract.WindowRow{wr(10_000, 19_000, "S1", 2, 2, 2, 2, 1, 3)}, next: 12_000, rows: 2},
		// Partition 0's session alone would end at 15s <= 16s; the merged one ends at 19s.
		{wm: 16_000, next: 16_000, rows: 2},
		{wm: 19_000, append: []contract.WindowRow{wr(10_000, 19_000, "S1", 2, 2, 2, 2, 1, 3)}, next: 19_000, rows: 0},
	})
}

func TestDedupWithinWatermark(t *testing.T) {
	cfg := Config{Window: 10 * time.Second, Watermark: 5 * time.Second, Dedup: true}
	e := runSteps(t, cfg, []step{
		{
			wm: 0,
			add: []in{
				{0, "S1", 12_000, 10, 10, true},
				{0, "S1", 12_000, 99, 99, true}, // same key: dropped whatever its values
				{1, "S1", 12_000, 77, 77, true}, // in another partition too
				{0, "S2", 12_000, 5, 5, true},   // another sensor: its own key
				{0, "S1", 13_000, 20, 20, false},
			},
			verdicts: []Verdict{Folded, Duplicate, Duplicate, Folded, Folded}, dups: 2,
			update: []contract.WindowRow{row10(10_000, "S1", 2, 15, 15, 1, 10, 20), row10(10_000, "S2", 1, 5, 5, 1, 5, 5)},
			next:   8_000, rows: 2,
		},
		{
			wm:       8_000,
			add:      []in{{1, "S1", 12_000, 1, 1, true}, {0, "S1", 14_000, 30, 30, true}},
			verdicts: []Verdict{Duplicate, Folded}, dups: 1, // still above the watermark: still a duplicate
			update: []contract.WindowRow{row10(10_000, "S1", 3, 20, 20, 2, 10, 30)},
			next:   9_000, rows: 2,
		},
		{
			wm:       13_000,
			add:      []in{{0, "S1", 12_000, 1, 1, true}, {0, "S1", 13_000, 1, 1, true}},
			verdicts: []Verdict{Late, Late}, late: 2, // at or below the watermark: late, not duplicates
			next: 13_000, rows: 2,
		},
		{wm: 20_000, append: []contract.WindowRow{row10(10_000, "S1", 3, 20, 20, 2, 10, 30), row10(10_000, "S2", 1, 5, 5, 1, 5, 5)},
			next: 20_000, rows: 0},
	})
	if e.nDedup != 0 {
		t.Errorf("%d dedup keys left after the watermark passed them all", e.nDedup)
	}
	// Add reports only lateness: a duplicate is not late data.
	e.StartBatch(20_000)
	if !e.Add(0, Reading{"S1", 30_000, 1, 1, true}) || !e.Add(0, Reading{"S1", 30_000, 1, 1, true}) || e.Add(0, Reading{"S1", 20_000, 1, 1, true}) {
		t.Error("Add should return true for a new reading and a duplicate, false for a late one")
	}
	if st := e.FinishBatch().Stats; st.NumDuplicatesDropped != 1 || st.NumDedupKeys != 1 || st.NumRowsDroppedByWatermark != 1 {
		t.Errorf("stats %+v: want 1 duplicate, 1 key, 1 late", st)
	}
}

func TestDedupKeysEvictedByWatermark(t *testing.T) {
	e := mustNew(t, Config{Window: 10 * time.Second, Watermark: 5 * time.Second, Dedup: true})
	wm := int64(0)
	keys := []int64{}
	for b := range 4 {
		e.StartBatch(wm)
		for i := range 100 {
			// Out of order within the batch, in two partitions.
			e.Add(int32(i%2), Reading{fmt.Sprintf("S%d", i%3), int64(b*10_000 + 10_000 - i*100), 1, 1, true})
		}
		res := e.FinishBatch()
		keys = append(keys, res.Stats.NumDedupKeys)
		wm = res.NextWatermark
	}
	// Each batch adds 100 keys over 10s; the watermark trails the max by 5s,
	// and FinishBatch evicts those at or below the batch's own watermark.
	want := []int64{100, 150, 150, 150}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Errorf("dedup keys after each batch = %v, want %v", keys, want)
	}
}

func TestSilenceTimeouts(t *testing.T) {
	cfg := Config{Window: time.Minute, Watermark: 5 * time.Second, SilenceTimeout: 10 * time.Second}
	silent := func(id string, last int64) contract.Alert {
		return contract.Alert{Type: contract.AlertSilent, SensorID: id, TS: last + 10_000, LastSeen: last}
	}
	recovered := func(id string, ts, last int64) contract.Alert {
		return contract.Alert{Type: contract.AlertRecovered, SensorID: id, TS: ts, LastSeen: last}
	}
	e := mustNew(t, cfg)
	type batch struct {
		wm          int64
		add         []in
		events      []contract.Alert
		next        int64
		noData      bool
		keys, quiet int64
	}
	for i, b := range []batch{
		{wm: 0, add: []in{{0, "S1", 10_000, 1, 1, true}, {0, "S2", 12_000, 1, 1, true}, {1, "S3", 30_000, 1, 1, true}, {1, "S4", 10_000, 1, 1, true}},
			// The 1m window stays open: the no-data batch is for the timeouts due at 20s and 22s.
			next: 25_000, noData: true, keys: 4},
		{wm: 25_000, add: []in{{0, "S1", 24_000, 1, 1, true}, {0, "S2", 26_000, 1, 1, true}},
			// S1's reading is late: it does not recover S1. Ties in TS go by sensor id.
			events: []contract.Alert{silent("S1", 10_000), silent("S4", 10_000), silent("S2", 12_000), recovered("S2", 26_000, 12_000)},
			next:   25_000, keys: 4, quiet: 2},
		{wm: 25_000, add: []in{{1, "S1", 45_000, 1, 1, true}},
			events: []contract.Alert{recovered("S1", 45_000, 10_000)},
			next:   40_000, noData: true, keys: 4, quiet: 1},
		{wm: 40_000,
			events: []contract.Alert{silent("S2", 26_000), silent("S3", 30_000)},
			next:   40_000, keys: 4, quiet: 3},
		{wm: 60_000, events: []contract.Alert{silent("S1", 45_000)}, next: 60_000, keys: 4, quiet: 4},
		{wm: 70_000, next: 70_000, keys: 4, quiet: 4}, // a silent sensor is reported once
	} {
		e.StartBatch(b.wm)
		for _, r := range b.add {
			e.Add(r.p, Reading{r.id, r.ts, r.temp, r.hum, r.ok})
		}
		res := e.FinishBatch()
		if g, w := fmt.Sprint(res.Events), fmt.Sprint(b.events); g != w {
			t.Errorf("batch %d events:\ngot  %s\nwant %s", i, g, w)
		}
		if res.NextWatermark != b.next || res.NeedsNoDataBatch != b.noData {
			t.Errorf("batch %d: NextWatermark, NeedsNoDataBatch = %d, %v; want %d, %v", i, res.NextWatermark, res.NeedsNoDataBatch, b.next, b.noData)
		}
		if res.Stats.NumTimeoutKeys != b.keys || res.Stats.NumSilentSensors != b.quiet {
			t.Errorf("batch %d: timeout keys, silent = %d, %d; want %d, %d", i, res.Stats.NumTimeoutKeys, res.Stats.NumSilentSensors, b.keys, b.quiet)
		}
	}
}

func TestConfigValidateKinds(t *testing.T) {
	for _, ok := range []Config{
		{Window: 30 * time.Second, Slide: 10 * time.Second},
		{Window: 10 * time.Second, Slide: 10 * time.Second}, // tumbling
		{SessionGap: 30 * time.Second, Watermark: time.Minute, Dedup: true, RetainAll: true, SilenceTimeout: time.Minute},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("Validate(%v) = %v, want nil", ok, err)
		}
	}
	tests := []struct {
		cfg  Config
		want []string
	}{
		{Config{Window: 30 * time.Second, Slide: 7 * time.Second}, []string{"slide 7s: the window length 30s must be a multiple of it"}},
		{Config{Window: 10 * time.Second, Slide: 20 * time.Second}, []string{"slide 20s: must be <= the window length 10s"}},
		{Config{Window: 10 * time.Second, SessionGap: 5 * time.Second}, []string{"session windows take no window length or slide"}},
		// Every problem at once.
		{Config{Window: 10 * time.Second, Slide: -time.Second, SilenceTimeout: time.Microsecond, Watermark: -1},
			[]string{"slide -1s: must be >= 0", "silence timeout 1µs: must be whole milliseconds", "watermark delay -1ns"}},
		{Config{SessionGap: -time.Second}, []string{"session gap -1s: must be >= 0"}},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if err == nil {
			t.Errorf("Validate(%v) = nil, want an error", tt.cfg)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Validate(%v) = %q, want it to mention %q", tt.cfg, err, w)
			}
		}
	}
}

// The hot path stays allocation-free for every kind and option once the
// state's slices have grown: a known sensor in known windows or sessions.
func TestOfferRawDoesNotAllocateAnyKind(t *testing.T) {
	for _, cfg := range []Config{
		{Window: 30 * time.Second, Slide: 10 * time.Second, Watermark: 5 * time.Second, Dedup: true, SilenceTimeout: time.Minute},
		{SessionGap: 30 * time.Second, Watermark: 5 * time.Second, Dedup: true, SilenceTimeout: time.Minute},
		{Window: 10 * time.Second, Watermark: 5 * time.Second, Dedup: true, RetainAll: true},
	} {
		e := mustNew(t, cfg)
		id := []byte("sensor-0001")
		// Grow the dedup keys' capacity, then let the watermark evict them.
		e.StartBatch(0)
		for ts := int64(100_001); ts <= 100_400; ts++ {
			e.OfferRaw(int32(ts%2), id, ts, 1, 1, true)
		}
		e.FinishBatch()
		e.StartBatch(100_400)
		ts := int64(100_401)
		if n := testing.AllocsPerRun(100, func() {
			e.OfferRaw(0, id, ts, 1, 1, true)
			e.OfferRaw(1, id, ts, 1, 1, true) // a duplicate
			ts++
		}); n != 0 {
			t.Errorf("%v: OfferRaw allocated %v times per call", cfg, n)
		}
		if st := e.FinishBatch().Stats; st.NumDuplicatesDropped != 101 || st.NumDedupKeys != 101 {
			t.Errorf("%v: %d duplicates, %d keys; want 101 and 101", cfg, st.NumDuplicatesDropped, st.NumDedupKeys)
		}
	}
}
