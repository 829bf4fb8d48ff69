package e2e

import (
	"bytes"
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
)

// The schemas a user of the seed checks, written out here rather than taken
// from the contract, so that a change to the contract cannot pass unnoticed.
var (
	wantBatchColumns = []contract.Column{
		{Name: "sensor_id", Physical: "BYTE_ARRAY", Logical: "STRING"},
		{Name: "total_eventos", Physical: "INT64", Logical: "INT(64,true)"},
		{Name: "avg_temp_global", Physical: "DOUBLE"},
		{Name: "avg_hum_global", Physical: "DOUBLE"},
		{Name: "ok_total", Physical: "INT64", Logical: "INT(64,true)"},
		{Name: "ventanas", Physical: "INT64", Logical: "INT(64,true)"},
	}
	wantWindowColumns = []contract.Column{
		{Name: "win_start", Physical: "INT64", Logical: "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)"},
		{Name: "win_end", Physical: "INT64", Logical: "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)"},
		{Name: "sensor_id", Physical: "BYTE_ARRAY", Logical: "STRING"},
		{Name: "eventos", Physical: "INT64", Logical: "INT(64,true)"},
		{Name: "avg_temp", Physical: "DOUBLE"},
		{Name: "avg_hum", Physical: "DOUBLE"},
		{Name: "ok_count", Physical: "INT64", Logical: "INT(64,true)"},
	}
)

// topicRecords reads every data record of a topic, from its start to its
// current end. With committedOnly it reads as a read_committed consumer
// (Kafka's exactly-once readers) up to the last stable offset.
func topicRecords(t testing.TB, ctx context.Context, brokers []string, topic string, committedOnly bool) []*kgo.Record {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committedOnly {
		iso = kgo.ReadCommitted()
	}
	// Control records (transaction markers) are kept so that every offset up
	// to the end is seen, then dropped.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso), kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var ends kadm.ListedOffsets
	if committedOnly {
		ends, err = adm.ListCommittedOffsets(ctx, topic)
	} else {
		ends, err = adm.ListEndOffsets(ctx, topic)
	}
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	pending := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			pending[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	for len(pending) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: partitions %v not read to their end before the deadline", topic, pending)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := pending[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
			if r.Offset == end-1 {
				delete(pending, r.Partition)
			}
		})
	}
	return out
}

// reference decodes records with the contract's reference decoder.
func reference(recs []*kgo.Record) (valid []contract.Event, invalid map[string]int) {
	invalid = map[string]int{}
	slices.SortStableFunc(recs, func(a, b *kgo.Record) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	now := time.Now().UnixMilli()
	for _, r := range recs {
		ev, err := contract.DecodeEvent(r.Value, now)
		if err != nil {
			invalid[string(contract.ReasonOf(err))]++
			continue
		}
		valid = append(valid, ev)
	}
	return valid, invalid
}

type winKey struct {
	start  int64
	sensor string
}

type winAgg struct {
	n, ok      int64
	sumT, sumH float64
	maxT       float64
}

// closedWindows computes the seed's window aggregates with a plain map and
// keeps the windows whose end the final watermark (max ts − delay) reached.
// It assumes no reading was late, which the tests arrange.
func closedWindows(evs []contract.Event, windowMs, delayMs int64) map[winKey]winAgg {
	all := map[winKey]winAgg{}
	var maxTS int64
	for _, e := range evs {
		maxTS = max(maxTS, e.TS)
		k := winKey{e.TS - e.TS%windowMs, e.SensorID}
		a := all[k]
		if a.n == 0 || e.Temp > a.maxT {
			a.maxT = e.Temp
		}
		a.n++
		a.sumT += e.Temp
		a.sumH += e.Hum
		if e.OK {
			a.ok++
		}
		all[k] = a
	}
	for k := range all {
		if k.start+windowMs > maxTS-delayMs {
			delete(all, k)
		}
	}
	return all
}

// consolidate applies the seed batch job's formulas to window aggregates.
func consolidate(ws map[winKey]winAgg) map[string]contract.BatchRow {
	type acc struct {
		n, ok, wins  int64
		sumAT, sumAH float64
	}
	per := map[string]*acc{}
	for k, w := range ws {
		a := per[k.sensor]
		if a == nil {
			a = &acc{}
			per[k.sensor] = a
		}
		a.n += w.n
		a.ok += w.ok
		a.wins++
		a.sumAT += w.sumT / float64(w.n)
		a.sumAH += w.sumH / float64(w.n)
	}
	out := map[string]contract.BatchRow{}
	for s, a := range per {
		out[s] = contract.BatchRow{SensorID: s, TotalEventos: a.n, AvgTempGlobal: a.sumAT / float64(a.wins),
			AvgHumGlobal: a.sumAH / float64(a.wins), OKTotal: a.ok, Ventanas: a.wins}
	}
	return out
}

// readParquet reads one Parquet object of the lake, returning its rows and
// its columns as a reader sees them.
func readParquet[T any](t testing.TB, ctx context.Context, st lake.Store, key string) ([]T, []contract.Column) {
	t.Helper()
	b, err := st.Get(ctx, key)
	if err != nil {
		t.Fatalf("lake object %s: %v", key, err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s is not Parquet: %v", key, err)
	}
	rows, err := parquet.Read[T](bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return rows, contract.Columns(f.Schema())
}

// sameWindow reports whether a lake row holds the reference aggregate.
func sameWindow(r contract.WindowRow, k winKey, w winAgg, windowMs int64) bool {
	return r.Eventos == w.n && r.OKCount == w.ok && r.WinEnd.UnixMilli() == k.start+windowMs &&
		close9(r.AvgTemp, w.sumT/float64(w.n)) && close9(r.AvgHum, w.sumH/float64(w.n))
}

// checkWindows compares the lake's window rows with the reference.
func checkWindows(t testing.TB, got map[winKey]contract.WindowRow, want map[winKey]winAgg, windowMs int64) {
	t.Helper()
	for k, w := range want {
		r, ok := got[k]
		if !ok {
			t.Fatalf("window (%d, %s) is missing from the lake", k.start, k.sensor)
		}
		if !sameWindow(r, k, w, windowMs) {
			t.Fatalf("window (%d, %s): lake has %+v, reference n=%d ok=%d avg_temp=%v avg_hum=%v",
				k.start, k.sensor, r, w.n, w.ok, w.sumT/float64(w.n), w.sumH/float64(w.n))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("the lake has %d windows, the reference %d", len(got), len(want))
	}
}

// checkBatch checks the batch table (readBatch: its schema through its
// Delta log, its rows from its live files) against the reference. runs is
// how many batcher runs the test made, each of which must be one WRITE
// commit; negative when a batcher ran on an interval too (runs that find
// the stream table unchanged write nothing).
func checkBatch(t testing.TB, ctx context.Context, st lake.Store, want map[string]contract.BatchRow, accepted int64, runs int) {
	t.Helper()
	b := readBatch(t, ctx, st)
	switch {
	case runs >= 0 && b.Writes != runs:
		t.Fatalf("batch table history: %d WRITE commits, the batcher ran %d times", b.Writes, runs)
	case b.Writes == 0:
		t.Fatal("batch table history: no WRITE commit")
	}
	var total int64
	for _, r := range b.Rows {
		w, ok := want[r.SensorID]
		if !ok {
			t.Fatalf("unexpected sensor %q in the batch table", r.SensorID)
		}
		if r.TotalEventos != w.TotalEventos || r.OKTotal != w.OKTotal || r.Ventanas != w.Ventanas ||
			!close9(r.AvgTempGlobal, w.AvgTempGlobal) || !close9(r.AvgHumGlobal, w.AvgHumGlobal) {
			t.Fatalf("sensor %s: batch table has %+v, reference %+v", r.SensorID, r, w)
		}
		total += r.TotalEventos
	}
	if len(b.Rows) != len(want) {
		t.Fatalf("batch table has %d rows, reference %d sensors", len(b.Rows), len(want))
	}
	if total != accepted {
		t.Fatalf("sum(total_eventos) = %d, readings accepted in closed windows = %d", total, accepted)
	}
}

func close9(a, b float64) bool { return math.Abs(a-b) <= 1e-9 }
