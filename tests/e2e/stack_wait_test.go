package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
)

// Host endpoints of the stack, as compose.yaml publishes them.
const (
	hostBroker   = "127.0.0.1:9092"
	hostS3       = "127.0.0.1:9000"
	hostConsole  = "http://127.0.0.1:9001/"
	producerHTTP = "http://127.0.0.1:8081"
	streamerHTTP = "http://127.0.0.1:8082" // streamer-front, before the replicas
	batcherHTTP  = "http://127.0.0.1:8083"
	// checkpointPrefix is where compose.yaml's CHECKPOINT puts the streamer
	// replicas' checkpoints, one per partition, relative to the lake bucket.
	checkpointPrefix = "_checkpoints/streamer/partitions/"
	pollEvery        = 250 * time.Millisecond
)

// waitFor polls cond until it reports done, failing the test with cond's last
// status when ctx ends. It is how the stack tests wait: on conditions, never
// on fixed sleeps.
func waitFor(t testing.TB, ctx context.Context, what string, cond func() (done bool, status string)) {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		done, status := cond()
		if done {
			t.Logf("waited %v for %s (%s)", time.Since(start).Round(100*time.Millisecond), what, status)
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s after %v: %s", what, time.Since(start).Round(time.Second), status)
		case <-tick.C:
		}
	}
}

// httpGet returns the status code and (start of the) body of a GET.
func httpGet(ctx context.Context, url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b), err
}

// waitReady waits until a service's /readyz answers 200.
func waitReady(t testing.TB, ctx context.Context, svc, base string) {
	t.Helper()
	waitFor(t, ctx, svc+" /readyz to answer ready", func() (bool, string) {
		code, body, err := httpGet(ctx, base+"/readyz")
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, strings.TrimSpace(body))
	})
}

// createEventsTopic creates the events topic through the host listener,
// retrying while the broker is not up yet.
func createEventsTopic(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(hostBroker))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var last error
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		resp, err := adm.CreateTopic(ctx, contract.EventsPartitions, 1, nil, contract.EventsTopic)
		if err == nil {
			err = resp.Err
		}
		if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// endOffsets returns a topic's end offsets through the host listener.
func endOffsets(ctx context.Context, topic string) (map[int32]int64, int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(hostBroker))
	if err != nil {
		return nil, 0, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, 0, err
	}
	out := map[int32]int64{}
	var total int64
	ends.Each(func(o kadm.ListedOffset) {
		out[o.Partition] = o.Offset
		total += o.Offset
	})
	return out, total, nil
}

// dotEnv reads the repository's .env (KEY=VALUE lines), with the process
// environment taking precedence, as Compose does.
func dotEnv(t testing.TB, keys ...string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), ".env"))
	if err != nil {
		t.Fatalf(".env: %v", err)
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			vals[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	out := map[string]string{}
	for _, k := range keys {
		if v, ok := os.LookupEnv(k); ok {
			out[k] = v
		} else if v, ok := vals[k]; ok {
			out[k] = v
		} else {
			t.Fatalf(".env has no %s", k)
		}
	}
	return out
}

// serviceS3 is the S3 configuration of the services' user (LAKE_ACCESS_KEY in
// .env), through the published MinIO port.
func serviceS3(t testing.TB) lake.S3Config {
	env := dotEnv(t, "LAKE_ACCESS_KEY", "LAKE_SECRET_KEY")
	return lake.S3Config{Endpoint: hostS3, AccessKey: env["LAKE_ACCESS_KEY"], SecretKey: env["LAKE_SECRET_KEY"]}
}

// openLake opens bucket `lake` as the services' user, and checks what that
// user may do: read and write the lake, and nothing else (it cannot create a
// bucket: minio-init gave it a policy on `lake` only).
func openLake(t testing.TB, ctx context.Context) lake.Store {
	t.Helper()
	s3 := serviceS3(t)
	st, err := lake.Open(ctx, "s3://lake", s3)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("the service user %s cannot reach bucket lake: %v", s3.AccessKey, err)
	}
	mc, err := minio.New(s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	err = mc.MakeBucket(ctx, "e2e-not-allowed", minio.MakeBucketOptions{})
	if minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Fatalf("the service user %s creating a bucket: got %v, want AccessDenied", s3.AccessKey, err)
	}
	return st
}

// streamerProgress follows the streamer replicas' checkpoints
// (docs/checkpoint-protocol.md#replicas): the commit log of every
// partition's. Commits already read are remembered, so counts survive the
// checkpoint's purge of old entries.
type streamerProgress struct {
	st      lake.Store
	commits map[string]commitEntry
	// Batches is the number of committed batches seen, Rows the rows they
	// emitted.
	Batches, Rows int64
}

type commitEntry struct {
	BatchID       int64 `json:"batchId"`
	NumOutputRows int64 `json:"numOutputRows"`
}

func newStreamerProgress(st lake.Store) *streamerProgress {
	return &streamerProgress{st: st, commits: map[string]commitEntry{}}
}

// refresh reads the commits written since the last call.
func (p *streamerProgress) refresh(ctx context.Context) error {
	objs, err := p.st.List(ctx, checkpointPrefix)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if !strings.Contains(o.Key, "/commits/") || !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		if _, ok := p.commits[o.Key]; ok {
			continue
		}
		b, err := p.st.Get(ctx, o.Key)
		if err != nil {
			return err
		}
		var c commitEntry
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("%s: %w", o.Key, err)
		}
		p.commits[o.Key] = c
		p.Batches++
		p.Rows += c.NumOutputRows
	}
	return nil
}

func (p *streamerProgress) String() string {
	return fmt.Sprintf("%d batches committed over the partitions (%d rows emitted)", p.Batches, p.Rows)
}

// waitEmitted waits until the streamer's commits have emitted at least n
// rows in all.
func waitEmitted(t testing.TB, ctx context.Context, p *streamerProgress, n int64) {
	t.Helper()
	waitFor(t, ctx, fmt.Sprintf("the streamer to emit %d rows", n), func() (bool, string) {
		if err := p.refresh(ctx); err != nil {
			return false, err.Error()
		}
		return p.Rows >= n, p.String()
	})
}

// batcherRuns returns how many consolidation runs the batcher has finished
// (its /healthz).
func batcherRuns(ctx context.Context) (int64, string, error) {
	code, body, err := httpGet(ctx, batcherHTTP+"/healthz")
	if err != nil {
		return 0, "", err
	}
	if code != http.StatusOK {
		return 0, body, fmt.Errorf("batcher /healthz: %d %s", code, body)
	}
	var st struct {
		Runs      int64  `json:"runs"`
		LastError string `json:"last_error"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		return 0, body, fmt.Errorf("batcher /healthz: %w", err)
	}
	return st.Runs, strings.TrimSpace(body), nil
}
