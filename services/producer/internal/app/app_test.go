package app

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/services/producer/internal/config"
	"github.com/sensorlab/sensorlab/services/producer/internal/gen"
)

var origin = time.Date(2024, 11, 21, 14, 40, 0, 0, time.UTC)

func cluster(t testing.TB) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testConfig is `--count count --seed seed --start-time origin --rate 0` against c.
func testConfig(c *kfake.Cluster, count int64, seed uint64) config.Config {
	cfg := config.Default()
	cfg.Brokers = c.ListenAddrs()
	cfg.Count, cfg.Seed, cfg.SeedSet = count, seed, true
	cfg.StartTime = origin
	cfg.Rate = 0
	cfg.HTTPAddr = ""
	return cfg
}

// expected returns the first n records the generator yields for cfg.
func expected(t testing.TB, cfg config.Config, n int64) []gen.Record {
	t.Helper()
	g, err := gen.New(gen.Config{
		Seed: cfg.Seed, Sensors: cfg.Sensors, StartMs: cfg.StartTime.UnixMilli(), Step: cfg.Step, Scheduled: -1,
		LateFraction: cfg.LateFraction, LateBy: cfg.LateBy, DuplicateFraction: cfg.DuplicateFraction, InvalidFraction: cfg.InvalidFraction,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]gen.Record, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// consumeAll reads back every record of topic, after checking the end
// offsets say there are exactly want of them.
func consumeAll(t *testing.T, c *kfake.Cluster, topic string, want int64) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != want {
		t.Fatalf("topic holds %d records, want %d", total, want)
	}
	var out []*kgo.Record
	for int64(len(out)) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(out), want)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// assertSameRecords checks that got (as consumed) holds exactly want (as
// generated): per key, the same values in the same order, and each key in
// a single partition.
func assertSameRecords(t *testing.T, got []*kgo.Record, want []gen.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("consumed %d records, generated %d", len(got), len(want))
	}
	gotByKey, wantByKey := map[string][][]byte{}, map[string][][]byte{}
	partitionOf := map[string]int32{}
	for _, r := range got {
		k := string(r.Key)
		if p, seen := partitionOf[k]; seen && p != r.Partition {
			t.Fatalf("sensor %s lands in partitions %d and %d", k, p, r.Partition)
		}
		partitionOf[k] = r.Partition
		gotByKey[k] = append(gotByKey[k], r.Value)
	}
	for _, r := range want {
		wantByKey[string(r.Key)] = append(wantByKey[string(r.Key)], r.Value)
	}
	if len(gotByKey) != len(wantByKey) {
		t.Fatalf("%d keys consumed, %d generated", len(gotByKey), len(wantByKey))
	}
	for k, ws := range wantByKey {
		gs := gotByKey[k]
		if len(gs) != len(ws) {
			t.Fatalf("key %s: %d records consumed, %d generated", k, len(gs), len(ws))
		}
		for i := range ws {
			if !bytes.Equal(gs[i], ws[i]) {
				t.Fatalf("key %s record %d: consumed %q, generated %q", k, i, gs[i], ws[i])
			}
		}
	}
}

func topicPartitions(t *testing.T, c *kfake.Cluster, topic string) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tds, err := kadm.NewClient(cl).ListTopics(t.Context(), topic)
	if err != nil || tds[topic].Err != nil {
		t.Fatalf("describe %s: %v %v", topic, err, tds[topic].Err)
	}
	return len(tds[topic].Partitions)
}

func TestCount5000Seed7ProducesExactlyTheGeneratorsRecords(t *testing.T) {
	c := cluster(t)
	cfg := testConfig(c, 5000, 7)
	cfg.LateFraction, cfg.DuplicateFraction, cfg.InvalidFraction = 0.02, 0.02, 0.02
	a, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(t.Context()); err != nil {
		t.Fatalf("run: %v", err)
	}
	if st := a.Stats(); st.Sent != 5000 || st.Errors != 0 || st.Generated != 5000 || st.Invalid == 0 || st.Duplicates == 0 || st.Late == 0 {
		t.Fatalf("stats %+v, want 5000 sent, no errors, some of each fault", st)
	}
	if n := topicPartitions(t, c, contract.EventsTopic); n != 3 {
		t.Fatalf("topic created with %d partitions, want 3", n)
	}
	assertSameRecords(t, consumeAll(t, c, contract.EventsTopic, 5000), expected(t, cfg, 5000))
}

// Without keys (the seed lab's generator), the same records are sent with
// no key, spread over every partition.
func TestUnkeyedRecordsSpreadOverThePartitions(t *testing.T) {
	c := cluster(t)
	cfg := testConfig(c, 6000, 7)
	cfg.KeyBySensor = false
	a, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(t.Context()); err != nil {
		t.Fatalf("run: %v", err)
	}
	got := consumeAll(t, c, contract.EventsTopic, 6000)
	perPartition := map[int32]int{}
	values := map[string]int{}
	for _, r := range got {
		if r.Key != nil {
			t.Fatalf("record %q has key %q", r.Value, r.Key)
		}
		perPartition[r.Partition]++
		values[string(r.Value)]++
	}
	if len(perPartition) != 3 {
		t.Errorf("records in partitions %v, want all three", perPartition)
	}
	for _, r := range expected(t, cfg, 6000) {
		values[string(r.Value)]--
	}
	for v, n := range values {
		if n != 0 {
			t.Fatalf("value %q: %d more sent than generated", v, n)
		}
	}
}

func TestExistingTopicIsKept(t *testing.T) {
	c := cluster(t)
	cfg := testConfig(c, 10, 1)
	cfg.Partitions = 5 // only used to create the topic
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(t.Context(), 2, 1, nil, cfg.Topic); err != nil {
		t.Fatal(err)
	}
	if err := Run(t.Context(), cfg, testLogger(t)); err != nil {
		t.Fatalf("run against an existing topic: %v", err)
	}
	if n := topicPartitions(t, c, cfg.Topic); n != 2 {
		t.Fatalf("existing topic now has %d partitions, want its 2", n)
	}
	assertSameRecords(t, consumeAll(t, c, cfg.Topic, 10), expected(t, cfg, 10))
}

// Dropped connections on produce requests are retried; idempotence keeps
// every record exactly once and in order.
func TestBrokerFaultsNeitherLoseNorDuplicate(t *testing.T) {
	c := cluster(t)
	faults := 0
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		faults++
		if faults%3 == 0 && faults < 60 {
			return nil, errors.New("injected: connection dropped"), true
		}
		return nil, nil, false
	})
	cfg := testConfig(c, 3000, 5)
	cfg.MaxBufferedRecords = 100 // many small requests, so that many hit a fault
	a, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(t.Context()); err != nil {
		t.Fatalf("run: %v", err)
	}
	if faults < 30 {
		t.Fatalf("only %d produce requests seen, faults barely exercised", faults)
	}
	assertSameRecords(t, consumeAll(t, c, cfg.Topic, 3000), expected(t, cfg, 3000))
}

// A stop ends generation, flushes, and the topic holds exactly what was
// counted as sent: the generator's first Sent records.
func TestStopFlushesEverythingCounted(t *testing.T) {
	c := cluster(t)
	cfg := testConfig(c, 0, 9) // until stopped
	cfg.HTTPAddr = "127.0.0.1:0"
	a, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for a.Stats().Sent < 2000 {
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v", err)
		case <-tick.C:
		}
	}
	// The running service reports ready through its own HTTP server, as compose sees it.
	if err := Healthcheck(t.Context(), config.Healthcheck{URL: "http://" + a.HTTPAddr() + "/readyz", Timeout: 5 * time.Second}); err != nil {
		t.Fatalf("healthcheck of a running producer: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run after stop: %v", err)
	}
	st := a.Stats()
	if st.Errors != 0 || st.Sent != st.Generated {
		t.Fatalf("stats %+v: every generated record must be acknowledged after a stop", st)
	}
	assertSameRecords(t, consumeAll(t, c, cfg.Topic, st.Sent), expected(t, cfg, st.Sent))
}

// With the broker away, a stop waits ShutdownTimeout, then counts what was
// not acknowledged as errors and reports failure: nothing is counted as sent
// that the broker does not hold.
func TestStopDuringOutageCountsUnacknowledgedAsErrors(t *testing.T) {
	c := cluster(t)
	cfg := testConfig(c, 0, 3)
	cfg.ShutdownTimeout = 100 * time.Millisecond
	cfg.MaxBufferedRecords = 500
	a, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for a.Stats().Sent < 500 {
		<-tick.C
	}
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, errors.New("injected: broker away"), true
	})
	// Wait until the buffer is full: the producer is blocked by the outage.
	for a.cl.BufferedProduceRecords() < int64(cfg.MaxBufferedRecords) {
		<-tick.C
	}
	stop()
	err = <-done
	st := a.Stats()
	if err == nil || !strings.Contains(err.Error(), "not acknowledged") {
		t.Fatalf("run during an outage returned %v, want a not-acknowledged error", err)
	}
	if st.Errors == 0 || st.Sent+st.Errors != st.Generated {
		t.Fatalf("stats %+v: sent + errors must account for every generated record", st)
	}
	c.DropControl()
	consumeAll(t, c, cfg.Topic, st.Sent)
}

func TestBackfillThenWallClock(t *testing.T) {
	c := cluster(t)
	cfg := testConfig(c, 15, 2)
	cfg.StartTime = time.Time{}
	cfg.Backfill, cfg.Step = 2*time.Second, 200*time.Millisecond
	a, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	now := origin
	a.now = func() time.Time { return now }
	if err := a.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	recs := consumeAll(t, c, cfg.Topic, 15)
	byTS := map[int64]int{}
	for _, r := range recs {
		ev, err := contract.DecodeEvent(r.Value, now.UnixMilli())
		if err != nil {
			t.Fatalf("consumed an invalid record %q: %v", r.Value, err)
		}
		byTS[ev.TS]++
	}
	for i := range int64(10) {
		if ts := origin.UnixMilli() - 2000 + i*200; byTS[ts] != 1 {
			t.Errorf("backfill slot %d (ts %d) holds %d records, want 1", i, ts, byTS[ts])
		}
	}
	if byTS[origin.UnixMilli()] != 5 {
		t.Errorf("%d records stamped with the clock after the backfill, want 5 (by ts: %v)", byTS[origin.UnixMilli()], byTS)
	}
}

func TestReadyzFollowsBrokerAndTopic(t *testing.T) {
	c := cluster(t)
	cfg := testConfig(c, 0, 1)
	a, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer a.closeClient()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	get := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	probe := config.Healthcheck{URL: srv.URL + "/readyz", Timeout: 5 * time.Second}

	if code := get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz %d", code)
	}
	if code := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d before the topic exists, want 503", code)
	}
	if err := Healthcheck(t.Context(), probe); err == nil {
		t.Fatal("healthcheck passed before the topic exists")
	}
	if err := a.ensureTopic(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code := get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz %d once the topic exists, want 200 (%v)", code, a.Ready(t.Context()))
	}
	if err := Healthcheck(t.Context(), probe); err != nil {
		t.Fatalf("healthcheck once ready: %v", err)
	}
	c.Close()
	if code := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d with the broker gone, want 503", code)
	}
}
