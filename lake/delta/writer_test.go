package delta_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
)

// TestReadsWhatItCanAndRefusesWritesItCannot: features that do not change
// what a snapshot lists are read; writer features this package cannot
// honour make Commit refuse, naming them.
func TestReadsWhatItCanAndRefusesWritesItCannot(t *testing.T) {
	cases := []struct {
		name, protocol, conf string
		writeFeature         string // "" when writing is fine too
	}{
		{"column mapping mode none", `{"minReaderVersion":2,"minWriterVersion":5}`, `{"delta.columnMapping.mode":"none"}`, ""},
		{"timestampNtz and vacuumProtocolCheck", `{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["timestampNtz","vacuumProtocolCheck"],"writerFeatures":["timestampNtz","vacuumProtocolCheck","domainMetadata"]}`, `{}`, ""},
		{"row tracking", `{"minReaderVersion":1,"minWriterVersion":7,"writerFeatures":["rowTracking","domainMetadata"]}`, `{}`, "rowTracking"},
		{"CHECK constraint", `{"minReaderVersion":1,"minWriterVersion":3}`, `{"delta.constraints.positive":"id > 0"}`, "checkConstraints"},
		{"identity columns", `{"minReaderVersion":1,"minWriterVersion":7,"writerFeatures":["identityColumns","clustering"]}`, `{}`, "clustering"},
		{"writer version 8", `{"minReaderVersion":1,"minWriterVersion":8}`, `{}`, "writer version 8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := fileStore(t)
			writeLog(t, s, "t", protocolLog(tc.protocol, tc.conf))
			tbl := delta.NewTable(s, "t")
			snap, err := tbl.Snapshot(t.Context())
			if err != nil {
				t.Fatalf("Snapshot: %v, want the table readable", err)
			}
			if snap.NumFiles() != 1 {
				t.Fatalf("%d files, want 1", snap.NumFiles())
			}
			add := delta.Add{Path: "part-1.parquet", PartitionValues: delta.PartitionValues{}, Size: 1, DataChange: true}
			_, err = tbl.Commit(t.Context(), snap, delta.Commit{Operation: delta.Write("Append", nil), Actions: []delta.Action{{Add: &add}}})
			if tc.writeFeature == "" {
				if err != nil {
					t.Fatalf("Commit: %v, want it written", err)
				}
				return
			}
			var ufe *delta.UnsupportedFeatureError
			if !errors.As(err, &ufe) || ufe.Feature != tc.writeFeature || ufe.Reader {
				t.Fatalf("Commit = %v, want an UnsupportedFeatureError for writing, naming %s", err, tc.writeFeature)
			}
		})
	}
}

// TestCheckpointIsWrittenAndSuffices commits past a checkpoint interval,
// then deletes the commits the checkpoint stands for: the table must read
// the same from the checkpoint, with expired tombstones dropped and live
// ones kept.
func TestCheckpointIsWrittenAndSuffices(t *testing.T) {
	s, _ := fileStore(t)
	clk := newClock(t0, time.Second)
	tbl, snap := newStreamTable(t, s, "stream", map[string]string{delta.PropCheckpointInterval: "3"}, delta.WithClock(clk.Now))
	a := simpleAdd("date=2024-11-20/a b%.parquet", "2024-11-20", 10)
	b := simpleAdd("date=2024-11-21/b.parquet", "2024-11-21", 20)
	c := simpleAdd("date=2024-11-21/c.parquet", "2024-11-21", 30)
	stream := appendCommit(a, b)
	stream.Actions = append(stream.Actions, delta.Action{Txn: &delta.Txn{AppID: "q", Version: 5}})
	if _, err := tbl.Commit(t.Context(), snap, stream); err != nil { // version 1
		t.Fatal(err)
	}
	snap = mustSnapshot(t, tbl)
	// Version 2 removes a long ago (expired tombstone) and b just now.
	old := delta.RemoveOf(snap.Files()[0], t0.Add(-30*24*time.Hour), true)
	recent := delta.RemoveOf(snap.Files()[1], t0, true)
	if _, err := tbl.Commit(t.Context(), snap, delta.Commit{Operation: delta.Operation{Name: "DELETE"},
		Actions: []delta.Action{{Remove: &old}, {Remove: &recent}}}); err != nil {
		t.Fatal(err)
	}
	snap = mustSnapshot(t, tbl)
	res, err := tbl.Commit(t.Context(), snap, appendCommit(c)) // version 3: checkpoint
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 3 || !res.Checkpointed || res.PostCommitErr != nil {
		t.Fatalf("version 3 commit: %+v, want a checkpoint", res)
	}
	hint, err := s.Get(t.Context(), "stream/_delta_log/_last_checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	var lc struct{ Version, Size, SizeInBytes, NumOfAddFiles int64 }
	if err := json.Unmarshal(hint, &lc); err != nil || lc.Version != 3 || lc.NumOfAddFiles != 1 || lc.Size != 5 || lc.SizeInBytes == 0 {
		t.Fatalf("_last_checkpoint = %s (%v): want version 3, 5 actions (protocol, metaData, txn, add, a live tombstone), 1 add", hint, err)
	}
	// The state by log replay alone: set the checkpoint aside.
	ckptKey := "stream/_delta_log/00000000000000000003.checkpoint.parquet"
	ckpt, err := s.Get(t.Context(), ckptKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{ckptKey, "stream/_delta_log/_last_checkpoint"} {
		if err := s.Delete(t.Context(), k); err != nil {
			t.Fatal(err)
		}
	}
	before := mustSnapshot(t, tbl)
	if err := s.Put(t.Context(), ckptKey, ckpt); err != nil {
		t.Fatal(err)
	}
	for v := range int64(3) {
		if err := s.Delete(t.Context(), "stream/_delta_log/"+commitName(v)); err != nil {
			t.Fatal(err)
		}
	}
	after := mustSnapshot(t, tbl)
	fromCkpt, fromLog := after.Files(), before.Files()
	for i := range fromLog {
		fromLog[i].DataChange = false // checkpoints hold adds as no data change, as Spark's do
	}
	if after.Version() != 3 || !reflect.DeepEqual(fromCkpt, fromLog) {
		t.Fatalf("from the checkpoint: version %d files %+v; from the log: %+v", after.Version(), after.Files(), before.Files())
	}
	if v, ok := after.TxnVersion("q"); !ok || v != 5 {
		t.Fatalf("txn from the checkpoint: %d %v, want 5", v, ok)
	}
	if after.Metadata().ID != before.Metadata().ID || after.Metadata().Configuration[delta.PropCheckpointInterval] != "3" ||
		after.Metadata().SchemaString != before.Metadata().SchemaString || *after.Metadata().CreatedTime != *before.Metadata().CreatedTime {
		t.Fatalf("metadata from the checkpoint %+v differs from %+v", after.Metadata(), before.Metadata())
	}
	var tomb []string
	for _, r := range after.Tombstones() {
		tomb = append(tomb, r.Path)
	}
	if !slices.Equal(tomb, []string{b.Path}) || len(before.Tombstones()) != 2 {
		t.Fatalf("tombstones from the checkpoint %q (log: %d), want only the unexpired %s", tomb, len(before.Tombstones()), b.Path)
	}
	// The data file key survives the round trip of its odd name.
	if key, err := tbl.DataKey(before.Tombstones()[0].Path); err != nil || !strings.HasPrefix(key, "stream/date=2024-11-2") {
		t.Fatalf("DataKey: %q, %v", key, err)
	}
	checkCheckpointSchema(t, s, "stream/_delta_log/00000000000000000003.checkpoint.parquet")
}

// checkCheckpointSchema reads a checkpoint's schema with parquet-go's own
// reader and checks it against the protocol's Checkpoint Schema.
func checkCheckpointSchema(t *testing.T, s lake.Store, key string) {
	t.Helper()
	data, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"txn.appId": "STRING", "txn.version": "INT(64,true)",
		"add.path": "STRING", "add.partitionValues": "MAP", "add.size": "INT(64,true)", "add.modificationTime": "INT(64,true)",
		"add.dataChange": "", "add.stats": "STRING", "add.tags": "MAP",
		"remove.path": "STRING", "remove.deletionTimestamp": "INT(64,true)", "remove.dataChange": "",
		"metaData.id": "STRING", "metaData.format": "", "metaData.schemaString": "STRING", "metaData.partitionColumns": "LIST",
		"metaData.createdTime": "INT(64,true)", "metaData.configuration": "MAP",
		"protocol.minReaderVersion": "INT(32,true)", "protocol.minWriterVersion": "INT(32,true)",
		"protocol.readerFeatures": "LIST", "protocol.writerFeatures": "LIST",
	}
	for path, lt := range want {
		node := parquet.Node(f.Schema())
		for _, name := range strings.Split(path, ".") {
			var next parquet.Node
			for _, fld := range node.Fields() {
				if fld.Name() == name {
					next = fld
				}
			}
			if next == nil {
				t.Fatalf("checkpoint has no column %s:\n%s", path, f.Schema())
			}
			node = next
		}
		if !node.Optional() {
			t.Errorf("%s is not optional", path)
		}
		got := ""
		if l := node.Type().LogicalType(); l != nil {
			got = l.String()
		}
		if got != lt {
			t.Errorf("%s has logical type %q, want %q", path, got, lt)
		}
	}
}

// TestCleanupKeepsTableReadable: after a checkpoint, commits and
// checkpoints older than the retention go, by the protocol's rules, and the
// table reads the same at its latest version.
func TestCleanupKeepsTableReadable(t *testing.T) {
	for _, tc := range []struct {
		name        string
		conf        map[string]string
		wantDeleted int
	}{
		{"default retention", nil, 5},
		{"cleanup disabled", map[string]string{delta.PropEnableExpiredLogCleanup: "false"}, 0},
		{"retention longer than the history", map[string]string{delta.PropLogRetentionDuration: "interval 60 days"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := fileStore(t)
			T := time.Date(2024, 11, 21, 12, 0, 0, 0, time.UTC)
			clk := newClock(T, 0)
			conf := map[string]string{delta.PropCheckpointInterval: "2"}
			for k, v := range tc.conf {
				conf[k] = v
			}
			tbl, _ := newStreamTable(t, s, "t", conf, delta.WithClock(clk.Now))
			commitN(t, tbl, 5, "old") // versions 1..5, checkpoints at 2 and 4
			// Versions 0..5 are old: the cut-off commit is 5, whose state
			// needs checkpoint 4 and commit 5, so 4 is the cut-off checkpoint.
			for v := range int64(6) {
				setModTime(t, dir, "t", commitName(v), T.Add(-40*24*time.Hour+time.Duration(v)*time.Minute))
			}
			before := mustSnapshot(t, tbl)
			snap := mustSnapshot(t, tbl)
			res, err := tbl.Commit(t.Context(), snap, appendCommit(simpleAdd("date=2024-11-21/new.parquet", "2024-11-21", 1))) // version 6
			if err != nil || res.PostCommitErr != nil || !res.Checkpointed {
				t.Fatalf("version 6: %+v %v", res, err)
			}
			if res.LogFilesDeleted != tc.wantDeleted {
				t.Fatalf("cleanup deleted %d files, want %d", res.LogFilesDeleted, tc.wantDeleted)
			}
			objs, err := s.List(t.Context(), "t/_delta_log/")
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, o := range objs {
				names = append(names, strings.TrimPrefix(o.Key, "t/_delta_log/"))
			}
			if tc.wantDeleted > 0 {
				want := []string{
					"00000000000000000004.checkpoint.parquet", "00000000000000000004.json", "00000000000000000005.json",
					"00000000000000000006.checkpoint.parquet", "00000000000000000006.json", "_last_checkpoint",
				}
				if !slices.Equal(names, want) {
					t.Fatalf("log after cleanup %q, want %q: the cut-off checkpoint (4: the newest at or before the last commit older than the retention) and all after it", names, want)
				}
				if _, err := tbl.SnapshotAt(t.Context(), 3); !errors.Is(err, delta.ErrVersionNotFound) || !strings.Contains(err.Error(), "available versions: [4, 6]") {
					t.Fatalf("SnapshotAt(3) after cleanup = %v, want ErrVersionNotFound naming the available versions [4, 6]", err)
				}
			}
			after := mustSnapshot(t, tbl)
			if after.Version() != 6 || after.NumFiles() != before.NumFiles()+1 {
				t.Fatalf("after cleanup: version %d with %d files, want 6 with %d", after.Version(), after.NumFiles(), before.NumFiles()+1)
			}
			for v := int64(4); v <= 6; v++ {
				if at, err := tbl.SnapshotAt(t.Context(), v); err != nil || at.NumFiles() != int(v) {
					t.Fatalf("SnapshotAt(%d) after cleanup: %v", v, err)
				}
			}
			if tc.wantDeleted == 0 {
				return
			}
			// A later cleanup (listing from where this one left the log):
			// versions 6 and 7 age too; checkpoint 8 makes 6 the cut-off.
			commitN(t, tbl, 1, "more") // version 7
			for v := int64(6); v <= 7; v++ {
				setModTime(t, dir, "t", commitName(v), T.Add(-35*24*time.Hour+time.Duration(v)*time.Minute))
			}
			res, err = tbl.Commit(t.Context(), mustSnapshot(t, tbl), appendCommit(simpleAdd("date=2024-11-21/last.parquet", "2024-11-21", 1)))
			if err != nil || res.Version != 8 || res.LogFilesDeleted != 3 {
				t.Fatalf("version 8: %+v, %v; want 3 files deleted (4.json, its checkpoint, 5.json)", res, err)
			}
			if at, err := tbl.SnapshotAt(t.Context(), 6); err != nil || at.NumFiles() != 6 || mustSnapshot(t, tbl).NumFiles() != 8 {
				t.Fatalf("after the second cleanup: %v", err)
			}
		})
	}
}

// TestReadsThroughLastCheckpointAcrossListBlocks: the latest snapshot lists
// the log from _last_checkpoint's version in blocks of 100 versions, and
// must follow it into the next block.
func TestReadsThroughLastCheckpointAcrossListBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("commits 204 versions")
	}
	s, _ := fileStore(t)
	tbl, _ := newStreamTable(t, s, "t", nil)
	commitN(t, tbl, 203, "f") // checkpoints up to 200, last commit 203
	hint, err := s.Get(t.Context(), "t/_delta_log/_last_checkpoint")
	if err != nil || !strings.HasPrefix(string(hint), `{"version":200,`) {
		t.Fatalf("_last_checkpoint = %s, %v", hint, err)
	}
	// A stale hint (an older checkpoint) must still lead to the latest.
	if err := s.Put(t.Context(), "t/_delta_log/_last_checkpoint", []byte(`{"version":190,"size":1}`)); err != nil {
		t.Fatal(err)
	}
	snap := mustSnapshot(t, tbl)
	if snap.Version() != 203 || snap.NumFiles() != 203 {
		t.Fatalf("latest through a hint at 190: version %d with %d files, want 203 with 203", snap.Version(), snap.NumFiles())
	}
	// A hint naming a checkpoint that is gone falls back to listing it all.
	if err := s.Put(t.Context(), "t/_delta_log/_last_checkpoint", []byte(`{"version":205,"size":1}`)); err != nil {
		t.Fatal(err)
	}
	if snap := mustSnapshot(t, tbl); snap.Version() != 203 {
		t.Fatalf("latest through a hint at a missing checkpoint: version %d, want 203", snap.Version())
	}
}

// TestWritesASparkTableKeepingItsDomains: a table Spark wrote (checkpoint
// with a metadata domain) takes this package's commits, and this package's
// checkpoint keeps the domain, as writers must.
func TestWritesASparkTableKeepingItsDomains(t *testing.T) {
	s, tbl := sparkCheckpointTable(t)
	ctx := t.Context()
	// This package can write the table (domainMetadata is preserved), and
	// its next checkpoint keeps the domain.
	next := simpleAdd("region=us/x.parquet", "", 1)
	next.PartitionValues = delta.PartitionValues{"region": "us"}
	for v := 12; v <= 20; v++ {
		cur := mustSnapshot(t, tbl)
		next.Path = fmt.Sprintf("region=us/%d.parquet", v)
		res, err := tbl.Commit(ctx, cur, appendCommit(next))
		if err != nil || res.PostCommitErr != nil {
			t.Fatalf("commit %d: %v %v", v, err, res.PostCommitErr)
		}
		if v == 20 && !res.Checkpointed {
			t.Fatal("version 20 was not checkpointed (delta.checkpointInterval is 10)")
		}
	}
	for v := int64(10); v < 20; v++ {
		_ = s.Delete(ctx, "t/_delta_log/"+commitName(v))
	}
	again := mustSnapshot(t, tbl)
	if dm := again.DomainMetadata(); len(dm) != 1 || again.NumFiles() != 12 || again.Version() != 20 {
		t.Fatalf("after our checkpoint: %d domains, %d files at version %d", len(dm), again.NumFiles(), again.Version())
	}
}
