package delta_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestFirstCommitGolden pins the bytes of a stream table's first commit: a
// streaming micro-batch that creates the table, as Spark's DeltaSink
// writes it (commitInfo first, then protocol, metaData, txn, add).
func TestFirstCommitGolden(t *testing.T) {
	s, _ := fileStore(t)
	clk := newClock(t0, 0)
	tbl := delta.NewTable(s, "stream", delta.WithClock(clk.Now), delta.WithIDs(seqIDs()), delta.WithEngineInfo("sensorlab/test"))
	md, err := tbl.NewMetadata(windowSchema(t), []string{"date"}, map[string]string{delta.PropCheckpointInterval: "10"})
	if err != nil {
		t.Fatal(err)
	}
	rows := []contract.WindowRow{
		{WinStart: t0, WinEnd: t0.Add(10 * time.Second), SensorID: "S001", Eventos: 3, AvgTemp: 21.5, AvgHum: 60, OKCount: 3, MinTemp: 21, MaxTemp: 22},
		{WinStart: t0, WinEnd: t0.Add(10 * time.Second), SensorID: "S002", Eventos: 2, AvgTemp: 25.25, AvgHum: 55.5, OKCount: 1, MinTemp: 24.5, MaxTemp: 26},
	}
	add := windowFile(t, s, tbl, md, "date=2024-11-21/part-0000000000-000-q1.parquet", rows, "2024-11-21")
	add.Size = 1234 // parquet-go's exact bytes are not this test's business
	res, err := tbl.Commit(t.Context(), nil, delta.Commit{
		Operation: delta.StreamingUpdate("Append", "q1", 0),
		Actions: []delta.Action{{Metadata: &md}, {Txn: &delta.Txn{AppID: "q1", Version: 0}},
			{Add: &add}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 0 || res.Attempts != 1 || res.PostCommitErr != nil {
		t.Fatalf("first commit = %+v, want version 0 in one attempt", res)
	}
	got, err := s.Get(t.Context(), "stream/_delta_log/00000000000000000000.json")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "first_commit.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("first commit differs from %s (go test -run FirstCommitGolden -update to accept):\n got: %s\nwant: %s", golden, got, want)
	}
	// What the golden file must say, whatever it holds.
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	var kinds []string
	for _, l := range lines {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &m); err != nil || len(m) != 1 {
			t.Fatalf("line %q is not one JSON action", l)
		}
		for k := range m {
			kinds = append(kinds, k)
		}
	}
	if !slices.Equal(kinds, []string{"commitInfo", "protocol", "metaData", "txn", "add"}) {
		t.Fatalf("actions %v, want commitInfo, protocol, metaData, txn, add", kinds)
	}
	for _, want := range []string{
		`{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}`,
		`"operation":"STREAMING UPDATE","operationParameters":{"epochId":"0","outputMode":"Append","queryId":"q1"}`,
		`"isBlindAppend":true`,
		`"engineInfo":"sensorlab/test"`,
		`"partitionColumns":["date"]`,
		`"configuration":{"delta.checkpointInterval":"10"}`,
		`{"name":"win_start","type":"timestamp","nullable":false,"metadata":{}}`,
		`{"name":"date","type":"date","nullable":true,"metadata":{}}`,
		`"partitionValues":{"date":"2024-11-21"}`,
		`{"txn":{"appId":"q1","version":0,"lastUpdated":1732183200000}}`,
		`"minValues":{"avg_hum":55.5,"avg_temp":21.5,"eventos":2,"max_temp":22,"min_temp":21,"ok_count":1,"sensor_id":"S001","win_end":"2024-11-21T10:00:10.000Z","win_start":"2024-11-21T10:00:00.000Z"}`,
		`\"numRecords\":2`,
	} {
		if !strings.Contains(string(got), want) && !strings.Contains(strings.ReplaceAll(string(got), `\"`, `"`), want) {
			t.Errorf("first commit lacks %s", want)
		}
	}
	snap := mustSnapshot(t, tbl)
	if v, ok := snap.TxnVersion("q1"); !ok || v != 0 || snap.NumFiles() != 1 || snap.Version() != 0 {
		t.Fatalf("snapshot after the first commit: version %d, %d files, txn %d %v", snap.Version(), snap.NumFiles(), v, ok)
	}
}

// newStreamTable creates a stream-like table (partitioned by date) with
// its first, empty commit and returns it with its snapshot.
func newStreamTable(t *testing.T, s lake.Store, root string, conf map[string]string, opts ...delta.Option) (*delta.Table, *delta.Snapshot) {
	t.Helper()
	tbl := delta.NewTable(s, root, opts...)
	md, err := tbl.NewMetadata(windowSchema(t), []string{"date"}, conf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Commit(t.Context(), nil, delta.Commit{Operation: delta.Operation{Name: "CREATE TABLE"},
		Actions: []delta.Action{{Metadata: &md}}}); err != nil {
		t.Fatal(err)
	}
	return tbl, mustSnapshot(t, tbl)
}

func appendCommit(adds ...delta.Add) delta.Commit {
	c := delta.Commit{Operation: delta.Write("Append", []string{"date"})}
	for i := range adds {
		c.Actions = append(c.Actions, delta.Action{Add: &adds[i]})
	}
	return c
}

// commitN commits one add per call, returning nothing; it fails the test on
// any error.
func commitN(t *testing.T, tbl *delta.Table, n int, prefix string) {
	t.Helper()
	for i := range n {
		snap := mustSnapshot(t, tbl)
		res, err := tbl.Commit(t.Context(), snap, appendCommit(simpleAdd(fmt.Sprintf("date=2024-11-21/%s-%d.parquet", prefix, i), "2024-11-21", 1)))
		if err != nil {
			t.Fatal(err)
		}
		if res.PostCommitErr != nil {
			t.Fatal(res.PostCommitErr)
		}
	}
}

// TestConcurrentWritersCommitEachOnce races writers, each with its own
// Table, appending through Commit: every commit must land exactly once, at
// contiguous versions, whoever loses races (file store; MinIO in
// minio_test.go).
func TestConcurrentWritersCommitEachOnce(t *testing.T) {
	s, _ := fileStore(t)
	racingWriters(t, s, 4, 6)
}

func racingWriters(t *testing.T, s lake.Store, writers, commits int) {
	t.Helper()
	_, _ = newStreamTable(t, s, "race", map[string]string{delta.PropCheckpointInterval: "5"})
	var wg sync.WaitGroup
	errs := make(chan error, writers*commits)
	versions := make(chan int64, writers*commits)
	lost := make(chan int, writers*commits)
	start := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			tbl := delta.NewTable(s, "race")
			<-start
			for c := range commits {
				snap, err := tbl.Snapshot(t.Context())
				if err != nil {
					errs <- err
					return
				}
				add := simpleAdd(fmt.Sprintf("date=2024-11-21/w%d-c%d.parquet", w, c), "2024-11-21", int64(100+c))
				txn := delta.Txn{AppID: fmt.Sprintf("writer-%d", w), Version: int64(c)}
				commit := appendCommit(add)
				commit.Actions = append(commit.Actions, delta.Action{Txn: &txn})
				res, err := tbl.Commit(t.Context(), snap, commit)
				if err != nil {
					errs <- fmt.Errorf("writer %d commit %d: %w", w, c, err)
					return
				}
				if res.PostCommitErr != nil {
					errs <- fmt.Errorf("writer %d commit %d: post-commit: %w", w, c, res.PostCommitErr)
				}
				versions <- res.Version
				lost <- res.Attempts - 1
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	close(versions)
	close(lost)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	var got []int64
	for v := range versions {
		got = append(got, v)
	}
	slices.Sort(got)
	for i, v := range got {
		if v != int64(i+1) {
			t.Fatalf("commit versions %v: want each of 1..%d exactly once", got, writers*commits)
		}
	}
	races := 0
	for n := range lost {
		races += n
	}
	t.Logf("%d commits by %d writers, %d lost races", len(got), writers, races)

	tbl := delta.NewTable(s, "race")
	snap := mustSnapshot(t, tbl)
	if snap.Version() != int64(writers*commits) || snap.NumFiles() != writers*commits {
		t.Fatalf("final snapshot: version %d with %d files, want %d and %d", snap.Version(), snap.NumFiles(), writers*commits, writers*commits)
	}
	for w := range writers {
		if v, ok := snap.TxnVersion(fmt.Sprintf("writer-%d", w)); !ok || v != int64(commits-1) {
			t.Errorf("writer-%d's txn = %d %v, want %d", w, v, ok, commits-1)
		}
	}
	// Every version's commit holds one writer's one file, each file once.
	seen := map[string]int64{}
	for v := int64(1); v <= int64(writers*commits); v++ {
		data, err := s.Get(t.Context(), fmt.Sprintf("race/_delta_log/%020d.json", v))
		if err != nil {
			t.Fatal(err)
		}
		actions, err := delta.ParseActions(data)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range actions {
			if a.Add != nil {
				n++
				if prev, dup := seen[a.Add.Path]; dup {
					t.Fatalf("%s committed at versions %d and %d", a.Add.Path, prev, v)
				}
				seen[a.Add.Path] = v
			}
		}
		if n != 1 {
			t.Fatalf("version %d adds %d files, want 1", v, n)
		}
	}
}

// TestTxnIsIdempotent: a batch whose txn the table holds is refused, from
// a fresh snapshot (checked before writing) and from a stale one (found in
// the winning commit), and the table does not change.
func TestTxnIsIdempotent(t *testing.T) {
	s, _ := fileStore(t)
	tbl, snap0 := newStreamTable(t, s, "stream", nil)
	batch := func(id int64) delta.Commit {
		c := appendCommit(simpleAdd(fmt.Sprintf("date=2024-11-21/part-%010d-000-q.parquet", id), "2024-11-21", 10))
		c.Operation = delta.StreamingUpdate("Append", "q", id)
		c.Actions = append(c.Actions, delta.Action{Txn: &delta.Txn{AppID: "q", Version: id}})
		return c
	}
	for id := range int64(3) {
		snap := mustSnapshot(t, tbl)
		if _, err := tbl.Commit(t.Context(), snap, batch(id)); err != nil {
			t.Fatalf("batch %d: %v", id, err)
		}
	}
	latest := mustSnapshot(t, tbl)
	_, err := tbl.Commit(t.Context(), latest, batch(1))
	var tce *delta.TxnCommittedError
	if !errors.As(err, &tce) || !errors.Is(err, delta.ErrTxnCommitted) || tce.Committed != 2 || tce.Version != 1 {
		t.Fatalf("re-run of batch 1 on the latest snapshot: %v, want a TxnCommittedError (committed 2)", err)
	}
	// From the snapshot before any batch: the winners hold the txn.
	_, err = tbl.Commit(t.Context(), snap0, batch(2))
	if !errors.As(err, &tce) || tce.Committed < 2 {
		t.Fatalf("re-run of batch 2 on a stale snapshot: %v, want a TxnCommittedError", err)
	}
	// From the snapshot just before batch 2: the one winner holds it.
	beforeBatch2, err := tbl.SnapshotAt(t.Context(), latest.Version()-1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tbl.Commit(t.Context(), beforeBatch2, batch(2))
	if !errors.As(err, &tce) || tce.Committed != 2 {
		t.Fatalf("re-run of batch 2 on the snapshot before it: %v, want a TxnCommittedError", err)
	}
	after := mustSnapshot(t, tbl)
	if after.Version() != latest.Version() || after.NumFiles() != 3 {
		t.Fatalf("refused commits changed the table: version %d, %d files", after.Version(), after.NumFiles())
	}
	// The next batch goes through.
	if res, err := tbl.Commit(t.Context(), after, batch(3)); err != nil || res.Version != latest.Version()+1 {
		t.Fatalf("batch 3: %+v, %v", res, err)
	}
}

// TestConflictRules plays the protocol's conflict cases: each starts from
// one snapshot, commits a "winner" from it, then a "loser" from the same
// (now stale) snapshot.
func TestConflictRules(t *testing.T) {
	existing := []delta.Add{simpleAdd("date=2024-11-20/a.parquet", "2024-11-20", 10), simpleAdd("date=2024-11-20/b.parquet", "2024-11-20", 20)}
	blindAppend := func(name string) delta.Commit {
		return appendCommit(simpleAdd("date=2024-11-21/"+name+".parquet", "2024-11-21", 5))
	}
	optimize := func(snap *delta.Snapshot, out string) delta.Commit {
		c := delta.Commit{Operation: delta.Operation{Name: "OPTIMIZE", Parameters: map[string]string{"predicate": "[]"}}}
		for _, a := range snap.Files() {
			if a.PartitionValues["date"] == "2024-11-20" {
				rm := delta.RemoveOf(a, t0, false)
				c.Actions = append(c.Actions, delta.Action{Remove: &rm})
			}
		}
		add := simpleAdd("date=2024-11-20/"+out+".parquet", "2024-11-20", 30)
		add.DataChange = false
		c.Actions = append(c.Actions, delta.Action{Add: &add})
		return c
	}
	overwrite := func(snap *delta.Snapshot, out string) delta.Commit {
		c := delta.Commit{Operation: delta.Write("Overwrite", nil), ReadWholeTable: true}
		for _, a := range snap.Files() {
			rm := delta.RemoveOf(a, t0, true)
			c.Actions = append(c.Actions, delta.Action{Remove: &rm})
		}
		add := simpleAdd("date=2024-11-22/"+out+".parquet", "2024-11-22", 40)
		c.Actions = append(c.Actions, delta.Action{Add: &add})
		return c
	}
	deleteFile := func(snap *delta.Snapshot, path string) delta.Commit {
		c := delta.Commit{Operation: delta.Operation{Name: "DELETE"}}
		for _, a := range snap.Files() {
			if a.Path == path {
				rm := delta.RemoveOf(a, t0, true)
				c.Actions = append(c.Actions, delta.Action{Remove: &rm})
			}
		}
		return c
	}
	// An append that depends on what it read (not blind): it read one
	// partition, and adds to another.
	dependentAppend := func(date string) delta.Commit {
		c := appendCommit(simpleAdd("date="+date+"/dep.parquet", date, 5))
		c.ReadPartitions = func(pv delta.PartitionValues) bool { return pv["date"] == "2024-11-22" }
		return c
	}
	// A DELETE of partition 2024-11-20 that read only that partition.
	deletePartition := func(snap *delta.Snapshot) delta.Commit {
		c := delta.Commit{Operation: delta.Operation{Name: "DELETE"},
			ReadPartitions: func(pv delta.PartitionValues) bool { return pv["date"] == "2024-11-20" }}
		for _, a := range snap.Files() {
			if a.PartitionValues["date"] == "2024-11-20" {
				rm := delta.RemoveOf(a, t0, true)
				c.Actions = append(c.Actions, delta.Action{Remove: &rm})
			}
		}
		return c
	}
	setProperty := func(snap *delta.Snapshot) delta.Commit {
		md := snap.Metadata()
		md.Configuration = map[string]string{"owner": "lab"}
		return delta.Commit{Operation: delta.Operation{Name: "SET TBLPROPERTIES"}, Actions: []delta.Action{{Metadata: &md}}}
	}
	cases := []struct {
		name          string
		conf          map[string]string
		winner, loser func(*delta.Snapshot) delta.Commit
		wantKind      string // "" for success
		wantFiles     int    // after both, when the loser succeeds
	}{
		{"append after append", nil,
			func(*delta.Snapshot) delta.Commit { return blindAppend("w") },
			func(*delta.Snapshot) delta.Commit { return blindAppend("l") }, "", 4},
		{"append after OPTIMIZE of other files", nil,
			func(s *delta.Snapshot) delta.Commit { return optimize(s, "opt") },
			func(*delta.Snapshot) delta.Commit { return blindAppend("l") }, "", 2},
		{"OPTIMIZE after append", nil,
			func(*delta.Snapshot) delta.Commit { return blindAppend("w") },
			func(s *delta.Snapshot) delta.Commit { return optimize(s, "opt") }, "", 2},
		{"OPTIMIZE after DELETE of a file it compacts", nil,
			func(s *delta.Snapshot) delta.Commit { return deleteFile(s, "date=2024-11-20/a.parquet") },
			func(s *delta.Snapshot) delta.Commit { return optimize(s, "opt") }, "ConcurrentDeleteDelete", 0},
		{"overwrite after overwrite", nil,
			func(s *delta.Snapshot) delta.Commit { return overwrite(s, "w") },
			func(s *delta.Snapshot) delta.Commit { return overwrite(s, "l") }, "ConcurrentDeleteDelete", 0},
		{"overwrite after append (Serializable)", nil,
			func(*delta.Snapshot) delta.Commit { return blindAppend("w") },
			func(s *delta.Snapshot) delta.Commit { return overwrite(s, "l") }, "ConcurrentAppend", 0},
		{"overwrite after append (WriteSerializable)", map[string]string{delta.PropIsolationLevel: delta.WriteSerializable},
			func(*delta.Snapshot) delta.Commit { return blindAppend("w") },
			func(s *delta.Snapshot) delta.Commit { return overwrite(s, "l") }, "", 2},
		{"overwrite after a dependent append (WriteSerializable)", map[string]string{delta.PropIsolationLevel: delta.WriteSerializable},
			func(*delta.Snapshot) delta.Commit { return dependentAppend("2024-11-21") },
			func(s *delta.Snapshot) delta.Commit { return overwrite(s, "l") }, "ConcurrentAppend", 0},
		{"partition DELETE after an append to another partition", nil,
			func(*delta.Snapshot) delta.Commit { return blindAppend("w") },
			func(s *delta.Snapshot) delta.Commit { return deletePartition(s) }, "", 1},
		{"partition DELETE after an append to that partition", nil,
			func(*delta.Snapshot) delta.Commit {
				return appendCommit(simpleAdd("date=2024-11-20/late.parquet", "2024-11-20", 5))
			},
			func(s *delta.Snapshot) delta.Commit { return deletePartition(s) }, "ConcurrentAppend", 0},
		{"overwrite after OPTIMIZE", nil,
			func(s *delta.Snapshot) delta.Commit { return optimize(s, "opt") },
			func(s *delta.Snapshot) delta.Commit { return overwrite(s, "l") }, "ConcurrentDeleteDelete", 0},
		{"append after a metadata change", nil,
			func(s *delta.Snapshot) delta.Commit { return setProperty(s) },
			func(*delta.Snapshot) delta.Commit { return blindAppend("l") }, "MetadataChanged", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := fileStore(t)
			tbl, snap := newStreamTable(t, s, "t", tc.conf)
			if _, err := tbl.Commit(t.Context(), snap, appendCommit(existing...)); err != nil {
				t.Fatal(err)
			}
			base := mustSnapshot(t, tbl)
			if _, err := tbl.Commit(t.Context(), base, tc.winner(base)); err != nil {
				t.Fatalf("winner: %v", err)
			}
			res, err := tbl.Commit(t.Context(), base, tc.loser(base))
			if tc.wantKind == "" {
				if err != nil {
					t.Fatalf("loser: %v, want success", err)
				}
				if res.Version != base.Version()+2 || res.Attempts != 2 {
					t.Fatalf("loser committed %+v, want version %d on its second attempt", res, base.Version()+2)
				}
				if got := mustSnapshot(t, tbl).NumFiles(); got != tc.wantFiles {
					t.Fatalf("%d files after both commits, want %d", got, tc.wantFiles)
				}
				return
			}
			var ce *delta.ConflictError
			if !errors.As(err, &ce) || !errors.Is(err, delta.ErrConflict) || ce.Kind != tc.wantKind || ce.Version != base.Version()+1 {
				t.Fatalf("loser: %v, want a %s conflict with version %d", err, tc.wantKind, base.Version()+1)
			}
			if v := mustSnapshot(t, tbl).Version(); v != base.Version()+1 {
				t.Fatalf("the refused commit left the table at version %d, want %d", v, base.Version()+1)
			}
		})
	}
}

// TestConcurrentCreateConflicts: two writers creating one table: the second
// learns the protocol changed under it.
func TestConcurrentCreateConflicts(t *testing.T) {
	s, _ := fileStore(t)
	newStreamTable(t, s, "t", nil)
	tbl := delta.NewTable(s, "t")
	md, err := tbl.NewMetadata(windowSchema(t), []string{"date"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tbl.Commit(t.Context(), nil, delta.Commit{Operation: delta.Operation{Name: "CREATE TABLE"}, Actions: []delta.Action{{Metadata: &md}}})
	var ce *delta.ConflictError
	if !errors.As(err, &ce) || ce.Kind != "ProtocolChanged" || ce.Version != 0 {
		t.Fatalf("second create: %v, want a ProtocolChanged conflict with version 0", err)
	}
}

// TestCommitRejectsBadActions: what the protocol forbids in one commit, and
// a remove on an append-only table.
func TestCommitRejectsBadActions(t *testing.T) {
	s, _ := fileStore(t)
	tbl, snap := newStreamTable(t, s, "t", map[string]string{delta.PropAppendOnly: "true"})
	a := simpleAdd("date=2024-11-21/a.parquet", "2024-11-21", 1)
	if _, err := tbl.Commit(t.Context(), snap, appendCommit(a)); err != nil {
		t.Fatal(err)
	}
	snap = mustSnapshot(t, tbl)
	noDate := simpleAdd("x.parquet", "", 1)
	noDate.PartitionValues = nil
	abs := simpleAdd("s3://elsewhere/x.parquet", "2024-11-21", 1)
	abs.Path = "s3://elsewhere/x.parquet"
	rm := delta.RemoveOf(snap.Files()[0], t0, true)
	for name, c := range map[string]delta.Commit{
		"duplicate add":       appendCommit(a, a),
		"missing partition":   appendCommit(noDate),
		"absolute path":       appendCommit(abs),
		"no operation":        {Actions: []delta.Action{{Add: &a}}},
		"remove, append-only": {Operation: delta.Operation{Name: "DELETE"}, Actions: []delta.Action{{Remove: &rm}}},
	} {
		if _, err := tbl.Commit(t.Context(), snap, c); err == nil {
			t.Errorf("%s: committed, want an error", name)
		}
	}
	if v := mustSnapshot(t, tbl).Version(); v != snap.Version() {
		t.Fatalf("rejected commits moved the table to version %d", v)
	}
}

// TestUpdateAppliesNewCommits: Update reads only what was committed since.
func TestUpdateAppliesNewCommits(t *testing.T) {
	s, _ := fileStore(t)
	tbl, snap := newStreamTable(t, s, "t", nil)
	if same, err := snap.Update(t.Context()); err != nil || same != snap {
		t.Fatalf("Update with nothing new = %v, %v; want the same snapshot", same, err)
	}
	other := delta.NewTable(s, "t")
	for i := range 3 {
		cur := mustSnapshot(t, other)
		if _, err := other.Commit(t.Context(), cur, appendCommit(simpleAdd(fmt.Sprintf("date=2024-11-21/%d.parquet", i), "2024-11-21", 1))); err != nil {
			t.Fatal(err)
		}
	}
	up, err := snap.Update(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if up.Version() != 3 || up.NumFiles() != 3 || snap.NumFiles() != 0 {
		t.Fatalf("Update: version %d, %d files (old snapshot %d files); want 3, 3 and an unchanged 0", up.Version(), up.NumFiles(), snap.NumFiles())
	}
	if got, want := paths(up.Files()), paths(mustSnapshot(t, tbl).Files()); !slices.Equal(got, want) {
		t.Fatalf("Update's files %v, a fresh snapshot's %v", got, want)
	}
}
