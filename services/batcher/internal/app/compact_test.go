package app

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/services/batcher/internal/config"
)

// `batcher compact` merges the day's small files into one, and the batcher
// prints the same summary from the compacted lake.
func TestMainCompactMergesSmallFilesAndKeepsTheSummary(t *testing.T) {
	url, s := newLake(t)
	for batch := int64(1); batch < 4; batch++ { // three more small files, same rows as batch 0 shifted
		commitRows(t, s, batch, []contract.WindowRow{{WinStart: day.Add(time36(batch)), WinEnd: day.Add(time36(batch) + 10*time.Second),
			SensorID: "S003", Eventos: 2, AvgTemp: 21, AvgHum: 50, OKCount: 2}})
	}
	noEnv := func(string) (string, bool) { return "", false }
	summary := func() string {
		cfg, err := config.Parse([]string{"--lake", url}, noEnv, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if code := Main(context.Background(), cfg, quietLog(), &out); code != ExitOK {
			t.Fatalf("batcher exit %d", code)
		}
		return out.String()
	}
	before := summary()

	cfg, err := config.Parse([]string{"compact", "--lake", url, "--min-files", "4", "--grace", "0s"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	if code := Main(context.Background(), cfg, quietLogTo(&logs), &bytes.Buffer{}); code != ExitOK {
		t.Fatalf("compact exit %d; logs:\n%s", code, logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"compaction done","partitions":1`) {
		t.Fatalf("compaction did not report one partition compacted:\n%s", logs.String())
	}
	files, err := lake.CommittedStreamFiles(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Fatalf("%d committed files after compaction, want 1: %+v", len(files), files)
	}
	if after := summary(); after != before {
		t.Fatalf("summary changed by compaction:\nbefore\n%s\nafter\n%s", before, after)
	}
}

func time36(batch int64) time.Duration { return time.Duration(batch) * 36 * time.Second }
