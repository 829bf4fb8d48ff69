// Package streamtest writes the lake's stream Delta table as the streamer
// does, for the batcher's tests: window rows partitioned by date (a date
// column), one zstd Parquet file per date and micro-batch, each
// micro-batch one commit (STREAMING UPDATE) with its adds, their stats and
// a txn {appId: query id, version: batch id}; the first commit creates the
// table (metaData, the lowest protocol). Only tests import it.
package streamtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
)

// Root is the stream table's root in the lake.
const Root = "stream"

// Schema is the stream table's schema: the window row's nine columns and
// the partition column date.
func Schema() (delta.StructType, error) {
	s, err := delta.SchemaFromParquet(parquet.SchemaOf(contract.WindowRow{}))
	if err != nil {
		return s, err
	}
	s.Fields = append(s.Fields, delta.StructField{Name: "date", Type: delta.Date, Nullable: true})
	return s, nil
}

// Writer appends micro-batches of one streaming query to the stream table.
// It is not safe for concurrent use; concurrent writers each have one.
type Writer struct {
	Store   lake.Store
	Table   *delta.Table
	QueryID string
	snap    *delta.Snapshot // the latest this writer knows; nil before the table exists
	pending *delta.Metadata // the first commit's metadata, before it is committed
}

// New returns a writer of query queryID on store's stream table.
func New(store lake.Store, queryID string, opts ...delta.Option) *Writer {
	return &Writer{Store: store, Table: delta.NewTable(store, Root, opts...), QueryID: queryID}
}

// FileName is the name of the seq-th file batch batchID of the query
// writes: deterministic, as the streamer's.
func (w *Writer) FileName(batchID int64, seq int) string {
	return fmt.Sprintf("part-%05d-%010d-%s.c000.zstd.parquet", seq, batchID, w.QueryID[:min(8, len(w.QueryID))])
}

// Encode returns rows as a window data file.
func Encode(rows []contract.WindowRow) ([]byte, error) {
	var buf bytes.Buffer
	pw := parquet.NewGenericWriter[contract.WindowRow](&buf, parquet.Compression(&parquet.Zstd))
	if _, err := pw.Write(rows); err != nil {
		return nil, err
	}
	if err := pw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Add writes data as the data file rel (relative to the table root) of the
// partition date and returns its add action, with stats (delta.NewAdd).
func (w *Writer) Add(ctx context.Context, md delta.Metadata, rel, date string, data []byte) (delta.Add, error) {
	add, err := delta.NewAdd(md, rel, delta.PartitionValues{"date": date}, data, time.Now(), true)
	if err != nil {
		return delta.Add{}, err
	}
	return add, w.Store.Put(ctx, Root+"/"+rel, data)
}

// Metadata returns the table's metadata: the latest snapshot's, or for a
// table not created yet the one its first commit will write.
func (w *Writer) Metadata(ctx context.Context) (delta.Metadata, error) {
	if w.snap == nil && w.pending == nil {
		snap, err := w.Table.Snapshot(ctx)
		switch {
		case err == nil:
			w.snap = snap
		case !isNotATable(err):
			return delta.Metadata{}, err
		default:
			schema, err := Schema()
			if err != nil {
				return delta.Metadata{}, err
			}
			md, err := w.Table.NewMetadata(schema, []string{"date"}, nil)
			if err != nil {
				return delta.Metadata{}, err
			}
			w.pending = &md
		}
	}
	if w.pending != nil {
		return *w.pending, nil
	}
	return w.snap.Metadata(), nil
}

// Append commits micro-batch batchID: one file per date of rows, and the
// txn. It returns the version committed.
func (w *Writer) Append(ctx context.Context, batchID int64, rows []contract.WindowRow) (int64, error) {
	md, err := w.Metadata(ctx)
	if err != nil {
		return 0, err
	}
	byDate := map[string][]contract.WindowRow{}
	for _, r := range rows {
		d := contract.PartitionDate(r.WinStart)
		byDate[d] = append(byDate[d], r)
	}
	dates := make([]string, 0, len(byDate))
	for d := range byDate {
		dates = append(dates, d)
	}
	slices.Sort(dates)
	var adds []delta.Add
	for seq, d := range dates {
		data, err := Encode(byDate[d])
		if err != nil {
			return 0, err
		}
		add, err := w.Add(ctx, md, "date="+d+"/"+w.FileName(batchID, seq), d, data)
		if err != nil {
			return 0, err
		}
		adds = append(adds, add)
	}
	return w.Commit(ctx, batchID, adds...)
}

// Commit commits micro-batch batchID with adds (the first commit creates
// the table) and returns the version committed.
func (w *Writer) Commit(ctx context.Context, batchID int64, adds ...delta.Add) (int64, error) {
	if _, err := w.Metadata(ctx); err != nil {
		return 0, err
	}
	var actions []delta.Action
	if w.pending != nil {
		actions = append(actions, delta.Action{Metadata: w.pending})
	}
	for _, a := range adds {
		actions = append(actions, delta.Action{Add: &a})
	}
	actions = append(actions, delta.Action{Txn: &delta.Txn{AppID: w.QueryID, Version: batchID}})
	res, err := w.Table.Commit(ctx, w.snap, delta.Commit{Operation: delta.StreamingUpdate("Append", w.QueryID, batchID), Actions: actions})
	if err != nil {
		return 0, err
	}
	w.pending = nil
	if w.snap == nil {
		w.snap, err = w.Table.Snapshot(ctx)
	} else {
		w.snap, err = w.snap.Update(ctx)
	}
	if err != nil {
		return 0, err
	}
	return res.Version, nil
}

func isNotATable(err error) bool { return errors.Is(err, delta.ErrNotATable) }

// MustAppend is Append for a test's own goroutine.
func (w *Writer) MustAppend(t testing.TB, batchID int64, rows []contract.WindowRow) int64 {
	t.Helper()
	v, err := w.Append(context.Background(), batchID, rows)
	if err != nil {
		t.Fatalf("append batch %d: %v", batchID, err)
	}
	return v
}

// Windows returns n window rows of sensor: 10 s tumbling windows from
// start, temperatures temp, temp+1, ..., humidities hum, hum-1, ...
func Windows(sensor string, start time.Time, n int, eventos int64, temp, hum float64, ok int64) []contract.WindowRow {
	out := make([]contract.WindowRow, n)
	for i := range out {
		ws := start.Add(time.Duration(i) * 10 * time.Second)
		out[i] = contract.WindowRow{
			WinStart: ws, WinEnd: ws.Add(10 * time.Second), SensorID: sensor,
			Eventos: eventos, AvgTemp: temp + float64(i), AvgHum: hum - float64(i), OKCount: ok,
			MinTemp: temp - 1, MaxTemp: temp + 1,
		}
	}
	return out
}
