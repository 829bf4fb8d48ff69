package delta_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
)

// ageObject sets a file store object's modification time.
func ageObject(t *testing.T, dir, key string, tm time.Time) {
	t.Helper()
	if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(key)), tm, tm); err != nil {
		t.Fatal(err)
	}
}

func putObject(t *testing.T, s lake.Store, key string) {
	t.Helper()
	if err := s.Put(t.Context(), key, []byte("not referenced by any commit")); err != nil {
		t.Fatal(err)
	}
}

func exists(t *testing.T, s lake.Store, key string) bool {
	t.Helper()
	_, err := s.Stat(t.Context(), key)
	if err != nil && !errors.Is(err, lake.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func decoded(t *testing.T, adds []delta.Add) []string {
	t.Helper()
	var out []string
	for _, a := range adds {
		p, err := delta.DecodePath(a.Path)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// TestVacuumDeletesWhatNoSnapshotNeeds: files an OPTIMIZE removed stay
// until their tombstones expire, then go; an untracked file goes once old
// (a crashed writer's) and stays while fresh (a running writer's); hidden
// files and live files stay; the table still reads every live file; the
// history shows VACUUM START/END; time travel to a version whose files
// were vacuumed still loads, and reading its files fails.
func TestVacuumDeletesWhatNoSnapshotNeeds(t *testing.T) {
	s, dir := fileStore(t)
	now := time.Now()
	clk := newClock(now, 0)
	tbl, _ := newStreamTable(t, s, "stream", nil, delta.WithClock(clk.Now))
	appendFiles(t, s, tbl, "a", []string{"2024-11-20", "2024-11-21"}, 3, 5)
	old := mustSnapshot(t, tbl)
	if _, err := tbl.Optimize(t.Context(), delta.OptimizeOptions{}); err != nil {
		t.Fatal(err)
	}
	live := mustSnapshot(t, tbl)
	rows := tableRows(t, s, live)
	putObject(t, s, "stream/date=2024-11-20/crashed-old.parquet")
	ageObject(t, dir, "stream/date=2024-11-20/crashed-old.parquet", now.Add(-8*24*time.Hour))
	putObject(t, s, "stream/date=2024-11-20/in-flight.parquet") // fresh: a writer's, not yet committed
	putObject(t, s, "stream/_change_data/cdc-old.parquet")      // Delta vacuums change data too
	ageObject(t, dir, "stream/_change_data/cdc-old.parquet", now.Add(-8*24*time.Hour))
	hiddenKeys := []string{"stream/_tmp/x.parquet", "stream/.hidden", "stream/date=2024-11-20/.part-0.crc", "stream/date=2024-11-20/_SUCCESS"}
	for _, k := range hiddenKeys {
		putObject(t, s, k)
		ageObject(t, dir, k, now.Add(-30*24*time.Hour))
	}
	// Live files are kept however old, and so are removed ones while their
	// tombstones are fresh.
	for _, a := range append(live.Files(), old.Files()...) {
		key, _ := tbl.DataKey(a.Path)
		ageObject(t, dir, key, now.Add(-30*24*time.Hour))
	}

	// Now: the removed files' tombstones are fresh.
	res, err := tbl.Vacuum(t.Context(), delta.VacuumOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"_change_data/cdc-old.parquet", "date=2024-11-20/crashed-old.parquet"}
	if !slices.Equal(res.Files, want) || res.DryRun || res.Retention != 7*24*time.Hour || res.Bytes != 2*int64(len("not referenced by any commit")) {
		t.Fatalf("VACUUM now: %+v, want only %q deleted with the default 7 days", res, want)
	}
	for _, rel := range decoded(t, old.Files()) {
		if !exists(t, s, "stream/"+rel) {
			t.Fatalf("removed file %s deleted before its tombstone expired", rel)
		}
	}
	if !exists(t, s, "stream/date=2024-11-20/in-flight.parquet") {
		t.Fatal("a fresh untracked file (a running writer's) was deleted")
	}

	// Eight days on, the tombstones have expired: the removed files go, and
	// the untracked file is old now.
	clk.Set(now.Add(8 * 24 * time.Hour))
	res, err = tbl.Vacuum(t.Context(), delta.VacuumOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want = append(decoded(t, old.Files()), "date=2024-11-20/in-flight.parquet")
	slices.Sort(want)
	if !slices.Equal(res.Files, want) {
		t.Fatalf("VACUUM after 8 days deleted %q, want %q", res.Files, want)
	}
	for _, rel := range want {
		if exists(t, s, "stream/"+rel) {
			t.Errorf("%s is still stored", rel)
		}
	}
	for _, k := range hiddenKeys {
		if !exists(t, s, k) {
			t.Errorf("hidden %s was deleted", k)
		}
	}
	after := mustSnapshot(t, tbl)
	if got := tableRows(t, s, after); !maps.Equal(got, rows) {
		t.Fatal("the rows after VACUUM differ from before")
	}
	if res.Directories != 3 { // the root and the 2 partitions (_change_data went in the first run)
		t.Errorf("%d directories looked through, want 3", res.Directories)
	}

	// DESCRIBE HISTORY shows both runs.
	h, err := tbl.History(t.Context(), 4)
	if err != nil {
		t.Fatal(err)
	}
	ops := []string{h[3].CommitInfo.Operation, h[2].CommitInfo.Operation, h[1].CommitInfo.Operation, h[0].CommitInfo.Operation}
	if !slices.Equal(ops, []string{"VACUUM START", "VACUUM END", "VACUUM START", "VACUUM END"}) {
		t.Fatalf("history %q, want two VACUUM START/END pairs", ops)
	}
	start, end := h[1].CommitInfo, h[0].CommitInfo
	if start.OperationMetrics["numFilesToDelete"] != "7" || start.OperationParameters["retentionCheckEnabled"] != "true" ||
		start.OperationParameters["defaultRetentionMillis"] != ms(7*24*time.Hour) || start.OperationParameters["specifiedRetentionMillis"] != "" ||
		end.OperationParameters["status"] != "COMPLETED" || end.OperationMetrics["numDeletedFiles"] != "7" ||
		end.OperationMetrics["numVacuumedDirectories"] == "" || res.EndVersion != h[0].Version || res.StartVersion != h[1].Version {
		t.Fatalf("VACUUM START %+v / END %+v, result %+v", start, end, res)
	}

	// Time travel to before OPTIMIZE: the snapshot loads (the log is not
	// VACUUM's), its files are gone.
	back, err := tbl.SnapshotAt(t.Context(), old.Version())
	if err != nil {
		t.Fatalf("SnapshotAt(%d) after VACUUM: %v", old.Version(), err)
	}
	key, _ := tbl.DataKey(back.Files()[0].Path)
	if _, err := s.Get(t.Context(), key); !errors.Is(err, lake.ErrNotExist) {
		t.Fatalf("reading a vacuumed file of version %d: %v, want ErrNotExist", old.Version(), err)
	}
}

// optimizedTable makes a table whose OPTIMIZE (at clk's time) removed 6
// small files, and returns the snapshot before it.
func optimizedTable(t *testing.T, s lake.Store, root string, conf map[string]string, clk *clock) (*delta.Table, *delta.Snapshot) {
	t.Helper()
	tbl, _ := newStreamTable(t, s, root, conf, delta.WithClock(clk.Now))
	appendFiles(t, s, tbl, "a", []string{"2024-11-20", "2024-11-21"}, 3, 5)
	old := mustSnapshot(t, tbl)
	if res, err := tbl.Optimize(t.Context(), delta.OptimizeOptions{}); err != nil || res.FilesRemoved != 6 {
		t.Fatalf("OPTIMIZE: %+v, %v", res, err)
	}
	return tbl, old
}

// TestVacuumDryRunDeletesNothing: a dry run lists what the real run then
// deletes, and deletes and commits nothing.
func TestVacuumDryRunDeletesNothing(t *testing.T) {
	s, _ := fileStore(t)
	now := time.Now()
	clk := newClock(now, 0)
	tbl, old := optimizedTable(t, s, "stream", nil, clk)
	putObject(t, s, "stream/date=2024-11-21/crashed.parquet")
	clk.Set(now.Add(8 * 24 * time.Hour))
	before := mustSnapshot(t, tbl)
	objs, _ := s.List(t.Context(), "stream/")

	dry, err := tbl.Vacuum(t.Context(), delta.VacuumOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	want := append(decoded(t, old.Files()), "date=2024-11-21/crashed.parquet")
	slices.Sort(want)
	if !dry.DryRun || !slices.Equal(dry.Files, want) || dry.StartVersion != -1 {
		t.Fatalf("dry run: %+v, want %q listed", dry, want)
	}
	objsAfter, _ := s.List(t.Context(), "stream/")
	if len(objsAfter) != len(objs) || mustSnapshot(t, tbl).Version() != before.Version() {
		t.Fatalf("the dry run changed the store (%d -> %d objects) or the table", len(objs), len(objsAfter))
	}
	real, err := tbl.Vacuum(t.Context(), delta.VacuumOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(real.Files, dry.Files) || real.Bytes != dry.Bytes || real.DryRun {
		t.Fatalf("the real run deleted %q (%d bytes), the dry run listed %q (%d bytes)", real.Files, real.Bytes, dry.Files, dry.Bytes)
	}
}

// TestVacuumRetention: a retention shorter than the table's is refused
// unless forced, naming both; the table's property is the default; a
// longer retention keeps more.
func TestVacuumRetention(t *testing.T) {
	s, _ := fileStore(t)
	now := time.Now()
	clk := newClock(now, 0)
	tbl, old := optimizedTable(t, s, "stream", map[string]string{delta.PropDeletedFileRetentionDuration: "interval 2 hours"}, clk)
	removed := decoded(t, old.Files())
	clk.Set(now.Add(3 * time.Hour))
	before := mustSnapshot(t, tbl)

	hour := time.Hour
	_, err := tbl.Vacuum(t.Context(), delta.VacuumOptions{Retention: &hour})
	if !errors.Is(err, delta.ErrRetentionTooShort) || !strings.Contains(err.Error(), "1 hour") ||
		!strings.Contains(err.Error(), "delta.deletedFileRetentionDuration = 2 hours") || !strings.Contains(err.Error(), "force") {
		t.Fatalf("retention 1h on a 2h table: %v; want ErrRetentionTooShort naming both and how to force", err)
	}
	if _, err := tbl.Vacuum(t.Context(), delta.VacuumOptions{Retention: &hour, DryRun: true}); !errors.Is(err, delta.ErrRetentionTooShort) {
		t.Fatalf("dry run with retention 1h: %v, want it refused too", err)
	}
	if mustSnapshot(t, tbl).Version() != before.Version() || !exists(t, s, "stream/"+removed[0]) {
		t.Fatal("a refused VACUUM committed or deleted something")
	}

	long := 4 * time.Hour // longer than the table's: the 3-hour-old files stay
	res, err := tbl.Vacuum(t.Context(), delta.VacuumOptions{Retention: &long})
	if err != nil || len(res.Files) != 0 {
		t.Fatalf("retention 4h: %+v, %v; want nothing deleted", res, err)
	}
	if p := lastCommit(t, tbl); p.CommitInfo.Operation != "VACUUM END" {
		t.Fatalf("last commit %s", p.CommitInfo.Operation)
	}
	res, err = tbl.Vacuum(t.Context(), delta.VacuumOptions{}) // the table's 2 hours
	if err != nil || !slices.Equal(res.Files, removed) || res.Retention != 2*time.Hour {
		t.Fatalf("table retention: %+v, %v; want the %d removed files deleted", res, err, len(removed))
	}

	// Forced below the table's retention.
	tbl2, old2 := optimizedTable(t, s, "forced", nil, clk)
	clk.Set(now.Add(3*time.Hour + time.Minute))
	zero := time.Duration(0)
	res, err = tbl2.Vacuum(t.Context(), delta.VacuumOptions{Retention: &zero, Force: true})
	if err != nil || len(res.Files) != len(old2.Files()) {
		t.Fatalf("forced retention 0: %+v, %v; want the %d removed files deleted", res, err, len(old2.Files()))
	}
	h, _ := tbl2.History(t.Context(), 2)
	if ps := h[1].CommitInfo.OperationParameters; ps["retentionCheckEnabled"] != "false" || ps["specifiedRetentionMillis"] != "0" {
		t.Fatalf("VACUUM START parameters %v, want the check off and the retention given", ps)
	}
	neg := -time.Hour
	if _, err := tbl2.Vacuum(t.Context(), delta.VacuumOptions{Retention: &neg, Force: true}); err == nil {
		t.Fatal("a negative retention was accepted")
	}
}

// TestVacuumResolvesAbsolutePaths: a log (as Spark may write it) naming
// files by absolute URIs inside the table: they are the table's files and
// stay; files outside the table are never touched.
func TestVacuumResolvesAbsolutePaths(t *testing.T) {
	s, dir := fileStore(t)
	now := time.Now()
	base := "file:" + filepath.ToSlash(dir)
	old := now.Add(-30 * 24 * time.Hour).UnixMilli()
	writeLog(t, s, "tbl", map[string][]string{commitName(0): {
		`{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}`,
		`{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"v\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":[],"configuration":{},"createdTime":1}}`,
		`{"add":{"path":"` + base + `/tbl/abs%20live.parquet","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true}}`,
		`{"add":{"path":"` + base + `/elsewhere/outside.parquet","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true}}`,
		`{"remove":{"path":"` + base + `/tbl/abs-removed.parquet","deletionTimestamp":` + strconv.FormatInt(now.UnixMilli(), 10) + `,"dataChange":true}}`,
		`{"remove":{"path":"` + base + `/tbl/abs-expired.parquet","deletionTimestamp":` + strconv.FormatInt(old, 10) + `,"dataChange":true}}`,
	}})
	keys := []string{"tbl/abs live.parquet", "elsewhere/outside.parquet", "tbl/abs-removed.parquet", "tbl/abs-expired.parquet", "tbl/untracked.parquet"}
	for _, k := range keys {
		putObject(t, s, k)
		ageObject(t, dir, k, now.Add(-30*24*time.Hour))
	}
	res, err := delta.NewTable(s, "tbl").Vacuum(t.Context(), delta.VacuumOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"abs-expired.parquet", "untracked.parquet"}; !slices.Equal(res.Files, want) {
		t.Fatalf("deleted %q, want %q", res.Files, want)
	}
	for _, k := range keys[:3] {
		if !exists(t, s, k) {
			t.Errorf("%s was deleted", k)
		}
	}
}

// TestVacuumByClock (file store; MinIO in minio_test.go).
func TestVacuumByClock(t *testing.T) {
	s, _ := fileStore(t)
	vacuumByClock(t, s)
}

// vacuumByClock runs VACUUM on a store whose object times cannot be set:
// the table's clock moves instead. At the objects' time nothing is old
// enough; eight days later the removed and untracked files go, and every
// live file still reads.
func vacuumByClock(t *testing.T, s lake.Store) {
	now := time.Now()
	clk := newClock(now, 0)
	tbl, old := optimizedTable(t, s, "vacuum", nil, clk)
	putObject(t, s, "vacuum/date=2024-11-20/crashed.parquet")
	live := mustSnapshot(t, tbl)
	rows := tableRows(t, s, live)
	res, err := tbl.Vacuum(t.Context(), delta.VacuumOptions{})
	if err != nil || len(res.Files) != 0 {
		t.Fatalf("VACUUM of fresh files: %+v, %v; want nothing deleted", res, err)
	}
	clk.Set(now.Add(8 * 24 * time.Hour))
	res, err = tbl.Vacuum(t.Context(), delta.VacuumOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := append(decoded(t, old.Files()), "date=2024-11-20/crashed.parquet")
	slices.Sort(want)
	if !slices.Equal(res.Files, want) {
		t.Fatalf("deleted %q, want %q", res.Files, want)
	}
	objs, err := s.List(t.Context(), "vacuum/date=")
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, o := range objs {
		left = append(left, strings.TrimPrefix(o.Key, "vacuum/"))
	}
	if !slices.Equal(left, decoded(t, live.Files())) {
		t.Fatalf("data objects left %q, want the live files %q", left, decoded(t, live.Files()))
	}
	if got := tableRows(t, s, mustSnapshot(t, tbl)); !maps.Equal(got, rows) {
		t.Fatal("rows changed")
	}
}

// failingDeletes fails every Delete of a key containing bad.
type failingDeletes struct {
	lake.Store
	bad string
}

func (f failingDeletes) Delete(ctx context.Context, key string) error {
	if strings.Contains(key, f.bad) {
		return errors.New("injected: permission denied")
	}
	return f.Store.Delete(ctx, key)
}

// TestVacuumRecordsAFailure: a delete that fails makes Vacuum return the
// error and record VACUUM END with status FAILED, as Delta does.
func TestVacuumRecordsAFailure(t *testing.T) {
	s, _ := fileStore(t)
	now := time.Now()
	clk := newClock(now, 0)
	optimizedTable(t, s, "stream", nil, clk)
	clk.Set(now.Add(8 * 24 * time.Hour))
	tbl := delta.NewTable(failingDeletes{s, "a-1"}, "stream", delta.WithClock(clk.Now))
	res, err := tbl.Vacuum(t.Context(), delta.VacuumOptions{})
	if err == nil || !strings.Contains(err.Error(), "permission denied") || !strings.Contains(err.Error(), "4 of 6 files deleted") {
		t.Fatalf("Vacuum = %v, want the injected error and how far it got", err)
	}
	end := lastCommit(t, tbl)
	if end.CommitInfo.Operation != "VACUUM END" || end.CommitInfo.OperationParameters["status"] != "FAILED" || res.EndVersion != end.Version {
		t.Fatalf("last commit %+v (result %+v), want VACUUM END with status FAILED", end.CommitInfo, res)
	}
}
