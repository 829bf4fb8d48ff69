package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/tests/e2e/internal/deltaread"
)

// TestStack brings up the whole lab from compose.yaml (Kafka, MinIO and its
// init job, producer, streamer, batcher), lets the producer service send a
// known stream, and checks what a user of the lab would: every service
// answers ready, the MinIO console answers, and once the stream is processed
// the lake holds exactly the windows and the consolidation the seed's
// formulas give over the readings in the topic, with the invalid ones in the
// dead-letter topic.
func TestStack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	stream := producerStream{Seed: 42, Count: 6000, Rate: 500, StartTime: origin,
		Step: 100 * time.Millisecond, InvalidFraction: 0.02}
	s := newStack(t, "happy", stream)
	s.up(ctx)
	s.checkEndpoints(ctx)
	st := openLake(t, ctx)
	s.settle(ctx, st, stream)
	s.verify(ctx, st)
	// OPTIMIZE and VACUUM on the stack's MinIO, as a user runs them next to
	// the running services: the rows stay, the readers still agree.
	p := s.pipeline(st)
	before := readStream(t, ctx, st, -1)
	p.maintain(ctx, "optimize")
	p.maintain(ctx, "vacuum", "--retain", "0s", "--force")
	after := readStream(t, ctx, st, -1)
	p.sameRows("optimize and vacuum on the stack", before.Rows, after.Rows)
	if len(after.Snap.Files) >= len(before.Snap.Files) {
		t.Fatalf("optimize left %d live files of %d", len(after.Snap.Files), len(before.Snap.Files))
	}
	for _, r := range after.Snap.Tombstones {
		if _, err := st.Stat(ctx, streamTable+"/"+r.Key); err == nil {
			t.Fatalf("vacuum --retain 0s --force left %s", r.Key)
		}
	}
	// What `curl /metrics` shows a user once the stream went through.
	checkMetrics(t, ctx, streamerHTTP, "sensorlab_streamer_input_rows_total", "sensorlab_streamer_output_rows_total",
		"sensorlab_streamer_batches_total")
	checkMetrics(t, ctx, batcherHTTP, "sensorlab_batcher_runs_total")
}

// checkMetrics waits until a service's /metrics shows every named series
// with a sample above zero, read with Prometheus' own text parser.
func checkMetrics(t *testing.T, ctx context.Context, base string, series ...string) {
	t.Helper()
	url := base + "/metrics"
	waitFor(t, ctx, url+" with "+strings.Join(series, ", ")+" above zero", func() (bool, string) {
		families, err := scrape(ctx, url)
		if err != nil {
			return false, err.Error()
		}
		for _, name := range series {
			if !positive(families[name]) {
				return false, name + " is missing or zero"
			}
		}
		return true, ""
	})
}

// scrape reads a Prometheus text exposition.
func scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return families, nil
}

// positive reports whether a family has a sample above zero (a counter's,
// gauge's or untyped value, or a summary's or histogram's count).
func positive(f *dto.MetricFamily) bool {
	for _, m := range f.GetMetric() {
		switch {
		case m.GetCounter().GetValue() > 0, m.GetGauge().GetValue() > 0, m.GetUntyped().GetValue() > 0,
			m.GetSummary().GetSampleCount() > 0, m.GetHistogram().GetSampleCount() > 0:
			return true
		}
	}
	return false
}

// TestStackStreamerRestarts is TestStack with the streamer container stopped
// (SIGTERM: it drains) and started again in the middle of the stream, then
// killed (SIGKILL: no shutdown code runs) and started again: the stream
// table's snapshot must still hold every closed window exactly once, and
// the batch table the same consolidation.
func TestStackStreamerRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Minute)
	defer cancel()
	stream := producerStream{Seed: 7, Count: 16000, Rate: 400, StartTime: origin,
		Step: 50 * time.Millisecond, InvalidFraction: 0.01}
	s := newStack(t, "restarts", stream)
	s.up(ctx)
	s.checkEndpoints(ctx)
	st := openLake(t, ctx)
	progress := newStreamerProgress(st)

	// Restart while windows are being written, not before the first one.
	waitEmitted(t, ctx, progress, 100)
	s.requireMidStream(ctx, stream, "stop")
	s.stop(ctx, "streamer")
	if status, code, err := s.state(ctx, "streamer"); err != nil || code != 0 {
		t.Fatalf("streamer after SIGTERM: status %s, exit code %d (%v), want a clean exit 0:\n%s",
			status, code, err, s.logs(ctx, "streamer", 20))
	}
	s.start(ctx, "streamer")
	waitReady(t, ctx, "streamer", streamerHTTP)

	waitEmitted(t, ctx, progress, progress.Rows+300)
	s.requireMidStream(ctx, stream, "kill")
	s.kill(ctx, "streamer")
	if _, code, _ := s.state(ctx, "streamer"); code != 137 {
		t.Fatalf("streamer after SIGKILL: exit code %d, want 137", code)
	}
	s.start(ctx, "streamer")
	waitReady(t, ctx, "streamer", streamerHTTP)

	s.settle(ctx, st, stream)
	s.verify(ctx, st)
}

// checkEndpoints checks what a user opens first: every service's /readyz on
// its published port (the producer's while it is still sending), and the
// MinIO console.
func (s *stack) checkEndpoints(ctx context.Context) {
	t := s.t
	t.Helper()
	waitReady(t, ctx, "producer", producerHTTP)
	waitReady(t, ctx, "streamer", streamerHTTP)
	waitReady(t, ctx, "batcher", batcherHTTP)
	// The producer's metrics, while it sends (it exits after its count).
	checkMetrics(t, ctx, producerHTTP, "sensorlab_producer_records_sent_total")
	waitFor(t, ctx, "the MinIO console on "+hostConsole, func() (bool, string) {
		code, body, err := httpGet(ctx, hostConsole)
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusOK && strings.Contains(body, "MinIO Console"),
			fmt.Sprintf("%d, %d bytes", code, len(body))
	})
}

// requireMidStream fails unless the producer is still sending: a restart
// after the end of the stream would not test what the scenario claims.
func (s *stack) requireMidStream(ctx context.Context, stream producerStream, what string) {
	t := s.t
	t.Helper()
	status, _, err := s.state(ctx, "producer")
	if err != nil {
		t.Fatal(err)
	}
	_, total, err := endOffsets(ctx, contract.EventsTopic)
	if err != nil {
		t.Fatal(err)
	}
	if status != "running" || total >= stream.Count {
		t.Fatalf("streamer %s: the producer is %s with %d of %d records sent; the restart would not be mid-stream",
			what, status, total, stream.Count)
	}
	t.Logf("streamer %s with %d of %d records in the topic", what, total, stream.Count)
}

// settle waits until the stream is fully processed: the producer exited 0
// having sent the whole stream, the stream table holds as many windows as
// the final watermark closes (verify then compares them), and the batcher
// finished a run that started after that.
func (s *stack) settle(ctx context.Context, st lake.Store, stream producerStream) {
	t := s.t
	t.Helper()
	waitFor(t, ctx, "the producer to send its stream and exit", func() (bool, string) {
		status, code, err := s.state(ctx, "producer")
		if err != nil {
			return false, err.Error()
		}
		return status == "exited", fmt.Sprintf("status %s, exit code %d", status, code)
	})
	if _, code, _ := s.state(ctx, "producer"); code != 0 {
		t.Fatalf("producer exited %d:\n%s", code, s.logs(ctx, "producer", 20))
	}
	_, total, err := endOffsets(ctx, contract.EventsTopic)
	if err != nil {
		t.Fatal(err)
	}
	if total != stream.Count {
		t.Fatalf("the topic holds %d records, the producer was asked for %d", total, stream.Count)
	}
	valid, invalid := reference(topicRecords(t, ctx, []string{hostBroker}, contract.EventsTopic, false))
	want := closedWindows(valid, windowMs, delayMs)
	if len(invalid) == 0 || len(want) == 0 {
		t.Fatalf("the stream has %d invalid readings and %d closed windows: it would not test the dead-letter topic and the lake",
			len(invalid), len(want))
	}

	// Every window the final watermark closes is in the stream table: the
	// replicas' watermarks reach it once every partition has been idle for
	// GROUP_IDLE_TIMEOUT (docs/streaming-semantics.md#replicas).
	waitFor(t, ctx, "the stream table to hold every closed window", func() (bool, string) {
		snap, err := deltaread.Read(ctx, st, streamTable, deltaread.Options{Version: -1})
		if err != nil {
			return false, err.Error()
		}
		var n int64
		for _, f := range snap.LiveFiles() {
			if f.Stats != nil {
				n += f.Stats.NumRecords
			}
		}
		return n >= int64(len(want)), fmt.Sprintf("version %d: %d of %d windows", snap.Version, n, len(want))
	})

	// A run in progress now may have listed the lake before the last commit:
	// wait for two more runs to finish, the second of which started after it.
	runs0, _, err := batcherRuns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the batcher to consolidate the final lake", func() (bool, string) {
		runs, body, err := batcherRuns(ctx)
		if err != nil {
			return false, err.Error()
		}
		return runs >= runs0+2, body
	})
}

// verify checks the lake and the dead-letter topic against the independent
// computation the pipeline tests use, reading the lake through the published
// MinIO port as the services' user and Kafka through the host listener.
func (s *stack) verify(ctx context.Context, st lake.Store) {
	s.pipeline(st).verify(ctx)
}

// pipeline is the stack seen as a pipeline: its broker through the host
// listener, its lake through the published MinIO port as the services'
// user (the batcher binary's maintenance commands run against it from the
// host), and its batcher running on an interval.
func (s *stack) pipeline(st lake.Store) *pipeline {
	s3 := serviceS3(s.t)
	env := []string{"S3_ENDPOINT=" + s3.Endpoint, "S3_ACCESS_KEY=" + s3.AccessKey, "S3_SECRET_KEY=" + s3.SecretKey, "S3_USE_SSL=false"}
	return &pipeline{t: s.t, brokers: []string{hostBroker}, lakeURL: "s3://lake", env: env, store: st, intervalBatcher: true}
}
