package repartition

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/services/streamer/internal/kafkaout"
	"github.com/sensorlab/sensorlab/services/streamer/internal/streamtest"
)

// A key goes where Kafka's default partitioner (franz-go's, the Java
// client's murmur2) puts it: a producer keying by the column and the
// repartition stage agree.
func TestPartitionIsKafkasDefault(t *testing.T) {
	ref := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20_000 {
		key := make([]byte, rng.IntN(40))
		for j := range key {
			key[j] = byte(rng.IntN(256))
		}
		n := 1 + rng.IntN(64)
		if want, got := ref.Partition(&kgo.Record{Key: key}, n), Partition(key, int32(n)); int(got) != want {
			t.Fatalf("case %d: key %q of %d partitions: %d, want %d", i, key, n, got, want)
		}
	}
}

func compileSource(t *testing.T) *plan.Source {
	t.Helper()
	script, err := sql.Parse("q.sql", `CREATE SOURCE s (id STRING NOT NULL, v BIGINT NOT NULL) WITH (connector = 'kafka', topic = 'src', format = 'json');
CREATE SINK out WITH (connector = 'console', mode = 'update') AS SELECT id, count(*) AS n FROM s GROUP BY id;`)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := plan.Compile(script, plan.Streaming)
	if err != nil {
		t.Fatal(err)
	}
	return prog.Queries[0].Source
}

// The key is the column's value as the query's decoder reads it (escapes
// resolved); a value that is no record, or whose column is missing or
// null, has none.
func TestKeyOfReadsTheColumnAsTheQueryDoes(t *testing.T) {
	keyOf, err := KeyOf(compileSource(t), "id")
	if err != nil {
		t.Fatal(err)
	}
	for value, want := range map[string]string{
		`{"id":"S007","v":1}`:      "S007",
		`{"v":1,"id":"S\u0030"}`:   "S0",
		`{"id":"a","v":"not a v"}`: "a", // the second stage dead-letters it
		`{"id":"","v":1}`:          "",
		`{"id":null,"v":1}`:        "<nil>",
		`{"v":1}`:                  "<nil>",
		`{"id":7,"v":1}`:           "<nil>",
		`{"id":"a"`:                "<nil>",
		``:                         "<nil>",
		`[1,2]`:                    "<nil>",
	} {
		got := keyOf([]byte(value))
		s := string(got)
		if got == nil {
			s = "<nil>"
		}
		if s != want {
			t.Errorf("%s: key %q, want %q", value, s, want)
		}
	}
	if _, err := KeyOf(compileSource(t), "v"); err == nil {
		t.Error("a BIGINT column was taken as a key")
	}
}

// Stages of three replicas re-key a topic while one joins, one leaves
// mid-stream and another joins: every record of the source is in the
// repartition topic once (read_committed), in its key's partition (no key:
// partition 0), with its value, timestamp and headers, and its origin.
func TestStagesRekeyEveryRecordOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := kfake.NewCluster(kfake.SeedTopics(3, "src"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	keyOf, err := KeyOf(compileSource(t), "id")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	o := Options{Brokers: brokers, Group: Group("g"), Source: "src", Topic: Topic("g", "s"),
		KeyOf: keyOf, SessionTimeout: 6 * time.Second, Logger: log}
	src, n, err := Ensure(ctx, o)
	if err != nil || src != 3 || n != 3 {
		t.Fatalf("Ensure: %d, %d, %v; want 3 and 3 partitions", src, n, err)
	}

	sent := 0
	produce := func(count int) {
		var recs []*kgo.Record
		for range count {
			i := sent
			sent++
			r := &kgo.Record{Topic: "src", Partition: int32(i % 3),
				Value:     fmt.Appendf(nil, `{"id":"k%02d","v":%d}`, i%50, i),
				Timestamp: time.UnixMilli(1_700_000_000_000 + int64(i)),
				Headers:   []kgo.RecordHeader{{Key: "n", Value: strconv.AppendInt(nil, int64(i), 10)}}}
			switch i % 97 {
			case 0:
				r.Value = []byte(`{"id":`) // no key: partition 0
			case 1:
				r.Key = []byte("origin-key")
			}
			recs = append(recs, r)
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	type running struct {
		s    *Stage
		stop func()
	}
	start := func() running {
		s := New(o, n)
		sctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(sctx) }()
		return running{s, func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("stage: %v", err)
			}
		}}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("%s: not before the deadline", what)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	// produceUntil sends records a hundred at a time until s has re-keyed
	// some (it has joined and been given partitions).
	produceUntil := func(s *Stage) {
		waitFor("the stage re-keys", func() bool { produce(100); return s.Records() > 0 })
	}

	a := start()
	produce(3000)
	produceUntil(a.s)
	b := start()
	produceUntil(b.s)
	produce(3000)
	a.stop() // mid-stream: b takes a's partitions over
	produce(3000)
	d := start()
	defer d.stop()
	defer b.stop()
	produceUntil(d.s)
	produce(3000)

	var out []*kgo.Record
	waitFor("every record re-keyed", func() bool {
		out = streamtest.Committed(t, ctx, brokers, o.Topic)
		return len(out) >= sent
	})
	if len(out) != sent {
		t.Fatalf("%d records in the repartition topic, want %d", len(out), sent)
	}
	seen := map[int64]bool{}
	for _, r := range out {
		orig := kafkaout.Origin(r)
		var i int64
		var hasN bool
		for _, h := range orig.Headers {
			if h.Key == "n" {
				i, _ = strconv.ParseInt(string(h.Value), 10, 64)
				hasN = true
			}
		}
		if !hasN || seen[i] {
			t.Fatalf("record %q: header n missing or seen twice", r.Value)
		}
		seen[i] = true
		if orig.Topic != "src" || orig.Partition != int32(i%3) || !r.Timestamp.Equal(time.UnixMilli(1_700_000_000_000+i)) {
			t.Fatalf("record %d: origin %s/%d, timestamp %v", i, orig.Topic, orig.Partition, r.Timestamp)
		}
		if wantKey := i%97 == 1; (orig.Key != nil) != wantKey || wantKey && string(orig.Key) != "origin-key" {
			t.Fatalf("record %d: origin key %q", i, orig.Key)
		}
		switch {
		case i%97 == 0:
			if r.Key != nil || r.Partition != 0 {
				t.Fatalf("record %d, no reading: key %q in partition %d, want none in 0", i, r.Key, r.Partition)
			}
		default:
			want := fmt.Sprintf("k%02d", i%50)
			if string(r.Key) != want || r.Partition != Partition([]byte(want), n) {
				t.Fatalf("record %d: key %q in partition %d, want %q in %d", i, r.Key, r.Partition, want, Partition([]byte(want), n))
			}
		}
	}
	if sum := a.s.Records() + b.s.Records() + d.s.Records(); sum != int64(sent) {
		t.Errorf("the stages count %d records committed, want %d", sum, sent)
	}
}
