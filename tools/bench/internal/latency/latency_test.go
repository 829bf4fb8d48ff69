package latency

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// The seed query the harness runs says the harness's topic, window,
// watermark and alert threshold, everywhere the seed says its own.
func TestSeedQueryCarriesTheHarnessSettings(t *testing.T) {
	cfg, err := parse([]string{"-window", "1500ms", "-watermark", "250ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	qf, err := seedQuery(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(qf.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"topic = '" + topic + "'", "INTERVAL '250 milliseconds'", "HAVING max(temp) > 0.0D", "0.0D                     AS threshold"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the query file lacks %q", want)
		}
	}
	if n := strings.Count(string(text), "window(event_time, '1500 milliseconds')"); n != 3 {
		t.Errorf("%d of the seed's 3 windows are 1500 ms long", n)
	}
	for _, old := range []string{"'eventos_sensores'", "'10 seconds'", "39.5D", "'1' MINUTE"} {
		if strings.Contains(string(text), old) {
			t.Errorf("the query file still says %q", old)
		}
	}
	if d := qf.Program.Sources[0].Watermark.Delay; d != 250_000 {
		t.Errorf("watermark delay %d µs, want 250,000", d)
	}
	if _, err := parse([]string{"-window", "1500us"}, io.Discard); err == nil {
		t.Error("a window of a fraction of a millisecond was taken")
	}
}

// /progress holds one report per query per batch; a batch's appended rows
// are those of the Delta sink's query, whatever order the reports come in.
func TestPollProgressTakesTheDeltaSinksRows(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		report := func(name string, rows int) string {
			return `{"name":"` + name + `","batchId":7,"timestamp":"2026-01-02T10:00:00.100Z",` +
				`"durationMs":{"latestOffset":2,"walCommit":3,"addBatch":20,"triggerExecution":40},` +
				`"sources":[{"endOffset":{"` + topic + `":{"0":10,"2":31}}}],"sink":{"numOutputRows":` + strings.Repeat("1", rows) + `}}`
		}
		_, _ = io.WriteString(w, "["+report("console", 1)+","+report(deltaSink, 2)+","+report("alerts", 1)+"]")
	}))
	defer srv.Close()
	var mu sync.Mutex
	batches := map[int64]batch{}
	pollProgress(srv.URL, &mu, batches)
	b, ok := batches[7]
	if !ok || len(batches) != 1 {
		t.Fatalf("batches %+v, want batch 7", batches)
	}
	t0 := time.Date(2026, 1, 2, 10, 0, 0, 100e6, time.UTC)
	if b.output != 11 || b.end[0] != 10 || b.end[2] != 31 || b.addBatch != 20*time.Millisecond ||
		!b.committed.Equal(t0.Add(35*time.Millisecond)) || !b.started.Equal(t0.Add(-5*time.Millisecond)) {
		t.Fatalf("batch %+v: want 11 rows of the stream sink, end offsets 10 and 31, committed 35 ms after its timestamp", b)
	}
}
