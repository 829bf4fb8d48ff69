package delta_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
)

// clock is a test clock: each call returns the current time, then moves it
// on by step.
type clock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func newClock(start time.Time, step time.Duration) *clock { return &clock{now: start, step: step} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.step)
	return t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// seqIDs returns deterministic UUID-shaped ids.
func seqIDs() func() string {
	var mu sync.Mutex
	n := 0
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
	}
}

// fileStore opens a file store in a fresh directory and returns its root.
func fileStore(t *testing.T) (lake.Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := lake.Open(t.Context(), "file://"+dir, lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// windowSchema is the stream table's schema: the window row's columns and
// the partition column date.
func windowSchema(t *testing.T) delta.StructType {
	t.Helper()
	s, err := delta.SchemaFromParquet(parquet.SchemaOf(contract.WindowRow{}))
	if err != nil {
		t.Fatal(err)
	}
	s.Fields = append(s.Fields, delta.StructField{Name: "date", Type: delta.Date, Nullable: true})
	return s
}

// writeLog writes hand-made log files (name -> lines) under table root.
func writeLog(t *testing.T, s lake.Store, root string, files map[string][]string) {
	t.Helper()
	for name, lines := range files {
		if err := s.Put(t.Context(), root+"/_delta_log/"+name, []byte(strings.Join(lines, "\n")+"\n")); err != nil {
			t.Fatal(err)
		}
	}
}

func commitName(v int64) string { return fmt.Sprintf("%020d.json", v) }

// setModTime sets a log file's modification time on a file store.
func setModTime(t *testing.T, dir, root string, name string, tm time.Time) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(root), "_delta_log", name)
	if err := os.Chtimes(p, tm, tm); err != nil {
		t.Fatal(err)
	}
}

// windowFile writes a Parquet file of window rows to the store and returns
// the add action for it, with stats from its footer.
func windowFile(t *testing.T, s lake.Store, tbl *delta.Table, md delta.Metadata, rel string, rows []contract.WindowRow, date string) delta.Add {
	t.Helper()
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows); err != nil {
		t.Fatal(err)
	}
	key, err := tbl.DataKey(delta.EncodePath(rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), key, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	st, err := delta.StatsFromParquet(f, md)
	if err != nil {
		t.Fatal(err)
	}
	js, err := st.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return delta.Add{Path: delta.EncodePath(rel), PartitionValues: delta.PartitionValues{"date": date},
		Size: int64(buf.Len()), ModificationTime: 1732200000000, DataChange: true, Stats: js}
}

// simpleAdd is an add of a file that need not exist (the log does not care).
func simpleAdd(path, date string, size int64) delta.Add {
	return delta.Add{Path: delta.EncodePath(path), PartitionValues: delta.PartitionValues{"date": date},
		Size: size, ModificationTime: 1732200000000, DataChange: true,
		Stats: `{"numRecords":1}`}
}

func paths(adds []delta.Add) []string {
	out := make([]string, len(adds))
	for i, a := range adds {
		out[i] = a.Path
	}
	return out
}

func mustSnapshot(t *testing.T, tbl *delta.Table) *delta.Snapshot {
	t.Helper()
	s, err := tbl.Snapshot(t.Context())
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return s
}

func p[T any](v T) *T { return &v }

var t0 = time.Date(2024, 11, 21, 10, 0, 0, 0, time.UTC)
