package delta_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
)

// TestNewAddDescribesTheFile: the add a writer commits carries the file's
// encoded path, size, time and the stats of its footer, and a file that
// Commit would refuse is refused before it is uploaded.
func TestNewAddDescribesTheFile(t *testing.T) {
	s, _ := fileStore(t)
	tbl, snap := newStreamTable(t, s, "stream", nil)
	md := snap.Metadata()
	start := time.Date(2024, 11, 21, 10, 0, 0, 0, time.UTC)
	rows := []contract.WindowRow{
		{SensorID: "s-2", WinStart: start, WinEnd: start.Add(time.Minute), Eventos: 3, AvgTemp: 1.5},
		{SensorID: "s-1", WinStart: start.Add(time.Minute), WinEnd: start.Add(2 * time.Minute), Eventos: 7, AvgTemp: 2.5},
	}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows); err != nil {
		t.Fatal(err)
	}
	mod := time.Date(2024, 11, 21, 10, 5, 0, 123_000_000, time.UTC)
	rel := "date=2024-11-21/part-00000-a b%.parquet"
	add, err := delta.NewAdd(md, rel, delta.PartitionValues{"date": "2024-11-21"}, buf.Bytes(), mod, true)
	if err != nil {
		t.Fatal(err)
	}
	if add.Path != "date=2024-11-21/part-00000-a%20b%25.parquet" || add.Size != int64(buf.Len()) ||
		add.ModificationTime != mod.UnixMilli() || !add.DataChange || add.PartitionValues["date"] != "2024-11-21" {
		t.Fatalf("add = %+v: want the encoded path, the file's size, the time in ms, dataChange", add)
	}
	st, err := delta.ParseStats(add.Stats)
	if err != nil {
		t.Fatal(err)
	}
	if st.NumRecords != 2 || st.MinValues["sensor_id"] != "s-1" || st.MaxValues["sensor_id"] != "s-2" ||
		st.MinValues["eventos"] != float64(3) || st.MaxValues["eventos"] != float64(7) ||
		st.MinValues["win_start"] != "2024-11-21T10:00:00.000Z" {
		t.Fatalf("stats %s: want 2 records, sensor_id s-1..s-2, eventos 3..7, win_start from 10:00", add.Stats)
	}
	if _, ok := st.MinValues["date"]; ok {
		t.Fatalf("stats %s hold the partition column", add.Stats)
	}
	// The add commits, and its key is where the bytes go.
	key, err := tbl.DataKey(add.Path)
	if err != nil || key != "stream/"+rel {
		t.Fatalf("DataKey(%q) = %q, %v; want %q", add.Path, key, err, "stream/"+rel)
	}
	if _, err := tbl.Commit(t.Context(), snap, appendCommit(add)); err != nil {
		t.Fatal(err)
	}

	bad := []struct {
		name, rel string
		pv        delta.PartitionValues
		data      []byte
		want      string
	}{
		{"absolute path", "/data/x.parquet", delta.PartitionValues{"date": "2024-11-21"}, buf.Bytes(), "relative"},
		{"unknown partition column", "x.parquet", delta.PartitionValues{"date": "2024-11-21", "region": "eu"}, buf.Bytes(), `"region" is not a partition column`},
		{"missing partition value", "x.parquet", delta.PartitionValues{}, buf.Bytes(), `no value for partition column "date"`},
		{"not Parquet", "x.parquet", delta.PartitionValues{"date": "2024-11-21"}, []byte("not parquet"), "x.parquet"},
	}
	for _, tc := range bad {
		if _, err := delta.NewAdd(md, tc.rel, tc.pv, tc.data, mod, true); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewAdd = %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// TestDataKeyResolvesAbsolutePathsInsideTheTable: Spark may log absolute
// URIs; those inside the table's location are its files, others are not.
func TestDataKeyResolvesAbsolutePathsInsideTheTable(t *testing.T) {
	fs, dir := fileStore(t)
	ftbl := delta.NewTable(fs, "lake/stream")
	s3, err := lake.Open(t.Context(), "s3://bucket/pre", lake.S3Config{Endpoint: "localhost:9", AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	stbl := delta.NewTable(s3, "stream")
	cases := []struct {
		tbl       *delta.Table
		path, key string // key "" for outside
	}{
		{ftbl, "file:" + dir + "/lake/stream/date=2024-11-21/a%20b.parquet", "lake/stream/date=2024-11-21/a b.parquet"},
		{ftbl, "file://" + dir + "/lake/stream/x.parquet", "lake/stream/x.parquet"},
		{ftbl, dir + "/lake/stream/x.parquet", "lake/stream/x.parquet"},
		{ftbl, "file:" + dir + "/lake/other/x.parquet", ""},
		{ftbl, "file:" + dir + "/lake/streamer/x.parquet", ""},
		{ftbl, "s3a://bucket/pre/stream/x.parquet", ""},
		{stbl, "s3a://bucket/pre/stream/date=2024-11-21/x%25y.parquet", "stream/date=2024-11-21/x%y.parquet"},
		{stbl, "s3://bucket/pre/stream/x.parquet", "stream/x.parquet"},
		{stbl, "s3a://other/pre/stream/x.parquet", ""},
		{stbl, "s3a://bucket/pre/stream/../elsewhere/x.parquet", ""},
	}
	for _, tc := range cases {
		key, err := tc.tbl.DataKey(tc.path)
		if tc.key == "" {
			if err == nil || !strings.Contains(err.Error(), "outside the table") {
				t.Errorf("%s: DataKey(%q) = %q, %v; want an error: outside the table", tc.tbl, tc.path, key, err)
			}
			continue
		}
		if err != nil || key != tc.key {
			t.Errorf("%s: DataKey(%q) = %q, %v; want %q", tc.tbl, tc.path, key, err, tc.key)
		}
	}
}
