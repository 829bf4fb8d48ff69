package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/tests/e2e/internal/deltaread"
)

// maintain runs a batcher maintenance command (optimize, vacuum, history,
// detail) on the pipeline's lake and waits for it to exit 0.
func (p *pipeline) maintain(ctx context.Context, cmd string, args ...string) *proc {
	p.t.Helper()
	b := start(p.t, "batcher", p.env, append([]string{cmd, "--lake", p.lakeURL}, args...)...)
	b.mustSucceed(p.t, ctx)
	return b
}

// sameRows fails unless two reads of the stream table hold the same window
// rows.
func (p *pipeline) sameRows(what string, a, b map[winKey]contract.WindowRow) {
	p.t.Helper()
	if !maps.Equal(a, b) {
		for k, r := range a {
			if b[k] != r {
				p.t.Fatalf("%s: window (%d, %s) was %+v, is %+v", what, k.start, k.sensor, r, b[k])
			}
		}
		p.t.Fatalf("%s: %d window rows before, %d after", what, len(a), len(b))
	}
}

// maintainStream runs what a user does to a stream table that has been
// written for a while, on a pipeline's local lake whose streamer has
// finished (p.verify passed): `batcher detail`, `batcher optimize`, time
// travel to before it, `batcher vacuum` (refused below the retention
// without --force, a dry run, then --retain 0s --force), and log cleanup,
// which the streamer's next checkpoint does once the log's files are older
// than the table's retention (aged here by hand). After each step the
// independent reader agrees with lake/delta and the rows are unchanged;
// then more readings go through and the whole lake is verified again,
// with a time-travelling batcher run in between.
func (p *pipeline) maintainStream(ctx context.Context, next faultStream) {
	t := p.t
	t.Helper()
	dir, ok := strings.CutPrefix(p.lakeURL, "file://")
	if !ok {
		t.Fatalf("maintainStream ages log files by hand: it needs a file:// lake, not %s", p.lakeURL)
	}
	before := readStream(t, ctx, p.store, -1)
	if before.Snap.Checkpoint < 10 {
		t.Fatalf("the stream table was read from checkpoint %d at version %d: the test needs more than 10 commits",
			before.Snap.Checkpoint, before.Snap.Version)
	}
	p.checkDetail(ctx, before.Snap)

	// OPTIMIZE: one commit, dataChange=false, same rows in fewer files.
	p.maintain(ctx, "optimize")
	after := readStream(t, ctx, p.store, -1)
	p.sameRows("after optimize", before.Rows, after.Rows)
	if after.Snap.Version != before.Snap.Version+1 || len(after.Snap.Files) >= len(before.Snap.Files) {
		t.Fatalf("optimize: version %d -> %d, live files %d -> %d: want one commit and fewer files",
			before.Snap.Version, after.Snap.Version, len(before.Snap.Files), len(after.Snap.Files))
	}
	hist, err := deltaread.History(ctx, p.store, streamTable)
	if err != nil {
		t.Fatal(err)
	}
	opt := hist[len(hist)-1]
	if opt.Operation() != "OPTIMIZE" || len(opt.Removes) == 0 {
		t.Fatalf("version %d: %s with %d removes, want OPTIMIZE", opt.Version, opt.Operation(), len(opt.Removes))
	}
	for _, r := range opt.Removes {
		if r.DataChange {
			t.Fatalf("OPTIMIZE removes %s with dataChange=true", r.Path)
		}
	}
	for _, a := range opt.Adds {
		if a.DataChange {
			t.Fatalf("OPTIMIZE adds %s with dataChange=true", a.Path)
		}
	}
	// Time travel: the version before the optimize reads the same rows
	// from the files it had.
	old := readStream(t, ctx, p.store, before.Snap.Version)
	p.sameRows("time travel to before the optimize", after.Rows, old.Rows)

	// VACUUM: below the default retention it is refused without --force;
	// a dry run lists the optimize's inputs and deletes nothing; with
	// --retain 0s --force they are gone, and the live files remain.
	var gone []string // keys, relative to the table
	for _, r := range after.Snap.Tombstones {
		gone = append(gone, r.Key)
	}
	if len(gone) != len(opt.Removes) {
		t.Fatalf("%d tombstones after the optimize removed %d files", len(gone), len(opt.Removes))
	}
	refused := start(t, "batcher", p.env, "vacuum", "--lake", p.lakeURL, "--retain", "0s")
	if code := refused.wait(t, ctx); code == 0 {
		t.Fatalf("vacuum --retain 0s without --force exited 0:\n%s", refused.Tail())
	}
	for _, want := range []string{"retention", "force"} {
		if !strings.Contains(refused.Stderr(), want) {
			t.Fatalf("vacuum --retain 0s refused without saying %q:\n%s", want, refused.Tail())
		}
	}
	// A data file no commit added, as a writer that died before its commit
	// leaves one, goes too; a hidden directory is not the table's.
	live := after.Snap.LiveFiles()[0]
	b, err := p.store.Get(ctx, streamTable+"/"+live.Key)
	if err != nil {
		t.Fatal(err)
	}
	orphan := streamTable + "/date=" + live.PartitionValues["date"] + "/part-never-committed.parquet"
	hidden := streamTable + "/_not_the_table/part-kept.parquet"
	for _, k := range []string{orphan, hidden} {
		if err := p.store.Put(ctx, k, b); err != nil {
			t.Fatal(err)
		}
	}
	gone = append(gone, strings.TrimPrefix(orphan, streamTable+"/"))
	dry := p.maintain(ctx, "vacuum", "--retain", "0s", "--force", "--dry-run").Stdout()
	for _, k := range gone {
		if !strings.Contains(dry, filepath.Base(k)) {
			t.Fatalf("vacuum --dry-run does not list %s:\n%s", k, dry)
		}
		if _, err := p.store.Stat(ctx, streamTable+"/"+k); err != nil {
			t.Fatalf("vacuum --dry-run deleted %s: %v", k, err)
		}
	}
	p.maintain(ctx, "vacuum", "--retain", "0s", "--force")
	for _, k := range gone {
		if _, err := p.store.Stat(ctx, streamTable+"/"+k); err == nil {
			t.Fatalf("vacuum --retain 0s --force left %s, which no snapshot needs", k)
		}
	}
	if _, err := p.store.Stat(ctx, hidden); err != nil {
		t.Fatalf("vacuum deleted %s, in a hidden directory: %v", hidden, err)
	}
	vacuumed := readStream(t, ctx, p.store, -1) // reads every live file: none was deleted
	p.sameRows("after vacuum", after.Rows, vacuumed.Rows)

	// Log cleanup: every commit so far made older than any retention; the
	// streamer's next checkpoint deletes what the newest checkpoint before
	// them covers.
	logDir := filepath.Join(dir, streamTable, "_delta_log")
	aged := time.Now().AddDate(-1, 0, 0)
	ents, err := os.ReadDir(logDir)
	if err != nil {
		t.Fatal(err)
	}
	commitName := regexp.MustCompile(`^(\d{20})\.json$`)
	for _, e := range ents {
		if m := commitName.FindStringSubmatch(e.Name()); m != nil {
			v, _ := strconv.ParseInt(m[1], 10, 64)
			tm := aged.Add(time.Duration(v) * time.Second)
			if err := os.Chtimes(filepath.Join(logDir, e.Name()), tm, tm); err != nil {
				t.Fatal(err)
			}
		}
	}
	lastOld := vacuumed.Snap.Version

	// More readings, in batches small enough to reach the next checkpoint.
	p.produce(ctx, next.args()...)
	p.streamer("--max-offsets-per-trigger", "1000").mustSucceed(t, ctx)
	final := readStream(t, ctx, p.store, -1)
	if final.Snap.Version/10 == lastOld/10 {
		t.Fatalf("the stream table went from version %d to %d: no checkpoint was written after the log was aged", lastOld, final.Snap.Version)
	}
	if _, err := os.Stat(filepath.Join(logDir, fmt.Sprintf("%020d.json", 0))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("commit 0 is still in the log after a checkpoint with every commit up to %d a year old (%v)", lastOld, err)
	}
	if _, err := deltaread.At(ctx, p.store, streamTable, 0); err == nil {
		t.Fatal("the tests' reader rebuilt version 0 after log cleanup")
	}
	if _, err := delta.NewTable(p.store, streamTable).SnapshotAt(ctx, 0); err == nil {
		t.Fatal("lake/delta rebuilt version 0 after log cleanup")
	}
	kept, err := deltaread.History(ctx, p.store, streamTable)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("log cleanup: the log's commits start at version %d; version %d is read from checkpoint %d",
		kept[0].Version, final.Snap.Version, final.Snap.Checkpoint)

	// Time travel through the batcher: --as-of-version consolidates the
	// table as it was before the new readings.
	start(t, "batcher", p.env, "--lake", p.lakeURL, "--as-of-version", strconv.FormatInt(lastOld, 10)).mustSucceed(t, ctx)
	p.batchRuns++
	then := readStream(t, ctx, p.store, lastOld)
	aggs := map[winKey]winAgg{}
	var accepted int64
	for k, r := range then.Rows {
		n := float64(r.Eventos)
		aggs[k] = winAgg{n: r.Eventos, ok: r.OKCount, sumT: r.AvgTemp * n, sumH: r.AvgHum * n}
		accepted += r.Eventos
	}
	checkBatch(t, ctx, p.store, consolidate(aggs), accepted, p.batchRuns)
	t.Logf("batcher --as-of-version %d consolidated the table as it was then (%d windows)", lastOld, len(then.Rows))

	p.batch(ctx)
	p.verify(ctx)
}

// checkDetail compares `batcher detail --json` (DESCRIBE DETAIL) of the
// stream table with what the independent reader found.
func (p *pipeline) checkDetail(ctx context.Context, snap *deltaread.Snapshot) {
	t := p.t
	t.Helper()
	objs := batcherJSON(t, p.maintain(ctx, "detail", "--table", streamTable, "--json").Stdout())
	if len(objs) != 1 {
		t.Fatalf("batcher detail --json printed %d JSON objects, want 1", len(objs))
	}
	d := objs[0]
	var size int64
	for _, f := range snap.Files {
		size += f.Size
	}
	num := func(k string) int64 { f, _ := d[k].(float64); return int64(f) }
	var parts []string
	if ps, ok := d["partitionColumns"].([]any); ok {
		for _, c := range ps {
			parts = append(parts, fmt.Sprint(c))
		}
	}
	props := map[string]string{}
	if m, ok := d["properties"].(map[string]any); ok {
		for k, v := range m {
			props[k] = fmt.Sprint(v)
		}
	}
	if d["format"] != "delta" || num("version") != snap.Version || num("numFiles") != int64(len(snap.Files)) ||
		num("sizeInBytes") != size || !slices.Equal(parts, snap.Metadata.PartitionColumns) ||
		num("minReaderVersion") != snap.Protocol.MinReaderVersion || num("minWriterVersion") != snap.Protocol.MinWriterVersion ||
		!maps.Equal(props, snap.Metadata.Configuration) || d["id"] != snap.Metadata.ID {
		t.Fatalf("batcher detail --json: %v; the log says version %d, %d files, %d bytes, partitioned by %v, protocol %d/%d, properties %v, id %s",
			d, snap.Version, len(snap.Files), size, snap.Metadata.PartitionColumns, snap.Protocol.MinReaderVersion,
			snap.Protocol.MinWriterVersion, snap.Metadata.Configuration, snap.Metadata.ID)
	}
}
