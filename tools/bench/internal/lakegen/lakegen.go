// Package lakegen writes a lake as the streamer's Delta sink would after
// many micro-batches: the Delta table stream, partitioned by date, one zstd
// Parquet file of window rows per batch (under stream/date=…/, named by
// contract.StreamFileKey) and one commit per batch (STREAMING UPDATE, the
// file's add with stats, a txn {appId: QueryID, version: batch}; a
// checkpoint every 10 commits), so that the batcher and DuckDB can be timed
// on many small files. LiveFiles lists what a Delta reader reads.
package lakegen

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
)

// QueryID is the streamer query the generated files belong to.
const QueryID = "6b1f0c8e-0000-4000-8000-00000000beef"

// Table is the stream table's root in the lake.
var Table = strings.TrimSuffix(contract.StreamPrefix, "/")

// Spec shapes the lake.
type Spec struct {
	Files          int       // batches, one file each
	Sensors        int       // sensors per window
	WindowsPerFile int       // 10 s windows closed per batch
	Start          time.Time // first window's start
}

// Schema is the stream table's schema, as the streamer writes it: the
// window row's nine columns, then the partition column date.
func Schema() (delta.StructType, error) {
	s, err := delta.SchemaFromParquet(parquet.SchemaOf(contract.WindowRow{}))
	if err != nil {
		return s, err
	}
	s.Fields = append(s.Fields, delta.StructField{Name: "date", Type: delta.Date, Nullable: true})
	return s, nil
}

// Write creates the stream table in store with the spec's files, one commit
// each, and returns the number of window rows written.
func Write(ctx context.Context, store lake.Store, s Spec) (int64, error) {
	tbl := delta.NewTable(store, Table)
	schema, err := Schema()
	if err != nil {
		return 0, fmt.Errorf("lakegen: %w", err)
	}
	md, err := tbl.NewMetadata(schema, []string{"date"}, map[string]string{delta.PropCheckpointInterval: "10"})
	if err != nil {
		return 0, fmt.Errorf("lakegen: %w", err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var total int64
	var buf bytes.Buffer
	var snap *delta.Snapshot
	rows := make([]contract.WindowRow, 0, s.Sensors*s.WindowsPerFile)
	for b := range s.Files {
		rows = rows[:0]
		for w := range s.WindowsPerFile {
			ws := s.Start.Add(time.Duration(b*s.WindowsPerFile+w) * 10 * time.Second)
			for i := range s.Sensors {
				n := int64(20 + rng.IntN(80))
				rows = append(rows, contract.WindowRow{
					WinStart: ws, WinEnd: ws.Add(10 * time.Second), SensorID: fmt.Sprintf("S%03d", i+1),
					Eventos: n, AvgTemp: contract.Round2(18 + 22*rng.Float64()), AvgHum: contract.Round2(35 + 60*rng.Float64()),
					OKCount: n - int64(rng.IntN(3)), MinTemp: 18, MaxTemp: 40,
				})
			}
		}
		// The sink writes one file per window date; keep every batch in one
		// date by construction of Start (callers pick a day start).
		date := contract.PartitionDate(rows[0].WinStart)
		key := contract.StreamFileKey(date, QueryID, int64(b), 0)
		buf.Reset()
		w := parquet.NewGenericWriter[contract.WindowRow](&buf, parquet.Compression(&parquet.Zstd))
		if _, err := w.Write(rows); err != nil {
			return total, fmt.Errorf("lakegen: encode: %w", err)
		}
		if err := w.Close(); err != nil {
			return total, fmt.Errorf("lakegen: encode: %w", err)
		}
		add, err := delta.NewAdd(md, strings.TrimPrefix(key, Table+"/"), delta.PartitionValues{"date": date}, buf.Bytes(), time.Now(), true)
		if err != nil {
			return total, fmt.Errorf("lakegen: %w", err)
		}
		if err := store.Put(ctx, key, buf.Bytes()); err != nil {
			return total, fmt.Errorf("lakegen: %w", err)
		}
		actions := []delta.Action{{Add: &add}, {Txn: &delta.Txn{AppID: QueryID, Version: int64(b)}}}
		if snap == nil {
			actions = append([]delta.Action{{Metadata: &md}}, actions...)
		}
		if _, err := tbl.Commit(ctx, snap, delta.Commit{Operation: delta.StreamingUpdate("Append", QueryID, int64(b)), Actions: actions}); err != nil {
			return total, fmt.Errorf("lakegen: batch %d: %w", b, err)
		}
		if snap == nil {
			snap, err = tbl.Snapshot(ctx)
		} else {
			snap, err = snap.Update(ctx)
		}
		if err != nil {
			return total, fmt.Errorf("lakegen: %w", err)
		}
		total += int64(len(rows))
	}
	return total, nil
}

// LiveFiles returns the local paths of the live data files of the latest
// snapshot of the stream table of the file lake at dir: what a Delta reader
// reads (a directory listing would also find files OPTIMIZE removed).
func LiveFiles(ctx context.Context, store lake.Store, dir string) ([]string, int64, error) {
	tbl := delta.NewTable(store, Table)
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("lakegen: %w", err)
	}
	paths := make([]string, 0, snap.NumFiles())
	for _, f := range snap.Files() {
		key, err := tbl.DataKey(f.Path)
		if err != nil {
			return nil, 0, fmt.Errorf("lakegen: %w", err)
		}
		paths = append(paths, filepath.Join(dir, filepath.FromSlash(key)))
	}
	return paths, snap.Version(), nil
}
