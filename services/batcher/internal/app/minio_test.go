package app

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake/laketest"
	"github.com/sensorlab/sensorlab/services/batcher/internal/config"
)

// The batcher as compose runs it: lake and S3 settings from the environment,
// one run against a real MinIO.
func TestMainOneShotOnMinIO(t *testing.T) {
	m := laketest.StartMinIO(t)
	s := m.Bucket(t, "lake")
	commitRows(t, s, 0, []contract.WindowRow{
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
	if _, err := s.Stat(context.Background(), contract.BatchSuccess); err != nil {
		t.Fatalf("_SUCCESS on MinIO: %v", err)
	}
}
