package delta_test

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
)

// Checkpoint rows laid out unlike this package's writer: fields in another
// order, extra columns (deletionVector, baseRowId, commitInfo), as other
// engines write them.
type otherTxn struct {
	Version *int64  `parquet:"version,optional"`
	AppID   *string `parquet:"appId,optional"`
}

type otherDV struct {
	StorageType *string `parquet:"storageType,optional"`
	Path        *string `parquet:"pathOrInlineDv,optional"`
}

type otherAdd struct {
	Stats            *string            `parquet:"stats,optional"`
	Path             *string            `parquet:"path,optional"`
	Size             *int64             `parquet:"size,optional"`
	PartitionValues  map[string]*string `parquet:"partitionValues,optional"`
	ModificationTime *int64             `parquet:"modificationTime,optional"`
	DataChange       *bool              `parquet:"dataChange,optional"`
	DeletionVector   *otherDV           `parquet:"deletionVector,optional"`
	BaseRowID        *int64             `parquet:"baseRowId,optional"`
}

type otherRemove struct {
	Path              *string `parquet:"path,optional"`
	DeletionTimestamp *int64  `parquet:"deletionTimestamp,optional"`
	DataChange        *bool   `parquet:"dataChange,optional"`
}

type otherFormat struct {
	Provider *string `parquet:"provider,optional"`
}

type otherMetadata struct {
	ID               *string            `parquet:"id,optional"`
	Format           *otherFormat       `parquet:"format,optional"`
	SchemaString     *string            `parquet:"schemaString,optional"`
	PartitionColumns []string           `parquet:"partitionColumns,optional,list"`
	Configuration    map[string]*string `parquet:"configuration,optional"`
}

type otherProtocol struct {
	MinReaderVersion *int32 `parquet:"minReaderVersion,optional"`
	MinWriterVersion *int32 `parquet:"minWriterVersion,optional"`
}

type otherCommitInfo struct {
	Operation *string `parquet:"operation,optional"`
}

type otherRow struct {
	Protocol   *otherProtocol   `parquet:"protocol,optional"`
	MetaData   *otherMetadata   `parquet:"metaData,optional"`
	CommitInfo *otherCommitInfo `parquet:"commitInfo,optional"`
	Remove     *otherRemove     `parquet:"remove,optional"`
	Add        *otherAdd        `parquet:"add,optional"`
	Txn        *otherTxn        `parquet:"txn,optional"`
}

func parquetBytes[T any](t *testing.T, rows []T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const regionSchema = `{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"region","type":"string","nullable":true,"metadata":{}}]}`

func otherAddRow(path, region string, size int64) otherRow {
	var pv *string
	if region != "" {
		pv = p(region)
	}
	return otherRow{Add: &otherAdd{Path: p(path), Size: p(size), PartitionValues: map[string]*string{"region": pv},
		ModificationTime: p(int64(1)), DataChange: p(false), Stats: p(`{"numRecords":1}`)}}
}

// TestMultiPartCheckpoint reads a table whose early commits are gone and
// whose state is in a three-part checkpoint (written by hand, per the
// protocol's naming), followed by commits; a newer multi-part checkpoint
// with a part missing must be ignored.
func TestMultiPartCheckpoint(t *testing.T) {
	for _, withHint := range []bool{false, true} {
		t.Run(fmt.Sprintf("last_checkpoint=%v", withHint), func(t *testing.T) {
			s, _ := fileStore(t)
			ctx := t.Context()
			parts := [][]otherRow{
				{{Protocol: &otherProtocol{MinReaderVersion: p(int32(1)), MinWriterVersion: p(int32(2))}},
					{MetaData: &otherMetadata{ID: p("mp"), Format: &otherFormat{Provider: p("parquet")}, SchemaString: p(regionSchema),
						PartitionColumns: []string{"region"}, Configuration: map[string]*string{"k": p("v")}}}},
				{otherAddRow("region=eu/1.parquet", "eu", 1), otherAddRow("region=eu/2%20two.parquet", "eu", 2),
					{Txn: &otherTxn{AppID: p("q"), Version: p(int64(4))}}},
				{otherAddRow("region=__HIVE_DEFAULT_PARTITION__/3.parquet", "", 3),
					{Remove: &otherRemove{Path: p("region=eu/0.parquet"), DeletionTimestamp: p(time.Now().UnixMilli()), DataChange: p(true)}}},
			}
			for i, rows := range parts {
				key := fmt.Sprintf("t/_delta_log/%020d.checkpoint.%010d.%010d.parquet", 4, i+1, len(parts))
				if err := s.Put(ctx, key, parquetBytes(t, rows)); err != nil {
					t.Fatal(err)
				}
			}
			// A checkpoint of version 6 in two parts, of which one was written.
			if err := s.Put(ctx, fmt.Sprintf("t/_delta_log/%020d.checkpoint.%010d.%010d.parquet", 6, 1, 2),
				parquetBytes(t, []otherRow{parts[0][0], parts[0][1]})); err != nil {
				t.Fatal(err)
			}
			writeLog(t, s, "t", map[string][]string{
				commitName(4): {`{"commitInfo":{"timestamp":1,"operation":"WRITE"}}`},
				commitName(5): {`{"remove":{"path":"region=eu/1.parquet","deletionTimestamp":2,"dataChange":true}}`},
				commitName(6): {`{"add":{"path":"region=us/4.parquet","partitionValues":{"region":"us"},"size":4,"modificationTime":3,"dataChange":true}}`,
					`{"txn":{"appId":"q","version":6}}`},
			})
			if withHint {
				if err := s.Put(ctx, "t/_delta_log/_last_checkpoint", []byte(`{"version":4,"size":7,"parts":3}`)); err != nil {
					t.Fatal(err)
				}
			}
			snap := mustSnapshot(t, delta.NewTable(s, "t"))
			want := []string{"region=__HIVE_DEFAULT_PARTITION__/3.parquet", "region=eu/2%20two.parquet", "region=us/4.parquet"}
			if got := paths(snap.Files()); snap.Version() != 6 || !slices.Equal(got, want) {
				t.Fatalf("version %d files %q, want 6 and %q", snap.Version(), got, want)
			}
			if v, _ := snap.TxnVersion("q"); v != 6 || snap.Metadata().ID != "mp" || snap.Metadata().Configuration["k"] != "v" ||
				!slices.Equal(snap.PartitionColumns(), []string{"region"}) {
				t.Fatalf("txn %d, metadata %+v", v, snap.Metadata())
			}
			for _, f := range snap.Files() {
				if strings.Contains(f.Path, "HIVE") && f.PartitionValues["region"] != "" {
					t.Fatalf("null partition value read as %q", f.PartitionValues["region"])
				}
			}
			if len(snap.Tombstones()) != 2 {
				t.Fatalf("tombstones %+v, want region=eu/0 and region=eu/1", snap.Tombstones())
			}
			at4, err := delta.NewTable(s, "t").SnapshotAt(ctx, 4)
			if err != nil || at4.NumFiles() != 3 {
				t.Fatalf("version 4 (the checkpoint itself): %v", err)
			}
		})
	}
}

// TestSparkCheckpointFixture reads a checkpoint with Spark's column layout
// (testdata/spark_checkpoint.sql, written by DuckDB: converted types only,
// lists of optional elements, stats_parsed and deletionVector columns) and
// the commit after it.
func TestSparkCheckpointFixture(t *testing.T) {
	_, tbl := sparkCheckpointTable(t)
	ctx := t.Context()
	at10, err := tbl.SnapshotAt(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantPaths := []string{
		"region=__HIVE_DEFAULT_PARTITION__/part-00002-3.c000.snappy.parquet",
		"region=a%253Db%20c/part-00001-2.c000.snappy.parquet",
		"region=eu/part-00000-1.c000.snappy.parquet",
	}
	if got := paths(at10.Files()); !slices.Equal(got, wantPaths) {
		t.Fatalf("checkpoint files %q, want %q", got, wantPaths)
	}
	files := at10.Files()
	if files[1].PartitionValues["region"] != "a=b c" || files[1].Tags["INSERTION_TIME"] != "1732200000000000" || files[1].Size != 2000 ||
		files[2].Stats != `{"numRecords":10,"minValues":{"id":1},"maxValues":{"id":10},"nullCount":{"id":0}}` || files[0].Stats != "" {
		t.Fatalf("checkpoint adds read as %+v", files)
	}
	if v, ok := at10.TxnVersion("query-a"); !ok || v != 41 {
		t.Fatalf("txn query-a = %d %v, want 41", v, ok)
	}
	if p := at10.Protocol(); p.MinWriterVersion != 7 || !slices.Equal(p.WriterFeatures, []string{"appendOnly", "invariants", "domainMetadata"}) || p.ReaderFeatures != nil {
		t.Fatalf("protocol %+v", p)
	}
	if dm := at10.DomainMetadata(); len(dm) != 1 || dm[0].Domain != "com.example.owner" || dm[0].Configuration != `{"team":"lab"}` {
		t.Fatalf("domain metadata %+v", dm)
	}
	if md := at10.Metadata(); md.ID != "f00dcafe-0000-4000-8000-000000000000" || md.Configuration["owner"] != "spark" || *md.CreatedTime != 1732100000000 {
		t.Fatalf("metadata %+v", md)
	}
	if ts := at10.Tombstones(); len(ts) != 1 || *ts[0].DeletionTimestamp != 1732150000000 || *ts[0].Size != 900 {
		t.Fatalf("tombstones %+v", ts)
	}
	latest := mustSnapshot(t, tbl)
	if latest.Version() != 11 || latest.NumFiles() != 3 || latest.SizeInBytes() != 9000 {
		t.Fatalf("latest: version %d, %d files, %d bytes; want 11, 3, 9000", latest.Version(), latest.NumFiles(), latest.SizeInBytes())
	}
}

// sparkCheckpointTable is a table at version 11 whose state up to version
// 10 is in testdata/spark_checkpoint.parquet.
func sparkCheckpointTable(t *testing.T) (lake.Store, *delta.Table) {
	t.Helper()
	s, _ := fileStore(t)
	ctx := t.Context()
	data, err := os.ReadFile("testdata/spark_checkpoint.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "t/_delta_log/00000000000000000010.checkpoint.parquet", data); err != nil {
		t.Fatal(err)
	}
	writeLog(t, s, "t", map[string][]string{
		commitName(10): {`{"commitInfo":{"timestamp":1732200000000,"operation":"STREAMING UPDATE"}}`},
		commitName(11): {
			`{"commitInfo":{"timestamp":1732200001000,"operation":"DELETE","readVersion":10}}`,
			`{"remove":{"path":"region=eu/part-00000-1.c000.snappy.parquet","deletionTimestamp":1732200001000,"dataChange":true}}`,
			`{"add":{"path":"region=eu/part-00003-4.c000.snappy.parquet","partitionValues":{"region":"eu"},"size":4000,"modificationTime":1732200001000,"dataChange":true}}`,
		},
	})
	if err := s.Put(ctx, "t/_delta_log/_last_checkpoint", []byte(`{"version":10,"size":9,"sizeInBytes":11847}`)); err != nil {
		t.Fatal(err)
	}
	return s, delta.NewTable(s, "t")
}
