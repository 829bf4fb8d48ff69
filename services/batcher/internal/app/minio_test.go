package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/laketest"
	"github.com/sensorlab/sensorlab/services/batcher/internal/config"
	"github.com/sensorlab/sensorlab/services/batcher/internal/consolidate"
	"github.com/sensorlab/sensorlab/services/batcher/internal/streamtest"
)

// The batcher as compose runs it: lake and S3 settings from the environment,
// one run against a real MinIO.
func TestMainOneShotOnMinIO(t *testing.T) {
	m := laketest.StartMinIO(t)
	s := m.Bucket(t, "lake")
	streamtest.New(s, query).MustAppend(t, 0, []contract.WindowRow{
		{WinStart: day, SensorID: "S004", Eventos: 7, AvgTemp: 21, AvgHum: 41, OKCount: 6},
		{WinStart: day, SensorID: "S004", Eventos: 3, AvgTemp: 23, AvgHum: 43, OKCount: 3},
	})
	env := map[string]string{"LAKE": "s3://lake", "S3_ENDPOINT": m.Endpoint, "S3_ACCESS_KEY": m.AccessKey, "S3_SECRET_KEY": m.SecretKey, "S3_USE_SSL": "false"}
	cfg, err := config.Parse(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out, logs bytes.Buffer
	if code := Main(context.Background(), cfg, quietLogTo(&logs), &out); code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, logs.String())
	}
	if !strings.Contains(out.String(), "S004        2      10     22.00    42.00   9") {
		t.Fatalf("summary:\n%s", out.String())
	}
	if strings.Contains(logs.String(), m.SecretKey) {
		t.Fatal("the S3 secret key was logged")
	}
	if v := batchVersion(t, s); v != 0 {
		t.Fatalf("batch table on MinIO at version %d, want 0", v)
	}
}

// The maintenance commands against a real S3 server: a streamer-like
// appender and optimize at once, then detail, history and vacuum of the
// table named by its s3:// URL (no --lake).
func TestMaintenanceOnMinIO(t *testing.T) {
	m := laketest.StartMinIO(t)
	env := map[string]string{"S3_ENDPOINT": m.Endpoint, "S3_ACCESS_KEY": m.AccessKey, "S3_SECRET_KEY": m.SecretKey}
	var s lake.Store
	testOptimizeWhileStreaming(t, func(t *testing.T) (string, map[string]string, lake.Store) {
		s = m.Bucket(t, "lake")
		return "s3://lake", env, s
	})

	code, out, logs := batcherEnv(t, env, "detail", "--table", "s3://lake/stream", "--json")
	var d DetailRow
	if err := json.Unmarshal([]byte(out), &d); code != ExitOK || err != nil {
		t.Fatalf("detail of s3://lake/stream: exit %d, %v\n%s\n%s", code, err, out, logs)
	}
	if !strings.HasPrefix(d.Location, "s3://lake/stream") || d.NumFiles < 1 || len(d.PartitionColumns) != 1 {
		t.Fatalf("detail: %+v", d)
	}
	code, out, logs = batcherEnv(t, env, "history", "--table", "s3://lake/stream", "--json")
	if h := jsonLines[HistoryRow](t, out); code != ExitOK || len(h) < 2 || h[len(h)-1].Version != 0 {
		t.Fatalf("history of s3://lake/stream: exit %d\n%s\n%s", code, out, logs)
	}
	code, out, logs = batcherEnv(t, env, "vacuum", "--table", "s3://lake/stream", "--retain", "0s", "--force", "--dry-run")
	if code != ExitOK || out == "" {
		t.Fatalf("vacuum --dry-run after optimize listed nothing: exit %d\n%s", code, logs)
	}
	n := strings.Count(out, "\n")
	if code, out, logs = batcherEnv(t, env, "vacuum", "--table", "s3://lake/stream", "--retain", "0s", "--force"); code != ExitOK || strings.Count(out, "\n") != n {
		t.Fatalf("vacuum deleted %d files, the dry run listed %d: exit %d\n%s", strings.Count(out, "\n"), n, code, logs)
	}
	if _, err := consolidate.Run(context.Background(), s, consolidate.Options{}); err != nil {
		t.Fatalf("consolidation after vacuum: %v", err)
	}
}
