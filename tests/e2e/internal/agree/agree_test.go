package agree_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/tests/e2e/internal/agree"
	"github.com/sensorlab/sensorlab/tests/e2e/internal/deltaread"
)

// The comparison the end-to-end tests rely on must see every kind of
// difference: each case changes one thing in the independent reader's
// snapshot of a table and expects Diff to name it.
func TestDiffSeesEveryDifference(t *testing.T) {
	ctx := t.Context()
	st, err := lake.Open(ctx, "file://"+t.TempDir(), lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	tbl := delta.NewTable(st, "t")
	schema := delta.StructType{Fields: []delta.StructField{{Name: "id", Type: delta.Long}, {Name: "date", Type: delta.Date, Nullable: true}}}
	md, err := tbl.NewMetadata(schema, []string{"date"}, map[string]string{"owner": "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	add := func(path, date string) delta.Action {
		return delta.Action{Add: &delta.Add{Path: path, PartitionValues: delta.PartitionValues{"date": date}, Size: 100,
			ModificationTime: 1732200000000, DataChange: true, Stats: `{"numRecords":3,"minValues":{"id":1},"maxValues":{"id":9},"nullCount":{"id":0}}`}}
	}
	res, err := tbl.Commit(ctx, nil, delta.Commit{Operation: delta.Write("ErrorIfExists", []string{"date"}),
		Actions: []delta.Action{{Metadata: &md}, add("date=2024-11-21/a.parquet", "2024-11-21")}})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := tbl.SnapshotAt(ctx, res.Version)
	if err != nil {
		t.Fatal(err)
	}
	r := delta.RemoveOf(snap.Files()[0], time.Now(), true)
	if _, err := tbl.Commit(ctx, snap, delta.Commit{Operation: delta.StreamingUpdate("Append", "q", 7),
		Actions: []delta.Action{add("date=2024-11-22/b%20c.parquet", "2024-11-22"), {Remove: &r}, {Txn: &delta.Txn{AppID: "q", Version: 7}}}}); err != nil {
		t.Fatal(err)
	}
	theirs, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	read := func() *deltaread.Snapshot {
		s, err := deltaread.Latest(ctx, st, "t")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if d := agree.Diff(read(), theirs, "t"); len(d) > 0 {
		t.Fatalf("the same table: %v", d)
	}
	const live = "date=2024-11-22/b%20c.parquet"
	cases := []struct {
		name   string
		change func(s *deltaread.Snapshot)
		want   string
	}{
		{"version", func(s *deltaread.Snapshot) { s.Version++ }, "version"},
		{"a live file missing", func(s *deltaread.Snapshot) { delete(s.Files, live) }, "live for lake/delta only"},
		{"a tombstone live", func(s *deltaread.Snapshot) {
			s.Files["date=2024-11-21/a.parquet"] = deltaread.File{Path: "date=2024-11-21/a.parquet"}
		}, "live for deltaread only"},
		{"partition value", func(s *deltaread.Snapshot) {
			f := s.Files[live]
			f.PartitionValues = map[string]string{"date": "2024-11-23"}
			s.Files[live] = f
		}, "partition values"},
		{"size", func(s *deltaread.Snapshot) { f := s.Files[live]; f.Size++; s.Files[live] = f }, "size"},
		{"stats", func(s *deltaread.Snapshot) { f := s.Files[live]; f.Stats.NumRecords++; s.Files[live] = f }, "numRecords"},
		{"decoded key", func(s *deltaread.Snapshot) { f := s.Files[live]; f.Key = live; s.Files[live] = f }, "key"},
		{"tombstone", func(s *deltaread.Snapshot) { clear(s.Tombstones) }, "tombstone"},
		{"txn", func(s *deltaread.Snapshot) { s.Txns["q"] = 6 }, "txns"},
		{"schema", func(s *deltaread.Snapshot) { s.Metadata.Schema[0].Type = "integer" }, "column 0"},
		{"partition columns", func(s *deltaread.Snapshot) { s.Metadata.PartitionColumns = nil }, "partition columns"},
		{"configuration", func(s *deltaread.Snapshot) { s.Metadata.Configuration["owner"] = "x" }, "configuration"},
		{"protocol", func(s *deltaread.Snapshot) { s.Protocol.MinWriterVersion = 7 }, "protocol"},
	}
	for _, c := range cases {
		s := read()
		c.change(s)
		d := agree.Diff(s, theirs, "t")
		if len(d) == 0 || !strings.Contains(strings.Join(d, "\n"), c.want) {
			t.Errorf("%s changed: Diff says %q, want a difference naming %q", c.name, d, c.want)
		}
	}
}
