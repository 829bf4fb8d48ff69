// Package benchlake gives the harnesses the lakes their runs write to, of
// either kind the stack supports: a local directory (file://), or a bucket
// of a MinIO server of the lab's own image, started for the invocation in a
// container (lake/laketest.Start) and removed at Close, as compose runs the
// stack (lake and checkpoint on S3). Each Lake is fresh: its own directory or
// bucket. TableLog counts what a run left in a Delta table's log; on MinIO,
// Lakes.Server reads the server's S3 requests by API and its CPU time (in its
// container) and RoundTrip times small GETs and PUTs: together they say
// where a run's time on S3 goes.
package benchlake

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/laketest"
	"github.com/sensorlab/sensorlab/tools/bench/internal/harness"
)

// The kinds of lake.
const (
	File  = "file"
	MinIO = "minio"
)

// ParseKind checks a -lake flag's value.
func ParseKind(s string) (string, error) {
	switch s {
	case File, MinIO:
		return s, nil
	}
	return "", fmt.Errorf("lake %q: want %s or %s", s, File, MinIO)
}

// ParseKinds checks a comma-separated list of kinds (each once).
func ParseKinds(s string) ([]string, error) {
	var kinds []string
	for k := range strings.SplitSeq(s, ",") {
		k, err := ParseKind(strings.TrimSpace(k))
		if err != nil {
			return nil, err
		}
		for _, seen := range kinds {
			if seen == k {
				return nil, fmt.Errorf("lake %q: %s twice", s, k)
			}
		}
		kinds = append(kinds, k)
	}
	return kinds, nil
}

// Lakes makes fresh lakes of one kind.
type Lakes struct {
	kind  string
	dir   string // file: where the lakes' directories go
	minio *laketest.MinIO
}

// Open prepares lakes of kind: for File, directories under dir; for MinIO,
// a server started now (SENSORLAB_OFFLINE picks the image, as in the
// tests). Close it.
func Open(ctx context.Context, kind, dir string) (*Lakes, error) {
	l := &Lakes{kind: kind, dir: dir}
	switch kind {
	case File:
	case MinIO:
		m, err := laketest.Start(ctx)
		if err != nil {
			return nil, fmt.Errorf("benchlake: %w", err)
		}
		l.minio = m
	default:
		return nil, fmt.Errorf("benchlake: unknown kind %q", kind)
	}
	return l, nil
}

// Kind is File or MinIO.
func (l *Lakes) Kind() string { return l.kind }

// String says where the lakes are, for a harness's header.
func (l *Lakes) String() string {
	if l.minio != nil {
		return fmt.Sprintf("MinIO (%s) in a local container on %s, over HTTP", l.minio.Image, l.minio.Endpoint)
	}
	return "file:// directories under " + l.dir
}

// Close removes the MinIO server and everything in it (file lakes are the
// caller's directory's to remove).
func (l *Lakes) Close() error {
	if l.minio != nil {
		return l.minio.Close()
	}
	return nil
}

// Lake is one fresh lake.
type Lake struct {
	// URL is the lake's URL for the services' --lake.
	URL string
	// Env is what the services need in their environment to reach it (S3
	// settings), nil for a file lake.
	Env []string
	// Store is the lake, for the harness's own reads.
	Store lake.Store
	// Dir is a file lake's directory, "" on MinIO.
	Dir string
}

// New makes a fresh, empty lake named name (a directory, or a bucket: use
// lowercase letters, digits and hyphens, 3 to 63 of them).
func (l *Lakes) New(ctx context.Context, name string) (Lake, error) {
	if l.minio == nil {
		dir := filepath.Join(l.dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return Lake{}, fmt.Errorf("benchlake: %w", err)
		}
		url := "file://" + dir
		st, err := lake.Open(ctx, url, lake.S3Config{})
		if err != nil {
			return Lake{}, fmt.Errorf("benchlake: %w", err)
		}
		return Lake{URL: url, Store: st, Dir: dir}, nil
	}
	if err := l.minio.MakeBucket(ctx, name); err != nil {
		return Lake{}, fmt.Errorf("benchlake: %w", err)
	}
	url := "s3://" + name
	cfg := l.minio.S3Config()
	st, err := lake.Open(ctx, url, cfg)
	if err != nil {
		return Lake{}, fmt.Errorf("benchlake: %w", err)
	}
	return Lake{URL: url, Store: st, Env: []string{
		"S3_ENDPOINT=" + cfg.Endpoint, "S3_ACCESS_KEY=" + cfg.AccessKey, "S3_SECRET_KEY=" + cfg.SecretKey,
	}}, nil
}

// Copy copies every object under prefix of from to the same key of to: a
// lake generated on local disk, uploaded as is.
func Copy(ctx context.Context, from, to lake.Store, prefix string) (int, error) {
	objs, err := from.List(ctx, prefix)
	if err != nil {
		return 0, fmt.Errorf("benchlake: copy: %w", err)
	}
	for i, o := range objs {
		data, err := from.Get(ctx, o.Key)
		if err != nil {
			return i, fmt.Errorf("benchlake: copy: %w", err)
		}
		if err := to.Put(ctx, o.Key, data); err != nil {
			return i, fmt.Errorf("benchlake: copy: %w", err)
		}
	}
	return len(objs), nil
}

// Log is what a Delta table's _delta_log holds.
type Log struct {
	// Version is the newest commit's version, -1 for no table.
	Version int64
	// Commits counts the commit files (<version>.json).
	Commits int
	// Checkpoints counts the versions that have a checkpoint (single- or
	// multi-part).
	Checkpoints int
}

// TableLog lists the _delta_log of the table at root (e.g. "stream").
func TableLog(ctx context.Context, st lake.Store, root string) (Log, error) {
	objs, err := st.List(ctx, path.Join(root, "_delta_log")+"/")
	if err != nil {
		return Log{}, fmt.Errorf("benchlake: %w", err)
	}
	lg := Log{Version: -1}
	checkpoints := map[int64]bool{}
	for _, o := range objs {
		name := path.Base(o.Key)
		num, rest, ok := strings.Cut(name, ".")
		if !ok || len(num) != 20 {
			continue // _last_checkpoint, or not a log file
		}
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			continue
		}
		switch {
		case rest == "json":
			lg.Commits++
			lg.Version = max(lg.Version, v)
		case strings.HasPrefix(rest, "checkpoint.") && strings.HasSuffix(rest, ".parquet"):
			checkpoints[v] = true
		}
	}
	lg.Checkpoints = len(checkpoints)
	return lg, nil
}

// Server is a reading of the MinIO server's counters since it started.
type Server struct {
	// Requests counts S3 requests by API ("GetObject", "PutObject",
	// "ListObjectsV2", …).
	Requests map[string]int64
	// CPU is the server process's user + system CPU time (10 ms ticks): on
	// a shared machine, the server's share of the cores a run competes for.
	CPU time.Duration
}

// Since is s minus before: what happened between two readings (the APIs
// that did not move are left out).
func (s Server) Since(before Server) Server {
	return Server{Requests: RequestsBetween(before.Requests, s.Requests), CPU: s.CPU - before.CPU}
}

// Add adds o's counts to s's.
func (s *Server) Add(o Server) {
	if s.Requests == nil {
		s.Requests = map[string]int64{}
	}
	for api, n := range o.Requests {
		s.Requests[api] += n
	}
	s.CPU += o.CPU
}

// Server reads the MinIO server's counters inside its container: the server
// process's CPU time (/proc/1/stat) and its S3 requests by API with mc
// (`mc admin prometheus metrics … api --api-version v3`: the v2 cluster
// metrics are cached for seconds, these are current). The CPU time is read
// before mc runs, so mc's own requests to the server land in the next
// reading's CPU time. ok is false for file lakes.
func (l *Lakes) Server(ctx context.Context) (s Server, ok bool, err error) {
	if l.minio == nil {
		return Server{}, false, nil
	}
	out, err := l.minio.Exec(ctx, []string{"ROOT_USER=" + l.minio.AccessKey, "ROOT_PASSWORD=" + l.minio.SecretKey}, "/bin/sh", "-c",
		`cat /proc/1/stat && mc alias set b http://`+laketest.ContainerEndpoint+` "$ROOT_USER" "$ROOT_PASSWORD" >/dev/null && mc admin prometheus metrics b api --api-version v3`)
	if err != nil {
		return Server{}, true, fmt.Errorf("benchlake: minio counters: %v\n%s", err, out)
	}
	stat, metrics, _ := strings.Cut(string(out), "\n")
	if s.CPU, err = parseProcCPU(stat); err != nil {
		return Server{}, true, err
	}
	s.Requests, err = parseRequests(metrics)
	return s, true, err
}

// parseProcCPU reads utime + stime from a /proc/<pid>/stat line, in clock
// ticks of 10 ms (Linux's USER_HZ).
func parseProcCPU(stat string) (time.Duration, error) {
	// The command name, in parentheses, may hold spaces: count fields after it.
	_, rest, ok := strings.Cut(stat, ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("benchlake: /proc/1/stat: %q", stat)
	}
	// After the name: state(3) ppid … utime is field 14, stime 15 of the line.
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("benchlake: /proc/1/stat: %q", stat)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// parseRequests reads the minio_api_requests_total{name="…",…,type="s3"} N
// lines of MinIO's Prometheus metrics (v3).
func parseRequests(metrics string) (map[string]int64, error) {
	const name = "minio_api_requests_total{"
	m := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(metrics))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		labels, value, ok := strings.Cut(line[len(name):], "} ")
		if !ok {
			return nil, fmt.Errorf("benchlake: minio metrics: %q", line)
		}
		_, api, ok := strings.Cut(labels, `name="`)
		if !ok || !strings.Contains(labels, `type="s3"`) {
			continue
		}
		api, _, _ = strings.Cut(api, `"`)
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("benchlake: minio metrics: %q: %w", line, err)
		}
		m[api] += int64(v)
	}
	return m, sc.Err()
}

// RequestsBetween is after minus before, per API, without the APIs that did
// not move.
func RequestsBetween(before, after map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for api, n := range after {
		if n -= before[api]; n != 0 {
			d[api] = n
		}
	}
	return d
}

// FormatRequests writes counts divided by per (runs, batches) as
// "3015 (GetObject 3012, PutObject 3)": the total, then each API, the most
// frequent first.
func FormatRequests(m map[string]int64, per int) string {
	if len(m) == 0 {
		return "none"
	}
	apis := slices.Collect(maps.Keys(m))
	slices.SortFunc(apis, func(a, b string) int {
		if m[a] != m[b] {
			return int(m[b] - m[a])
		}
		return strings.Compare(a, b)
	})
	var total int64
	parts := make([]string, 0, len(apis)+1)
	for _, api := range apis {
		total += m[api]
		parts = append(parts, fmt.Sprintf("%s %.4g", api, float64(m[api])/float64(max(per, 1))))
	}
	return fmt.Sprintf("%.4g (%s)", float64(total)/float64(max(per, 1)), strings.Join(parts, ", "))
}

// RoundTrip times n GETs and n PUTs of a 1 KiB object on st (under the key
// _bench/roundtrip, deleted at the end), one at a time, and returns the
// median of each: the cost of one request to the store, which a run pays
// once per request it cannot overlap with others.
func RoundTrip(ctx context.Context, st lake.Store, n int) (get, put time.Duration, err error) {
	const key = "_bench/roundtrip"
	data := make([]byte, 1024)
	var gets, puts []float64
	for range n {
		t0 := time.Now()
		if err := st.Put(ctx, key, data); err != nil {
			return 0, 0, fmt.Errorf("benchlake: round trip: %w", err)
		}
		t1 := time.Now()
		if _, err := st.Get(ctx, key); err != nil {
			return 0, 0, fmt.Errorf("benchlake: round trip: %w", err)
		}
		t2 := time.Now()
		puts, gets = append(puts, float64(t1.Sub(t0))), append(gets, float64(t2.Sub(t1)))
	}
	if err := st.Delete(ctx, key); err != nil {
		return 0, 0, fmt.Errorf("benchlake: round trip: %w", err)
	}
	return time.Duration(harness.Median(gets)), time.Duration(harness.Median(puts)), nil
}
