package delta_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/lake/delta"
)

// sparkLog is a table as Spark writes it, made by hand from the protocol:
// a partitioned CTAS, a DELETE that rewrites a file, an OPTIMIZE, a schema
// and property change, a protocol upgrade to table features, and a DELETE
// of whole files. Partition values hold "=", " " and "%" (Hive-escaped in
// the directory, then URL-encoded in the log) and a null. It has an action
// and fields no version of the protocol defines, which readers must ignore.
var sparkLog = map[string][]string{
	commitName(0): {
		`{"commitInfo":{"timestamp":1732200000000,"operation":"WRITE","operationParameters":{"mode":"ErrorIfExists","partitionBy":"[\"region\"]"},"isolationLevel":"Serializable","isBlindAppend":true,"operationMetrics":{"numFiles":"4","numOutputRows":"40","numOutputBytes":"4000"},"engineInfo":"Apache-Spark/3.5.3 Delta-Lake/3.2.1","txnId":"6c2f0a3e-0b1e-4d55-9a55-000000000000"}}`,
		`{"metaData":{"id":"a1b2c3d4-0000-4000-8000-000000000000","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}},{\"name\":\"region\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":["region"],"configuration":{},"createdTime":1732199999000}}`,
		`{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}`,
		`{"add":{"path":"region=eu/part-00000-aaa.c000.snappy.parquet","partitionValues":{"region":"eu"},"size":1000,"modificationTime":1732200000000,"dataChange":true,"stats":"{\"numRecords\":10,\"minValues\":{\"id\":0},\"maxValues\":{\"id\":9},\"nullCount\":{\"id\":0}}"}}`,
		`{"add":{"path":"region=a%253Db%20%2525x/part-00001-bbb.c000.snappy.parquet","partitionValues":{"region":"a=b %x"},"size":1000,"modificationTime":1732200000000,"dataChange":true,"stats":"{\"numRecords\":10}"}}`,
		`{"add":{"path":"region=__HIVE_DEFAULT_PARTITION__/part-00002-ccc.c000.snappy.parquet","partitionValues":{"region":null},"size":1000,"modificationTime":1732200000000,"dataChange":true,"stats":"{\"numRecords\":10}"}}`,
		`{"add":{"path":"region=us/part-00003-ggg.c000.snappy.parquet","partitionValues":{"region":"us"},"size":1000,"modificationTime":1732200000000,"dataChange":true,"stats":"{\"numRecords\":10}"}}`,
	},
	commitName(1): {
		`{"commitInfo":{"timestamp":1732200100000,"operation":"DELETE","operationParameters":{"predicate":"[\"(id#1L = 3L)\"]"},"readVersion":0,"isolationLevel":"Serializable","isBlindAppend":false,"operationMetrics":{"numRemovedFiles":"1","numAddedFiles":"2"},"engineInfo":"Apache-Spark/3.5.3 Delta-Lake/3.2.1","txnId":"6c2f0a3e-0b1e-4d55-9a55-000000000001"}}`,
		`{"remove":{"path":"region=eu/part-00000-aaa.c000.snappy.parquet","deletionTimestamp":1732200100000,"dataChange":true,"extendedFileMetadata":true,"partitionValues":{"region":"eu"},"size":1000,"stats":"{\"numRecords\":10}"}}`,
		`{"add":{"path":"region=eu/part-00000-ddd.c000.snappy.parquet","partitionValues":{"region":"eu"},"size":600,"modificationTime":1732200100000,"dataChange":true,"stats":"{\"numRecords\":5}","futureField":{"nested":[1,2]}}}`,
		`{"add":{"path":"region=eu/part-00001-fff.c000.snappy.parquet","partitionValues":{"region":"eu"},"size":500,"modificationTime":1732200100000,"dataChange":true,"stats":"{\"numRecords\":4}"}}`,
		`{"cdc":{"path":"_change_data/region=eu/cdc-00000.c000.snappy.parquet","partitionValues":{"region":"eu"},"size":100,"dataChange":false}}`,
		`{"someFutureAction":{"anything":true}}`,
	},
	commitName(2): {
		`{"commitInfo":{"timestamp":1732200200000,"operation":"OPTIMIZE","operationParameters":{"predicate":"[]","zOrderBy":"[]"},"readVersion":1,"isolationLevel":"SnapshotIsolation","isBlindAppend":false,"operationMetrics":{"numRemovedFiles":"2","numAddedFiles":"1"},"engineInfo":"Apache-Spark/3.5.3 Delta-Lake/3.2.1","txnId":"6c2f0a3e-0b1e-4d55-9a55-000000000002"}}`,
		`{"remove":{"path":"region=eu/part-00000-ddd.c000.snappy.parquet","deletionTimestamp":1732200200000,"dataChange":false,"extendedFileMetadata":true,"partitionValues":{"region":"eu"},"size":600}}`,
		`{"remove":{"path":"region=eu/part-00001-fff.c000.snappy.parquet","deletionTimestamp":1732200200000,"dataChange":false,"extendedFileMetadata":true,"partitionValues":{"region":"eu"},"size":500}}`,
		`{"add":{"path":"region=eu/part-00000-eee.c000.zstd.parquet","partitionValues":{"region":"eu"},"size":1050,"modificationTime":1732200200000,"dataChange":false,"stats":"{\"numRecords\":9}","tags":{"ZCUBE_ID":"x"}}}`,
	},
	commitName(3): {
		`{"commitInfo":{"timestamp":1732200300000,"operation":"ADD COLUMNS","operationParameters":{"columns":"[{\"column\":{\"name\":\"note\"}}]"},"readVersion":2,"isolationLevel":"Serializable","isBlindAppend":true,"engineInfo":"Apache-Spark/3.5.3 Delta-Lake/3.2.1"}}`,
		`{"metaData":{"id":"a1b2c3d4-0000-4000-8000-000000000000","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}},{\"name\":\"region\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}},{\"name\":\"note\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":["region"],"configuration":{"owner":"lab"},"createdTime":1732199999000}}`,
		`{"txn":{"appId":"stream-1","version":7,"lastUpdated":1732200300000}}`,
	},
	commitName(4): {
		`{"commitInfo":{"timestamp":1732200400000,"operation":"STREAMING UPDATE","operationParameters":{"outputMode":"Append","queryId":"stream-1","epochId":"8"},"readVersion":3,"isolationLevel":"Serializable","isBlindAppend":true}}`,
		`{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["timestampNtz"],"writerFeatures":["appendOnly","invariants","timestampNtz"]}}`,
		`{"txn":{"appId":"stream-1","version":8,"lastUpdated":1732200400000}}`,
		`{"txn":{"appId":"other","version":1}}`,
	},
	commitName(5): {
		`{"commitInfo":{"timestamp":1732200500000,"operation":"DELETE","operationParameters":{"predicate":"[\"NOT (region#2 IN (eu,us))\"]"},"readVersion":4,"isolationLevel":"Serializable","isBlindAppend":false}}`,
		// The same file as version 0 added, encoded another valid way.
		`{"remove":{"path":"region=a%253Db %2525x/part-00001-bbb.c000.snappy.parquet","deletionTimestamp":1732200500000,"dataChange":true}}`,
		`{"remove":{"path":"region=__HIVE_DEFAULT_PARTITION__/part-00002-ccc.c000.snappy.parquet","deletionTimestamp":1732200500000,"dataChange":true,"extendedFileMetadata":true,"partitionValues":{"region":null},"size":1000}}`,
	},
}

func TestReplaySparkLog(t *testing.T) {
	s, _ := fileStore(t)
	writeLog(t, s, "tbl", sparkLog)
	tbl := delta.NewTable(s, "tbl")
	snap := mustSnapshot(t, tbl)
	if snap.Version() != 5 {
		t.Fatalf("version %d, want 5", snap.Version())
	}
	if got, want := paths(snap.Files()), []string{"region=eu/part-00000-eee.c000.zstd.parquet", "region=us/part-00003-ggg.c000.snappy.parquet"}; !slices.Equal(got, want) {
		t.Fatalf("live files %q, want %q", got, want)
	}
	if f := snap.Files()[0]; f.Tags["ZCUBE_ID"] != "x" || f.Size != 1050 || f.DataChange {
		t.Fatalf("OPTIMIZE's add read as %+v", f)
	}
	var tomb []string
	for _, r := range snap.Tombstones() {
		tomb = append(tomb, r.Path)
	}
	if len(tomb) != 5 {
		t.Fatalf("tombstones %q, want the 5 removed files", tomb)
	}
	if v, ok := snap.TxnVersion("stream-1"); !ok || v != 8 {
		t.Fatalf("txn stream-1 = %d %v, want 8 (the latest wins)", v, ok)
	}
	if len(snap.Txns()) != 2 {
		t.Fatalf("txns %+v, want stream-1 and other", snap.Txns())
	}
	if md := snap.Metadata(); md.Configuration["owner"] != "lab" || len(snap.Schema().Fields) != 3 || snap.Schema().Fields[2].Name != "note" {
		t.Fatalf("metadata not the latest: %+v", md)
	}
	if p := snap.Protocol(); p.MinReaderVersion != 3 || !slices.Contains(p.ReaderFeatures, "timestampNtz") {
		t.Fatalf("protocol %+v, want the upgrade of version 4", p)
	}

	// Time travel by version sees each step.
	at2, err := tbl.SnapshotAt(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	want2 := []string{
		"region=__HIVE_DEFAULT_PARTITION__/part-00002-ccc.c000.snappy.parquet",
		"region=a%253Db%20%2525x/part-00001-bbb.c000.snappy.parquet",
		"region=eu/part-00000-eee.c000.zstd.parquet",
		"region=us/part-00003-ggg.c000.snappy.parquet",
	}
	if got := paths(at2.Files()); !slices.Equal(got, want2) {
		t.Fatalf("files at version 2 %q, want %q", got, want2)
	}
	if p := at2.Protocol(); p.MinReaderVersion != 1 || p.MinWriterVersion != 2 || len(at2.Schema().Fields) != 2 {
		t.Fatalf("version 2 has protocol %+v and %d columns, want 1/2 and 2", p, len(at2.Schema().Fields))
	}
	for _, f := range at2.Files() {
		switch {
		case strings.Contains(f.Path, "HIVE_DEFAULT"):
			if v, ok := f.PartitionValues["region"]; !ok || v != "" {
				t.Errorf("null partition value read as %q %v, want \"\" (null)", v, ok)
			}
		case strings.Contains(f.Path, "bbb"):
			if f.PartitionValues["region"] != "a=b %x" {
				t.Errorf("partition value %q, want %q", f.PartitionValues["region"], "a=b %x")
			}
			key, err := tbl.DataKey(f.Path)
			if err != nil || key != "tbl/region=a%3Db %25x/part-00001-bbb.c000.snappy.parquet" {
				t.Errorf("DataKey(%q) = %q, %v; want the decoded key", f.Path, key, err)
			}
		}
	}
	at0, err := tbl.SnapshotAt(t.Context(), 0)
	if err != nil || at0.NumFiles() != 4 || at0.SizeInBytes() != 4000 {
		t.Fatalf("version 0: %v; want 4 files of 4000 bytes", err)
	}
	if _, err := tbl.SnapshotAt(t.Context(), 6); !errors.Is(err, delta.ErrVersionNotFound) {
		t.Fatalf("SnapshotAt(6) = %v, want ErrVersionNotFound", err)
	}
}

// protocolLog is a one-commit table with the given protocol and
// configuration.
func protocolLog(protocol, configuration string) map[string][]string {
	return map[string][]string{commitName(0): {
		`{"commitInfo":{"timestamp":1732200000000,"operation":"CREATE TABLE"}}`,
		`{"protocol":` + protocol + `}`,
		`{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":[],"configuration":` + configuration + `}}`,
		`{"add":{"path":"part-0.parquet","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true}}`,
	}}
}

func TestRefusesReaderFeaturesItLacks(t *testing.T) {
	cases := []struct {
		name, protocol, conf, feature string
	}{
		{"deletion vectors", `{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}`, `{}`, "deletionVectors"},
		{"column mapping by name", `{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["columnMapping"],"writerFeatures":["columnMapping"]}`, `{"delta.columnMapping.mode":"name"}`, "columnMapping"},
		{"reader version 2, mapping by id", `{"minReaderVersion":2,"minWriterVersion":5}`, `{"delta.columnMapping.mode":"id"}`, "columnMapping"},
		{"v2 checkpoints", `{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["v2Checkpoint"],"writerFeatures":["v2Checkpoint"]}`, `{}`, "v2Checkpoint"},
		{"a feature from the future", `{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["timestampNtz","quantumFiles"],"writerFeatures":["quantumFiles"]}`, `{}`, "quantumFiles"},
		{"reader version 4", `{"minReaderVersion":4,"minWriterVersion":8}`, `{}`, "reader version 4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := fileStore(t)
			writeLog(t, s, "t", protocolLog(tc.protocol, tc.conf))
			tbl := delta.NewTable(s, "t")
			_, err := tbl.Snapshot(t.Context())
			var ufe *delta.UnsupportedFeatureError
			if !errors.As(err, &ufe) || !errors.Is(err, delta.ErrUnsupportedFeature) || ufe.Feature != tc.feature || !ufe.Reader {
				t.Fatalf("Snapshot = %v, want an UnsupportedFeatureError for reading, naming %s", err, tc.feature)
			}
			if !strings.Contains(err.Error(), tc.feature) {
				t.Fatalf("error %q does not name %s", err, tc.feature)
			}
			if _, err := tbl.SnapshotAt(t.Context(), 0); !errors.Is(err, delta.ErrUnsupportedFeature) {
				t.Errorf("SnapshotAt = %v, want it refused too", err)
			}
		})
	}
}

func TestNotATable(t *testing.T) {
	s, _ := fileStore(t)
	if err := s.Put(t.Context(), "t/part-0.parquet", []byte("x")); err != nil {
		t.Fatal(err)
	}
	_, err := delta.NewTable(s, "t").Snapshot(t.Context())
	if !errors.Is(err, delta.ErrNotATable) {
		t.Fatalf("Snapshot of a directory without _delta_log = %v, want ErrNotATable", err)
	}
}

func TestMissingCommitIsAnError(t *testing.T) {
	s, _ := fileStore(t)
	log := map[string][]string{}
	for _, v := range []int64{0, 1, 3} {
		log[commitName(v)] = sparkLog[commitName(v)]
	}
	writeLog(t, s, "t", log)
	_, err := delta.NewTable(s, "t").Snapshot(t.Context())
	if !errors.Is(err, delta.ErrVersionNotFound) || !strings.Contains(err.Error(), "commit 2 is missing") {
		t.Fatalf("Snapshot of a log without commit 2 = %v, want ErrVersionNotFound naming commit 2", err)
	}
}
