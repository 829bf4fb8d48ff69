package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/services/streamer/internal/checkpoint"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/driver"
	"github.com/sensorlab/sensorlab/services/streamer/internal/faultstore"
)

func quietLog() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// A lake an earlier sensorlab wrote (a plain-Parquet stream table listed by
// a private commit log) is refused at start, before anything is written
// (the checkpoint included), with what to do.
func TestALakeFromAnEarlierSensorlabIsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := newWorld(t)
	w.produce(ctx, rand.New(rand.NewPCG(1, 2)), origin, 500)
	old := "stream/_sink_log/0f6c9a52-8d1e-4b7a-9c3f-2e5d7a1b4c60/00000000000000000000.json"
	if err := w.store.Put(ctx, old, []byte(`{"version":1}`)); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	if code := Main(ctx, w.config(), slog.New(slog.NewJSONHandler(&logs, nil)), io.Discard); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	for _, s := range []string{"stream/_sink_log/", "earlier sensorlab", "Move the old lake aside"} {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("the streamer logged %q, which does not say %q", logs.String(), s)
		}
	}
	if objs, _ := w.store.List(ctx, ""); len(objs) != 1 {
		t.Fatalf("the refused start wrote to the lake: %d objects", len(objs))
	}
}

// crashInput is the input of the crash tests: enough readings for a score
// of batches with output at 300 records (30 s) per batch, so that the stream
// table's version 10 (and its checkpoint) is written by one of them, and
// readings across midnight UTC, so that a batch writes two data files.
func crashInput(ctx context.Context, w *world) {
	const midnight = int64(1732233600000) // 2024-11-22T00:00:00Z
	w.produce(ctx, rand.New(rand.NewPCG(5, 6)), midnight-125_000, 6000, `{"sensor_id":"S001"`)
}

func crashConfig(w *world) config.Config {
	return w.config(func(c *config.Config) { c.MaxOffsetsPerTrigger = 300 })
}

// traceRun runs the streamer to its end and returns its writes, in order,
// "lake:<key>" and "checkpoint:<key>".
func traceRun(t *testing.T, ctx context.Context, w *world, cfg config.Config) []string {
	t.Helper()
	g := faultstore.NewGroup()
	d := newDriver(t, cfg, quietLog())
	d.WrapStore = func(name string, st lake.Store) lake.Store { return g.Wrap(st, name+":") }
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return g.Writes()
}

// crashPoints picks the writes to crash at from a run's trace: the first
// one (the checkpoint's metadata), and every write of three batches, from
// its offsets entry to its commit: the one that writes the first data file,
// the first one that writes two, and the one that writes the table's
// checkpoint.
func crashPoints(t *testing.T, writes []string) []int {
	t.Helper()
	points := []int{1}
	around := func(is func(string) bool, what string) {
		i := -1
		for j, k := range writes {
			if is(k) {
				i = j
				break
			}
		}
		if i < 0 {
			t.Fatalf("the run wrote no %s: %q", what, writes)
		}
		from, to := i, i
		for from > 0 && !strings.HasPrefix(writes[from], "checkpoint:offsets/") {
			from--
		}
		for to < len(writes)-1 && !strings.HasPrefix(writes[to], "checkpoint:commits/") {
			to++
		}
		for k := from; k <= to; k++ {
			points = append(points, k+1)
		}
	}
	dataFile := func(k string) bool { return strings.HasPrefix(k, "lake:stream/date=") }
	around(dataFile, "data file")
	files := 0 // data files of the batch so far (the state file is written alongside them)
	around(func(k string) bool {
		if strings.HasPrefix(k, "checkpoint:offsets/") {
			files = 0
		}
		if dataFile(k) {
			files++
		}
		return files == 2
	}, "batch with two data files")
	around(func(k string) bool { return strings.HasSuffix(k, ".checkpoint.parquet") }, "table checkpoint")
	return points
}

// The streamer dies at a write of its commit path (the offsets entry, the
// data files, the table commit, the table checkpoint, the state, the
// checkpoint's commit) and is started again: the stream table then holds
// every closed window exactly once, as a Delta reader sees it.
func TestACrashAtEachWriteOfABatchLosesAndDuplicatesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ref := newWorld(t)
	crashInput(ctx, ref)
	writes := traceRun(t, ctx, ref, crashConfig(ref))
	want := expected(ref.sent, 10_000, 60_000)
	compareRows(t, ref.committedRows(ctx), want)

	for _, k := range crashPoints(t, writes) {
		t.Run(fmt.Sprintf("write %d %s", k, writes[k-1]), func(t *testing.T) {
			w := newWorld(t)
			crashInput(ctx, w)
			cfg := crashConfig(w)

			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			g := faultstore.NewGroup()
			g.CrashAt(k, stop) // the process dies: it is stopped, and none of its writes lands any more
			d := newDriver(t, cfg, quietLog())
			d.WrapStore = func(name string, st lake.Store) lake.Store { return g.Wrap(st, name+":") }
			_ = d.Run(runCtx) // a dying process's exit status says nothing
			if !g.Dead() {
				t.Fatalf("the run ended before write %d", k)
			}

			w.run(ctx, cfg) // restarted
			compareRows(t, w.committedRows(ctx), want)
			rowsByBatch(t, ctx, w.store) // fails on a batch committed twice
		})
	}
}

// startGate lets a test start a second streamer while the first one is
// writing the data files of a batch, and hold the first one there until the
// second one reaches the same point. It runs reached once, on the first
// data file written through any of the stores it wraps (a driver opens its
// lake again on every restart).
type startGate struct {
	once    sync.Once
	reached func()
}

func (g *startGate) wrap(name string, st lake.Store) lake.Store {
	if name != "lake" {
		return st
	}
	return &gatedStore{Store: st, g: g}
}

type gatedStore struct {
	lake.Store
	g *startGate
}

func (s *gatedStore) Put(ctx context.Context, key string, data []byte) error {
	if strings.HasPrefix(key, "stream/date=") {
		s.g.once.Do(s.g.reached)
	}
	return s.Store.Put(ctx, key, data)
}

// Two streamers on one checkpoint and lake while readings flow: one stops
// with the clear error naming the checkpoint and the batch, the other goes
// on, and the lake and the dead-letter topic hold exactly what one streamer
// alone writes. The second starts at various points of the first's run.
func TestASecondStreamerOnTheCheckpointIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		when string // when the second streamer starts
	}{
		{"both at once", "now"},
		{"after the first's first batch", "committed"},
		{"while the first writes a batch's files", "in-batch"},
		{"while the first writes a batch's files, again", "in-batch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			w := newWorld(t)
			rng := rand.New(rand.NewPCG(11, 12))
			w.produce(ctx, rng, origin, 500, `{"sensor_id":`, `x`) // 50 s of readings
			cfg := w.config(func(c *config.Config) {
				c.Trigger, c.MaxOffsetsPerTrigger = config.TriggerContinuous, 200
			})

			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			type result struct {
				name string
				err  error
			}
			done := make(chan result, 2)
			start := func(name string, d *driver.Driver) {
				go func() { done <- result{name, d.Run(runCtx)} }()
			}
			a, b := newDriver(t, cfg, quietLog().With("app", "a")), newDriver(t, cfg, quietLog().With("app", "b"))
			bReached := make(chan struct{})
			var releaseA sync.Once
			switch tc.when {
			case "now":
				start("a", a)
				start("b", b)
			case "committed":
				start("a", a)
				waitFor(t, ctx, func() bool {
					_, err := w.store.Stat(ctx, "_checkpoints/streamer/"+checkpoint.CommitKey(0))
					return err == nil
				})
				start("b", b)
			case "in-batch":
				// a stops in its first data file until b reaches its own.
				a.WrapStore = (&startGate{reached: func() {
					start("b", b)
					select {
					case <-bReached:
					case <-ctx.Done():
					}
				}}).wrap
				b.WrapStore = (&startGate{reached: func() { releaseA.Do(func() { close(bReached) }) }}).wrap
				start("a", a)
			}

			// Readings keep coming while both run, a chunk after each
			// batch committed, until one of them stops. (Two idle
			// streamers do not meet: both wait for input.)
			var refused result
			commits := func() int {
				objs, err := w.store.List(ctx, "_checkpoints/streamer/"+checkpoint.CommitsDir)
				if err != nil {
					t.Fatal(err)
				}
				return len(objs)
			}
			invalid := 2
			for chunk := 0; refused.name == ""; chunk++ {
				if chunk == 60 {
					t.Fatal("both streamers kept running on one checkpoint")
				}
				n := commits()
				w.produce(ctx, rng, origin+50_000+int64(chunk)*20_000, 200, `{"sensor_id":"S001","ts":"x","temp":1,"hum":1,"ok":true}`)
				invalid++
				for refused.name == "" && commits() == n {
					select {
					case refused = <-done:
					case <-ctx.Done():
						t.Fatal("no batch committed and no streamer stopped before the deadline")
					case <-time.After(10 * time.Millisecond):
					}
				}
			}
			releaseA.Do(func() { close(bReached) })
			t.Logf("streamer %s stopped after %d chunks: %v", refused.name, invalid-2, refused.err)
			// More readings for the survivor, so that it closes windows.
			for chunk, end := invalid-2, invalid+3; chunk < end; chunk++ {
				w.produce(ctx, rng, origin+50_000+int64(chunk)*20_000, 200, `{"sensor_id":"S001","ts":"x","temp":1,"hum":1,"ok":true}`)
				invalid++
			}
			if !errors.Is(refused.err, checkpoint.ErrInUse) {
				t.Fatalf("streamer %s stopped with %v, want the checkpoint in use", refused.name, refused.err)
			}
			for _, s := range []string{"checkpoint " + strings.TrimSuffix(w.lakeURL, "/") + "/_checkpoints/streamer", "in use by another streamer",
				"for batch", "--checkpoint"} {
				if !strings.Contains(refused.err.Error(), s) {
					t.Errorf("error %q does not say %q", refused.err, s)
				}
			}

			// The survivor reads everything and writes every closed window once.
			want := expected(w.sent, 10_000, 60_000)
			waitFor(t, ctx, func() bool { return w.readAll(ctx) && len(w.committedRows(ctx)) >= len(want) })
			stop()
			if survivor := <-done; survivor.err != nil {
				t.Fatalf("the surviving streamer %s: %v", survivor.name, survivor.err)
			}
			compareRows(t, w.committedRows(ctx), want)
			rowsByBatch(t, ctx, w.store)

			// Its dead letters: each invalid record once, for read_committed consumers.
			if letters := deadLetters(t, ctx, w.brokers); len(letters) != invalid {
				t.Fatalf("dead letters of %v, want each of the %d invalid records once", letters, invalid)
			}
		})
	}
}

// readAll reports whether the query's checkpoint has committed a batch that
// ends where the input topic ends.
func (w *world) readAll(ctx context.Context) bool {
	w.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...))
	if err != nil {
		w.t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, contract.EventsTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		w.t.Fatal(err)
	}
	st, err := lake.Open(ctx, w.lakeURL+"/_checkpoints/streamer", lake.S3Config{})
	if err != nil {
		w.t.Fatal(err)
	}
	ck, err := checkpoint.Open(ctx, st)
	if err != nil {
		w.t.Fatal(err)
	}
	rec, err := ck.Recover(ctx)
	if err != nil || rec.LastCommit == nil || len(rec.Replay) > 0 {
		return false // (a recovery can fail while a streamer writes: look again)
	}
	done := true
	ends.Each(func(o kadm.ListedOffset) { done = done && rec.LastOffsets.End[o.Partition] == o.Offset })
	return done
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not reached before the deadline")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// deadLetters reads the dead-letter topic read_committed, up to its end,
// and returns the source positions of its records ("partition/offset"),
// failing on a record seen twice.
func deadLetters(t *testing.T, ctx context.Context, brokers []string) []string {
	t.Helper()
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, contract.DLQTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	remaining := map[int32]int64{} // partition -> end offset not reached yet
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(contract.DLQTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]bool{}
	var out []string
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("dead-letter topic: %d partitions not read to their end", len(remaining))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := remaining[r.Partition]; ok && r.Offset >= end-1 {
				delete(remaining, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			var part, off string
			for _, h := range r.Headers {
				switch h.Key {
				case contract.HeaderSourcePartition:
					part = string(h.Value)
				case contract.HeaderSourceOffset:
					off = string(h.Value)
				}
			}
			k := part + "/" + off
			if seen[k] {
				t.Fatalf("dead letter of %s written twice", k)
			}
			seen[k] = true
			out = append(out, k)
		})
	}
	return out
}
