package app

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/progress"
)

// chromium finds a headless-capable browser: $SENSORLAB_CHROMIUM, or
// Debian's chromium (apt-get install -y chromium). Without one the test is
// skipped, unless SENSORLAB_REQUIRE_BROWSER=1 (CI) makes it fail.
func chromium(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("SENSORLAB_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := "no chromium found (install it: apt-get install -y chromium, or set SENSORLAB_CHROMIUM)"
	if os.Getenv("SENSORLAB_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + "; SENSORLAB_REQUIRE_BROWSER=1 requires it")
	}
	t.Skip(msg)
	return ""
}

// headless runs the browser on url, in a window of size ("w,h"), with extra
// flags, and returns its stdout.
// --virtual-time-budget lets the page's scripts run (fetches included)
// before the DOM is dumped or the screenshot taken: no sleeping here.
func headless(t *testing.T, ctx context.Context, bin, url, size string, extra ...string) []byte {
	t.Helper()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=10000", "--window-size=" + size,
	}, extra...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

var (
	canvasRE = regexp.MustCompile(`<canvas id="([^"]+)"[^>]*\bdata-points="(\d+)"`)
	tbodyRE  = regexp.MustCompile(`(?s)<table id="([^"]+)">.*?<tbody>(.*?)</tbody>`)

	rowsHeadRE = regexp.MustCompile(`(?s)<table id="rows">.*?<thead><tr>(.*?)</tr></thead>`)
	thRE       = regexp.MustCompile(`<th>([^<]*)</th>`)
	tdRE       = regexp.MustCompile(`<td[^>]*>([^<]*)</td>`)
	captionRE  = regexp.MustCompile(`<caption id="rows-caption">([^<]*)</caption>`)
)

// The live page, loaded in a real browser from the streamer's own HTTP
// handler, draws every chart of the selected query (the first of the
// reports: the seed's stream query) from /progress, and fills the batches
// table and the rows table with that query's latest output rows (/rows).
func TestLivePageRendersInABrowser(t *testing.T) {
	bin := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// Readings, then late and invalid ones, then more readings: every chart
	// has something to show.
	w := newWorld(t)
	rng := rand.New(rand.NewPCG(7, 8))
	w.produce(ctx, rng, origin, 2000)
	w.produce(ctx, rng, origin, 40, `{"sensor_id":"S003"`, `{}`, `{"sensor_id":"S003","ts":"x","temp":1,"hum":1,"ok":true}`)
	w.produce(ctx, rng, origin+200_000, 1500)
	d, h := w.runDriver(ctx, w.config(func(c *config.Config) { c.MaxOffsetsPerTrigger = 150 }))
	reports := ofQuery(d.Progress(0), "stream")
	if len(d.Progress(0)) > 100 {
		reports = ofQuery(d.Progress(100), "stream") // the page reads the last 100 reports
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	dom := string(headless(t, ctx, bin, srv.URL+"/", "1400,1500", "--dump-dom"))
	if !strings.Contains(dom, `data-ready="true"`) {
		t.Fatalf("the page never drew (no data-ready on <body>):\n%s", dom)
	}
	withWM := sum(reports, func(p progress.Query) int64 {
		if ms(t, p.EventTime["watermark"]) > 0 {
			return 1
		}
		return 0
	})
	n := int64(len(reports))
	want := map[string]int64{ // values drawn per chart: one per series and batch
		"chart-rates":     2 * n,
		"chart-duration":  2 * n,
		"chart-watermark": withWM,
		"chart-state":     n,
		"chart-drops":     2 * n,
	}
	got := map[string]int64{}
	for _, m := range canvasRE.FindAllStringSubmatch(dom, -1) {
		got[m[1]], _ = strconv.ParseInt(m[2], 10, 64)
	}
	for id, x := range want {
		if got[id] != x || x == 0 {
			t.Errorf("%s drew %d values, want %d (%d batches)", id, got[id], x, n)
		}
	}
	rows := map[string]int{}
	for _, m := range tbodyRE.FindAllStringSubmatch(dom, -1) {
		rows[m[1]] = strings.Count(m[2], "<tr>")
	}
	latest := d.LatestRows()
	if len(latest) == 0 || latest[0].Query != "stream" {
		t.Fatalf("latest rows %+v, want the stream query's first", latest)
	}
	if rows["rows"] != len(latest[0].Rows) || rows["rows"] == 0 || rows["batches"] != min(20, int(n)) {
		t.Errorf("tables: %d output rows (want the stream query's latest %d), %d batch rows (want %d)",
			rows["rows"], len(latest[0].Rows), rows["batches"], min(20, int(n)))
	}
	head := rowsHeadRE.FindStringSubmatch(dom)
	if head == nil {
		t.Fatalf("no header row in table#rows:\n%s", dom)
	}
	var cols []string
	for _, m := range thRE.FindAllStringSubmatch(head[1], -1) {
		cols = append(cols, m[1])
	}
	if !slices.Equal(cols, latest[0].Columns) {
		t.Errorf("table#rows columns %v, want the stream query's %v", cols, latest[0].Columns)
	}
	// Its first row is the first of /rows: the sensor and count cells.
	var first contract.WindowRow
	if err := json.Unmarshal(latest[0].Rows[0], &first); err != nil {
		t.Fatal(err)
	}
	body := tbodyRE.FindAllStringSubmatch(dom, -1)
	for _, m := range body {
		if m[1] != "rows" {
			continue
		}
		firstRow, _, _ := strings.Cut(m[2], "</tr>")
		var cells []string
		for _, c := range tdRE.FindAllStringSubmatch(firstRow, -1) {
			cells = append(cells, c[1])
		}
		if len(cells) != len(cols) || cells[2] != first.SensorID || cells[3] != strconv.FormatInt(first.Eventos, 10) {
			t.Errorf("table#rows first row %q, want sensor %s with %d events", cells, first.SensorID, first.Eventos)
		}
	}
	if caption := captionRE.FindStringSubmatch(dom); caption == nil ||
		!strings.Contains(caption[1], "delta sink, append mode, batch "+strconv.FormatInt(latest[0].BatchID, 10)) {
		t.Errorf("table#rows caption %q does not name the sink, the mode and batch %d", caption, latest[0].BatchID)
	}
	late := sum(reports, func(p progress.Query) int64 { return p.StateOperators[0].NumRowsDroppedByWatermark })
	if late != 40 {
		t.Errorf("the run dropped %d late readings, want 40", late)
	}

	// SENSORLAB_SCREENSHOT=/abs/path.png also saves a screenshot of the page
	// (docs/operations.md shows the command).
	if out := os.Getenv("SENSORLAB_SCREENSHOT"); out != "" {
		abs, err := filepath.Abs(out)
		if err != nil {
			t.Fatal(err)
		}
		headless(t, ctx, bin, srv.URL+"/", "1280,900", "--hide-scrollbars", "--screenshot="+abs)
		if st, err := os.Stat(abs); err != nil || st.Size() == 0 {
			t.Fatalf("screenshot %s: %v", abs, err)
		}
		t.Logf("screenshot written to %s", abs)
	}
}

// A replica's live page shows the query's partitions: the three of the
// topic, those it runs as run by this replica, the other replica's as
// another's, each with its last batch.
func TestReplicaPageShowsTheQuerysPartitions(t *testing.T) {
	bin := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(t)
	cfg := w.replicaConfig()
	a, stopA := w.startReplica(cfg)
	defer stopA()
	b, stopB := w.startReplica(cfg)
	defer stopB()
	w.produce(ctx, rand.New(rand.NewPCG(3, 4)), origin, 600)
	waitFor(t, ctx, func() bool {
		g := a.Group()
		if len(g.Partitions) != 3 {
			return false
		}
		for _, p := range g.Partitions {
			if p.BatchID < 0 {
				return false
			}
		}
		ps, _ := b.owned()
		return len(ps) > 0
	})
	srv := httptest.NewServer(newHandler(quietLog(), a))
	defer srv.Close()
	dom := string(headless(t, ctx, bin, srv.URL+"/", "1400,1500", "--dump-dom"))
	if strings.Contains(dom, `<section id="group" hidden`) || !strings.Contains(dom, `<section id="group"`) {
		t.Fatalf("the replica's page hides its partitions:\n%s", dom)
	}
	mine, _ := a.owned()
	var here, there int
	for _, m := range tbodyRE.FindAllStringSubmatch(dom, -1) {
		if m[1] != "partitions" {
			continue
		}
		here, there = strings.Count(m[2], "<td>this replica</td>"), strings.Count(m[2], "<td>another replica</td>")
	}
	if here != len(mine) || here+there != 3 {
		t.Errorf("table#partitions: %d rows run here, %d elsewhere; want %d of 3 here", here, there, len(mine))
	}
}
