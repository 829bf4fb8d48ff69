package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/services/batcher/internal/config"
	"github.com/sensorlab/sensorlab/services/batcher/internal/consolidate"
	"github.com/sensorlab/sensorlab/services/batcher/internal/streamtest"
)

// batcher runs the batcher as its main does, with args and no environment:
// the exit code, what it printed on stdout and what it logged.
func batcher(t *testing.T, args ...string) (code int, stdout, logs string) {
	t.Helper()
	return batcherEnv(t, nil, args...)
}

func batcherEnv(t *testing.T, env map[string]string, args ...string) (code int, stdout, logs string) {
	t.Helper()
	cfg, err := config.Parse(args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, io.Discard)
	if err != nil {
		t.Fatalf("batcher %q: %v", args, err)
	}
	var out, log bytes.Buffer
	code = Main(context.Background(), cfg, quietLogTo(&log), &out)
	return code, out.String(), log.String()
}

// threeBatchLake is a file lake whose stream table holds three batches of
// query, one file each (versions 0, 1 and 2), and a batch table written
// once from version 2.
func threeBatchLake(t *testing.T) (url string, s lake.Store, rows []contract.WindowRow) {
	t.Helper()
	url = "file://" + t.TempDir()
	s, err := lake.Open(context.Background(), url, lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	w := streamtest.New(s, query)
	for b := range int64(3) {
		batch := streamtest.Windows(fmt.Sprintf("S00%d", b+1), day.Add(time.Duration(b)*time.Minute), 2, 3, 20, 50, 3)
		w.MustAppend(t, b, batch)
		rows = append(rows, batch...)
	}
	if code, _, logs := batcher(t, "--lake", url); code != ExitOK {
		t.Fatalf("batcher exit %d:\n%s", code, logs)
	}
	return url, s, rows
}

func jsonLines[T any](t *testing.T, out string) []T {
	t.Helper()
	var rows []T
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r T
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	return rows
}

func TestHistory(t *testing.T) {
	url, _, _ := threeBatchLake(t)

	code, out, logs := batcher(t, "history", "--lake", url, "--json")
	if code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, logs)
	}
	type row struct {
		Version             int64             `json:"version"`
		Timestamp           time.Time         `json:"timestamp"`
		Operation           string            `json:"operation"`
		OperationParameters map[string]string `json:"operationParameters"`
		ReadVersion         *int64            `json:"readVersion"`
		IsBlindAppend       *bool             `json:"isBlindAppend"`
		OperationMetrics    map[string]string `json:"operationMetrics"`
		UserMetadata        *string           `json:"userMetadata"`
		EngineInfo          string            `json:"engineInfo"`
	}
	hist := jsonLines[row](t, out)
	if len(hist) != 3 {
		t.Fatalf("%d versions, want 3:\n%s", len(hist), out)
	}
	for i, h := range hist {
		v := int64(2 - i) // newest first
		if h.Version != v || h.Operation != "STREAMING UPDATE" || h.OperationParameters["epochId"] != fmt.Sprint(v) ||
			h.OperationParameters["queryId"] != query || h.OperationParameters["outputMode"] != "Append" ||
			h.OperationMetrics["numAddedFiles"] != "1" || h.OperationMetrics["numOutputRows"] != "2" ||
			!strings.HasPrefix(h.EngineInfo, "sensorlab/") || h.Timestamp.IsZero() || h.UserMetadata != nil {
			t.Errorf("history line %d: %+v", i, h)
		}
		if (v == 0) != (h.ReadVersion == nil) || (h.ReadVersion != nil && *h.ReadVersion != v-1) {
			t.Errorf("version %d: readVersion %v", v, h.ReadVersion)
		}
	}
	if !strings.Contains(out, `"userId":null`) {
		t.Errorf("absent columns are not null:\n%s", out)
	}
	if strings.Contains(out, `"level"`) {
		t.Errorf("logs on stdout:\n%s", out)
	}

	// The table form, --limit, and the batch table.
	code, out, _ = batcher(t, "history", "--lake", url, "--limit", "1", "--table", "batch/agg_desde_stream")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != ExitOK || len(lines) != 2 {
		t.Fatalf("exit %d, want a header and one version:\n%s", code, out)
	}
	for _, want := range []string{"version", "timestamp", "operation", "operationParameters", "readVersion", "isBlindAppend", "operationMetrics", "userMetadata", "engineInfo"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("header lacks %s: %s", want, lines[0])
		}
	}
	for _, want := range []string{"WRITE", "mode=Overwrite partitionBy=[]", "numAddedFiles=1", `"sourceVersion":2`, "sensorlab/"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("batch table history lacks %q: %s", want, lines[1])
		}
	}
	if !strings.HasPrefix(lines[1], "0 ") {
		t.Errorf("batch table history: %s, want version 0", lines[1])
	}
}

func TestDetail(t *testing.T) {
	url, s, _ := threeBatchLake(t)
	snap, err := delta.NewTable(s, "stream").Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	code, out, logs := batcher(t, "detail", "--lake", url, "--json")
	if code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, logs)
	}
	var d struct {
		Format           string            `json:"format"`
		ID               string            `json:"id"`
		Location         string            `json:"location"`
		CreatedAt        *time.Time        `json:"createdAt"`
		LastModified     time.Time         `json:"lastModified"`
		PartitionColumns []string          `json:"partitionColumns"`
		NumFiles         int64             `json:"numFiles"`
		SizeInBytes      int64             `json:"sizeInBytes"`
		Properties       map[string]string `json:"properties"`
		MinReaderVersion int               `json:"minReaderVersion"`
		MinWriterVersion int               `json:"minWriterVersion"`
		ReaderFeatures   []string          `json:"readerFeatures"`
		WriterFeatures   []string          `json:"writerFeatures"`
		TableFeatures    []string          `json:"tableFeatures"`
		Version          int64             `json:"version"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("detail --json is not one JSON object: %v\n%s", err, out)
	}
	if d.Format != "delta" || d.ID != snap.Metadata().ID || d.Location != url+"/stream" || d.CreatedAt == nil || d.LastModified.IsZero() ||
		len(d.PartitionColumns) != 1 || d.PartitionColumns[0] != "date" || d.NumFiles != 3 || d.SizeInBytes != snap.SizeInBytes() ||
		d.MinReaderVersion != 1 || d.MinWriterVersion != 2 || d.ReaderFeatures == nil || d.WriterFeatures == nil || d.Properties == nil || d.Version != 2 {
		t.Fatalf("detail: %+v\n%s", d, out)
	}

	// The table form, on the batch table named by URL (no --lake).
	code, out, logs = batcher(t, "detail", "--table", url+"/batch/agg_desde_stream")
	if code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, logs)
	}
	for _, want := range []string{"format            delta", "location          " + url + "/batch/agg_desde_stream", "partitionColumns  []", "numFiles          1", "minWriterVersion  2", "version           0"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("detail lacks %q:\n%s", want, out)
		}
	}
}

// A directory that is not a Delta table, and one an earlier sensorlab
// wrote, fail with one clear line and exit 1; a bad --where too.
func TestMaintenanceErrors(t *testing.T) {
	url, s, _ := threeBatchLake(t)
	for _, cmd := range []string{"history", "detail", "optimize", "vacuum"} {
		code, out, logs := batcher(t, cmd, "--lake", url, "--table", "nothing/here")
		if code != ExitFailed || out != "" || !strings.Contains(logs, url+"/nothing/here is not a Delta table: it has no _delta_log/") {
			t.Errorf("%s of a missing table: exit %d, stdout %q, logs:\n%s", cmd, code, out, logs)
		}
	}
	if err := s.Put(context.Background(), "old/_sink_log/q/00000000000000000000.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	code, _, logs := batcher(t, "detail", "--lake", url, "--table", "old")
	if code != ExitFailed || !strings.Contains(logs, "earlier sensorlab") || !strings.Contains(logs, "old/_sink_log/") {
		t.Errorf("detail of an earlier sensorlab's table: exit %d:\n%s", code, logs)
	}
	code, _, logs = batcher(t, "optimize", "--lake", url, "--where", "sensor_id = 'S001'")
	if code != ExitFailed || !strings.Contains(logs, `--where \"sensor_id = 'S001'\"`) {
		t.Errorf("optimize --where on a data column: exit %d:\n%s", code, logs)
	}
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var line map[string]any
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Errorf("log line %q is not one JSON object", l)
		}
	}
}

// OPTIMIZE compacts the small files of the partitions --where selects, in
// one commit, and the consolidation reads the same rows after it.
func TestOptimize(t *testing.T) {
	url := "file://" + t.TempDir()
	s, err := lake.Open(context.Background(), url, lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	w := streamtest.New(s, query)
	var all []contract.WindowRow
	for b := range int64(6) {
		start := day.Add(time.Duration(b) * time.Minute)
		if b >= 4 {
			start = start.Add(24 * time.Hour) // 2024-11-22: two files
		}
		rows := streamtest.Windows(fmt.Sprintf("S00%d", b%3+1), start, 3, 2, 20+float64(b), 50, 2)
		w.MustAppend(t, b, rows)
		all = append(all, rows...)
	}
	summary := func() string {
		t.Helper()
		code, out, logs := batcher(t, "--lake", url)
		if code != ExitOK {
			t.Fatalf("batcher exit %d:\n%s", code, logs)
		}
		return out
	}
	before := summary()

	code, out, logs := batcher(t, "optimize", "--lake", url, "--where", "date=2024-11-21")
	if code != ExitOK {
		t.Fatalf("optimize exit %d:\n%s", code, logs)
	}
	for _, want := range []string{"path                  " + url + "/stream", "version               6", "partitionsOptimized   1", "numFilesRemoved       4", "numFilesAdded         1", "numRowsCopied         12"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("optimize output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(logs, `"msg":"optimize done"`) {
		t.Errorf("no optimize done log:\n%s", logs)
	}
	snap, err := w.Table.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	perDate := map[string]int{}
	for _, f := range snap.Files() {
		perDate[f.PartitionValues["date"]]++
	}
	if perDate["2024-11-21"] != 1 || perDate["2024-11-22"] != 2 {
		t.Fatalf("files per date after optimize --where: %v", perDate)
	}
	if after := summary(); after != before {
		t.Fatalf("the consolidation changed after optimize:\nbefore\n%s\nafter\n%s", before, after)
	}

	// Every partition; then nothing is left to do.
	if code, out, logs = batcher(t, "optimize", "--lake", url, "--min-files", "2"); code != ExitOK || !strings.Contains(out, "numFilesRemoved       2\n") {
		t.Fatalf("optimize: exit %d\n%s\n%s", code, out, logs)
	}
	if code, out, _ = batcher(t, "optimize", "--lake", url); code != ExitOK || !strings.Contains(out, "nothing to compact") {
		t.Fatalf("optimize of an optimized table: exit %d\n%s", code, out)
	}
	if after := summary(); after != before {
		t.Fatalf("the consolidation changed after optimize:\nbefore\n%s\nafter\n%s", before, after)
	}
	_, out, _ = batcher(t, "history", "--lake", url, "--limit", "2", "--json")
	for _, h := range jsonLines[HistoryRow](t, out) {
		if *h.Operation != "OPTIMIZE" || h.OperationMetrics["numRemovedFiles"] == "" {
			t.Fatalf("history after optimize: %+v", h)
		}
	}
	checkRowsEqual(t, s, all)
}

// checkRowsEqual consolidates the lake and compares with the consolidation
// of rows.
func checkRowsEqual(t *testing.T, s lake.Store, rows []contract.WindowRow) {
	t.Helper()
	res, err := consolidate.Run(context.Background(), s, consolidate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := streamtest.Consolidate(rows)
	if len(res.Rows) != len(want) || res.WindowRows != int64(len(rows)) {
		t.Fatalf("consolidated %d sensors from %d window rows, want %d from %d", len(res.Rows), res.WindowRows, len(want), len(rows))
	}
	for i := range want {
		if res.Rows[i] != want[i] {
			t.Fatalf("row %d: %+v, want %+v", i, res.Rows[i], want[i])
		}
	}
}

// A streamer and OPTIMIZE at once: goroutines append micro-batches (each a
// commit with its txn) while optimize runs again and again. Every append
// and every optimize lands, and the rows equal what was appended.
func TestOptimizeWhileStreaming(t *testing.T) {
	testOptimizeWhileStreaming(t, func(t *testing.T) (string, map[string]string, lake.Store) {
		url := "file://" + t.TempDir()
		s, err := lake.Open(context.Background(), url, lake.S3Config{})
		if err != nil {
			t.Fatal(err)
		}
		return url, nil, s
	})
}

func testOptimizeWhileStreaming(t *testing.T, newLake func(t *testing.T) (string, map[string]string, lake.Store)) {
	url, env, s := newLake(t)
	const writers, batches = 2, 12
	// The table exists before the writers start (the streamer's first
	// commit creates it).
	first := streamtest.Windows("S000", day, 2, 1, 20, 50, 1)
	streamtest.New(s, "query-0").MustAppend(t, 0, first)

	var mu sync.Mutex
	all := append([]contract.WindowRow{}, first...)
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for q := 1; q <= writers; q++ {
		wg.Go(func() {
			w := streamtest.New(s, fmt.Sprintf("query-%d", q))
			for b := range int64(batches) {
				rows := streamtest.Windows(fmt.Sprintf("S%d%02d", q, b), day.Add(time.Duration(b)*time.Minute), 2, int64(q), 20, 50, 1)
				if _, err := w.Append(context.Background(), b, rows); err != nil {
					errs <- fmt.Errorf("query-%d batch %d: %w", q, b, err)
					return
				}
				mu.Lock()
				all = append(all, rows...)
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	optimized := 0
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true
		default:
		}
		code, out, logs := batcherEnv(t, env, "optimize", "--lake", url)
		if code != ExitOK {
			t.Fatalf("optimize while streaming: exit %d\n%s", code, logs)
		}
		if !strings.Contains(out, "nothing to compact") {
			optimized++
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if optimized == 0 {
		t.Fatal("no optimize committed anything while the writers appended")
	}
	snap, err := delta.NewTable(s, "stream").Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for q := 1; q <= writers; q++ {
		if v, ok := snap.TxnVersion(fmt.Sprintf("query-%d", q)); !ok || v != batches-1 {
			t.Fatalf("query-%d: txn version %d (%v), want %d", q, v, ok, batches-1)
		}
	}
	checkRowsEqual(t, s, all)
	t.Logf("%d optimize commits among %d appends", optimized, writers*batches)
}

// VACUUM deletes the files no snapshot within the retention needs (an
// OPTIMIZE's inputs, a crashed writer's leftovers, the batch table's
// previous results) and nothing else; --dry-run lists the same files and
// deletes none; a retention below the table's needs --force.
func TestVacuum(t *testing.T) {
	ctx := context.Background()
	url, s, rows := threeBatchLake(t)
	if code, _, logs := batcher(t, "optimize", "--lake", url); code != ExitOK {
		t.Fatalf("optimize exit %d:\n%s", code, logs)
	}
	const orphan = "date=2024-11-21/part-00000-crashed-writer.c000.zstd.parquet"
	if err := s.Put(ctx, "stream/"+orphan, []byte("left by a writer that crashed before its commit")); err != nil {
		t.Fatal(err)
	}
	old, err := s.List(ctx, "stream/date=")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := delta.NewTable(s, "stream").Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	live, _ := snap.Table().DataKey(snap.Files()[0].Path)
	var want []string // the optimize's three inputs and the orphan
	for _, o := range old {
		if o.Key != live {
			want = append(want, strings.TrimPrefix(o.Key, "stream/"))
		}
	}
	if len(want) != 4 {
		t.Fatalf("test setup: %d files to vacuum, want 4: %v", len(want), want)
	}

	// The default retention (7 days) keeps everything this young.
	code, out, logs := batcher(t, "vacuum", "--lake", url)
	if code != ExitOK || out != "" || !strings.Contains(logs, `"msg":"vacuum done","table":"`+url+`/stream","files":0`) {
		t.Fatalf("vacuum with the default retention: exit %d, stdout %q\n%s", code, out, logs)
	}
	// Below the table's retention without --force: refused, nothing deleted.
	code, out, logs = batcher(t, "vacuum", "--lake", url, "--retain", "1h")
	if code != ExitFailed || out != "" || !strings.Contains(logs, "shorter than the table's delta.deletedFileRetentionDuration") || !strings.Contains(logs, "--force") {
		t.Fatalf("vacuum --retain 1h: exit %d, stdout %q\n%s", code, out, logs)
	}
	// Dry run: the list, nothing deleted.
	code, out, logs = batcher(t, "vacuum", "--lake", url, "--retain", "0s", "--force", "--dry-run")
	if code != ExitOK || out != strings.Join(want, "\n")+"\n" || !strings.Contains(logs, "vacuum dry run") {
		t.Fatalf("vacuum --dry-run: exit %d, stdout\n%s\nwant\n%s\n%s", code, out, strings.Join(want, "\n"), logs)
	}
	if after, _ := s.List(ctx, "stream/date="); len(after) != len(old) {
		t.Fatalf("a dry run deleted files: %d left of %d", len(after), len(old))
	}
	// For real.
	code, out, logs = batcher(t, "vacuum", "--lake", url, "--retain", "0s", "--force")
	if code != ExitOK || out != strings.Join(want, "\n")+"\n" {
		t.Fatalf("vacuum: exit %d, stdout\n%s\n%s", code, out, logs)
	}
	after, err := s.List(ctx, "stream/date=")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 1 || after[0].Key != live {
		t.Fatalf("after vacuum stream/ holds %+v, want only the live file %s", after, live)
	}
	checkRowsEqual(t, s, rows)
	_, out, _ = batcher(t, "history", "--lake", url, "--limit", "2", "--json")
	if h := jsonLines[HistoryRow](t, out); len(h) != 2 || *h[0].Operation != "VACUUM END" || *h[1].Operation != "VACUUM START" {
		t.Fatalf("history after vacuum:\n%s", out)
	}

	// Time travel to a version whose files were vacuumed fails, naming a
	// missing file and the version.
	code, _, logs = batcher(t, "--lake", url, "--as-of-version", "1")
	if code != ExitFailed || !strings.Contains(logs, "version 1 lists a data file the lake lacks (vacuumed, or lost)") {
		t.Fatalf("as of a vacuumed version: exit %d\n%s", code, logs)
	}

	// The batch table: each run left its previous file as a tombstone.
	for range 2 {
		if code, _, logs := batcher(t, "--lake", url); code != ExitOK {
			t.Fatalf("batcher exit %d:\n%s", code, logs)
		}
	}
	code, out, logs = batcher(t, "vacuum", "--lake", url, "--table", "batch/agg_desde_stream", "--retain", "0s", "--force")
	if n := strings.Count(out, "\n"); code != ExitOK || n != 3 {
		t.Fatalf("vacuum of the batch table: exit %d, %d files\n%s\n%s", code, n, out, logs)
	}
	bsnap, err := delta.NewTable(s, consolidate.BatchTable).Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := bsnap.Table().DataKey(bsnap.Files()[0].Path)
	if _, err := s.Stat(ctx, key); err != nil {
		t.Fatalf("vacuum deleted the batch table's live file: %v", err)
	}
}
