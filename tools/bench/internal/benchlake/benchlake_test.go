package benchlake

import (
	"context"
	"errors"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/lake/laketest"
	"github.com/sensorlab/sensorlab/tools/bench/internal/lakegen"
)

func TestParseKinds(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"file", "file", true},
		{"minio", "minio", true},
		{"file,minio", "file,minio", true},
		{"minio, file", "minio,file", true},
		{"s3", "", false},
		{"file,file", "", false},
		{"", "", false},
	} {
		got, err := ParseKinds(c.in)
		if (err == nil) != c.ok || strings.Join(got, ",") != c.want {
			t.Errorf("ParseKinds(%q) = %v, %v; want %q, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

// MinIO's metrics are read per API; two readings' difference drops the APIs
// that did not move; the summary puts the most frequent first, per run.
func TestRequests(t *testing.T) {
	metrics := `# HELP minio_api_requests_total Total number of requests
# TYPE minio_api_requests_total counter
minio_api_requests_total{name="GetObject",server="127.0.0.1:9000",type="s3"} 30
minio_api_requests_total{name="PutObject",server="127.0.0.1:9000",type="s3"} 4
minio_api_requests_total{name="ListObjectsV2",server="127.0.0.1:9000",type="s3"} 2
minio_api_requests_total{name="ServerInfo",server="127.0.0.1:9000",type="admin"} 7
minio_api_requests_ttfb_seconds_distribution{le="0.050",name="GetObject",server="127.0.0.1:9000",type="s3"} 30
minio_api_requests_errors_total{name="GetObject",server="127.0.0.1:9000",type="s3"} 1
`
	after, err := parseRequests(metrics)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"GetObject": 30, "PutObject": 4, "ListObjectsV2": 2}; !maps.Equal(after, want) {
		t.Fatalf("parseRequests = %v, want %v", after, want)
	}
	d := RequestsBetween(map[string]int64{"GetObject": 10, "ListObjectsV2": 2}, after)
	if want := map[string]int64{"GetObject": 20, "PutObject": 4}; !maps.Equal(d, want) {
		t.Fatalf("RequestsBetween = %v, want %v", d, want)
	}
	if got, want := FormatRequests(d, 2), "12 (GetObject 10, PutObject 2)"; got != want {
		t.Fatalf("FormatRequests = %q, want %q", got, want)
	}
	if got := FormatRequests(nil, 1); got != "none" {
		t.Fatalf("FormatRequests(nil) = %q, want none", got)
	}
}

// The server's CPU time is utime + stime of its /proc stat line, in 10 ms
// ticks, whatever its command name holds.
func TestParseProcCPU(t *testing.T) {
	got, err := parseProcCPU("1 (minio server) S 0 1 1 0 -1 4194560 4391 0 0 0 45 17 0 0 20 0 12 0 1 1 1")
	if err != nil || got != 620*time.Millisecond {
		t.Fatalf("parseProcCPU = %v, %v; want 620ms (45 + 17 ticks)", got, err)
	}
	if _, err := parseProcCPU("garbage"); err == nil {
		t.Fatal("parseProcCPU(garbage) succeeded")
	}
}

// TableLog counts the commits and checkpoints a writer left: 25 commits
// with delta.checkpointInterval 10 leave checkpoints at versions 10 and 20.
func TestTableLogCountsCommitsAndCheckpoints(t *testing.T) {
	ctx := context.Background()
	lakes, err := Open(ctx, File, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lakes.Close()
	lk, err := lakes.New(ctx, "lake")
	if err != nil {
		t.Fatal(err)
	}
	if lg, err := TableLog(ctx, lk.Store, lakegen.Table); err != nil || lg != (Log{Version: -1}) {
		t.Fatalf("TableLog of no table = %+v, %v; want version -1, nothing counted", lg, err)
	}
	spec := lakegen.Spec{Files: 25, Sensors: 2, WindowsPerFile: 1, Start: time.Date(2024, 11, 21, 0, 0, 0, 0, time.UTC)}
	if _, err := lakegen.Write(ctx, lk.Store, spec); err != nil {
		t.Fatal(err)
	}
	lg, err := TableLog(ctx, lk.Store, lakegen.Table)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Log{Version: 24, Commits: 25, Checkpoints: 2}); lg != want {
		t.Fatalf("TableLog = %+v, want %+v", lg, want)
	}
}

// A MinIO lake is a fresh bucket that the services reach with the S3
// settings of Env, and Copy uploads a local lake to it object for object.
func TestMinIOLakeAndCopy(t *testing.T) {
	ctx := context.Background()
	lakes, err := Open(ctx, MinIO, t.TempDir())
	if errors.Is(err, laketest.ErrUnavailable) {
		if os.Getenv(laketest.EnvRequireMinIO) == "1" {
			t.Fatal(err)
		}
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := lakes.Close(); err != nil {
			t.Error(err)
		}
	}()
	local, err := Open(ctx, File, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src, err := local.New(ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	spec := lakegen.Spec{Files: 12, Sensors: 2, WindowsPerFile: 1, Start: time.Date(2024, 11, 21, 0, 0, 0, 0, time.UTC)}
	if _, err := lakegen.Write(ctx, src.Store, spec); err != nil {
		t.Fatal(err)
	}
	dst, err := lakes.New(ctx, "lake-0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dst.URL, "s3://lake-0") || dst.Dir != "" {
		t.Fatalf("MinIO lake URL %q, dir %q: want s3://lake-0 and no directory", dst.URL, dst.Dir)
	}
	for _, k := range []string{"S3_ENDPOINT=", "S3_ACCESS_KEY=", "S3_SECRET_KEY="} {
		if !strings.Contains(strings.Join(dst.Env, "\n"), k) {
			t.Errorf("Env %q lacks %s", dst.Env, k)
		}
	}
	n, err := Copy(ctx, src.Store, dst.Store, "")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := src.Store.List(ctx, "")
	if n != len(want) || n == 0 {
		t.Fatalf("Copy copied %d objects, the source holds %d", n, len(want))
	}
	lg, err := TableLog(ctx, dst.Store, lakegen.Table)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Log{Version: 11, Commits: 12, Checkpoints: 1}); lg != want {
		t.Fatalf("TableLog of the copy = %+v, want %+v", lg, want)
	}
	// The server counts the requests the harness makes: three GETs of one
	// object show as three more GetObject, at once.
	before, ok, err := lakes.Server(ctx)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	for range 3 {
		if _, err := dst.Store.Get(ctx, "stream/_delta_log/00000000000000000000.json"); err != nil {
			t.Fatal(err)
		}
	}
	after, _, err := lakes.Server(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := after.Since(before); d.Requests["GetObject"] != 3 || d.CPU < 0 || after.CPU <= 0 {
		t.Fatalf("between the readings: %+v (CPU at the second %v); want GetObject 3 and the server's CPU time counted", d, after.CPU)
	}
	if get, put, err := RoundTrip(ctx, dst.Store, 3); err != nil || get <= 0 || put <= 0 {
		t.Fatalf("RoundTrip = %v, %v, %v; want two positive medians", get, put, err)
	}
	if _, err := dst.Store.Stat(ctx, "_bench/roundtrip"); err == nil {
		t.Fatal("RoundTrip left its object behind")
	}
	if _, err := lakes.New(ctx, "lake-0"); err == nil {
		t.Fatal("a second lake of the same name was made; want an error (the bucket exists)")
	}
}
