// Package app wires the streamer: the Kafka source, the decoder, the
// windowing engine, the sinks and the checkpoint, driven by the micro-batch
// loop of docs/checkpoint-protocol.md. It is the only package that knows all
// of them; the engine at the centre knows none.
package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/services/streamer/internal/checkpoint"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/decode"
	"github.com/sensorlab/sensorlab/services/streamer/internal/engine"
	"github.com/sensorlab/sensorlab/services/streamer/internal/kafkaout"
	"github.com/sensorlab/sensorlab/services/streamer/internal/progress"
	"github.com/sensorlab/sensorlab/services/streamer/internal/sink"
	"github.com/sensorlab/sensorlab/services/streamer/internal/source"
)

// retainBatches is how many batches of checkpoint history are kept (Spark's
// spark.sql.streaming.minBatchesToRetain).
const retainBatches = 100

// App is one running streaming query.
type App struct {
	cfg    config.Config
	log    *slog.Logger
	stdout io.Writer
	// ExtraKafkaOpts are added to every Kafka client (tests use them).
	ExtraKafkaOpts []kgo.Opt
	// WrapStore, when set, wraps the lake ("lake") and the checkpoint
	// ("checkpoint") stores as they are opened (tests inject failures).
	WrapStore func(name string, st lake.Store) lake.Store

	lake    lake.Store
	ck      *checkpoint.Checkpoint
	src     *source.Source
	out     *kafkaout.Writer
	eng     *engine.Engine
	table   *sink.DeltaSink
	console *sink.ConsoleSink
	meta    checkpoint.Metadata
	runID   string

	nextBatch   int64
	nextStart   source.Offsets
	watermark   int64
	needsNoData bool
	lossReset   bool // the next batch starts past a data loss (--fail-on-data-loss=false)
	replay      []checkpoint.OffsetsEntry
	seen        *seenBatches   // nil until the first recovery
	targets     source.Offsets // available-now: the offsets to reach
	lastTrigger time.Time
	planDur     time.Duration // time to decide the last planned batch's offsets
	walDur      time.Duration // time to write its offsets entry

	progress *progress.Log
	obs      observer // metrics and the latest windows, from each batch's progress (metrics.go)
	ready    atomic.Bool
	lastErr  atomic.Pointer[error] // why the query is not running, while it restarts
	srcMu    sync.Mutex            // guards src against Ready, which runs on HTTP goroutines
	purging  chan struct{}         // closed when the background purge of checkpoint history ends; nil if none ran
}

// New returns an App for cfg. Nothing is connected until Run.
func New(cfg config.Config, log *slog.Logger, stdout io.Writer) *App {
	return &App{cfg: cfg, log: log, stdout: stdout, runID: uuid.NewString(), progress: progress.NewLog(100)}
}

// Main runs the command cfg names (a query file's queries, by default the
// seed lab's: RunQueryFile; the built-in windowing path when a setting of
// config.SpecialisedOnly is given) and returns the process exit code: 0
// when the query stopped cleanly (or, with the available-now trigger,
// finished), 1 when it failed or could not start (an HTTP address that
// cannot be bound included).
func Main(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) int {
	if cfg.Command == config.CommandHealthcheck {
		if err := Healthcheck(ctx, cfg.Healthcheck); err != nil {
			log.Error("unhealthy", "err", err)
			return 1
		}
		return 0
	}
	if cfg.Query != "" || len(cfg.SpecialisedGiven()) == 0 {
		if err := RunQueryFile(ctx, cfg, log, stdout); err != nil {
			log.Error("streamer stopped", "err", err)
			return 1
		}
		return 0
	}
	if err := New(cfg, log, stdout).Run(ctx); err != nil {
		log.Error("streamer stopped", "err", err)
		return 1
	}
	return 0
}

// Run runs the query until ctx ends (a signal: the current batch is finished
// within cfg.ShutdownTimeout, then the query stops cleanly) or, with the
// available-now trigger, until everything available at start is processed.
// It returns nil on a clean stop. It binds the HTTP address first and
// returns at once when it cannot.
func (a *App) Run(ctx context.Context) error {
	ln, err := a.listen()
	if err != nil {
		return err
	}
	a.log.Info("streamer starting", "config", a.cfg, "run_id", a.runID)
	if ln != nil {
		defer a.serveHTTP(ln)()
	}

	// Batches run on a context that outlives the signal by ShutdownTimeout,
	// so that a stop request finishes the batch in flight instead of
	// abandoning it half-way (abandoning would be safe too: it is re-run).
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			select {
			case <-time.After(a.cfg.ShutdownTimeout):
				a.log.Warn("shutdown timeout: abandoning the batch in flight; it is re-run on restart")
				cancelWork()
			case <-stopped:
			}
		case <-stopped:
		}
	}()

	// A failure that is not permanent (broker or store away, a write that
	// failed) restarts the query in-process from its checkpoint, after a
	// backoff: exactly the path of a crash and restart, which re-runs the
	// interrupted batch identically. The backoff starts over after a
	// session that committed a batch.
	b := restartBackOff()
	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		committed, err := a.session(ctx, work)
		if err != nil {
			a.lastErr.Store(&err) // before ready turns false: /readyz says why at once
		}
		a.ready.Store(false)
		a.close()
		switch {
		case err == nil:
			return struct{}{}, nil
		case permanent(err):
			return struct{}{}, backoff.Permanent(err)
		case committed:
			b.Reset()
		}
		return struct{}{}, err
	},
		backoff.WithBackOff(b),
		backoff.WithMaxElapsedTime(0), // restart until stopped; the default gives up after 15 minutes
		backoff.WithNotify(func(err error, next time.Duration) {
			a.log.Error("query failed: restarting it from the checkpoint", "err", err, "retry_in", next.String())
		}))
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Cause(ctx)) {
		a.log.Info("stop requested while restarting: stopped")
		return nil
	}
	return err
}

// purgeInBackground deletes the checkpoint history older than the newest
// retainBatches batches, off the batch loop: on S3 it is hundreds of DELETEs,
// which would otherwise stall the next batch (seconds of latency on MinIO).
// It only touches batches far below the ones the loop writes. A purge still
// running when the next is due makes that one a no-op: the next purge covers
// what it would have deleted.
func (a *App) purgeInBackground(ctx context.Context) {
	if a.purging != nil {
		select {
		case <-a.purging:
		default:
			return
		}
	}
	done := make(chan struct{})
	a.purging = done
	ck := a.ck
	go func() {
		defer close(done)
		if err := ck.Purge(ctx, retainBatches); err != nil && ctx.Err() == nil {
			a.log.Warn("purge checkpoint history", "err", err)
		}
	}()
}

// waitPurge waits for the background purge, if one runs, so that it never
// outlives the session that started it (recovery then sees a settled
// checkpoint).
func (a *App) waitPurge() {
	if a.purging != nil {
		<-a.purging
		a.purging = nil
	}
}

// restartBackOff paces the query's restarts: 500ms, doubling up to 30s,
// without jitter (one streamer per checkpoint: there is no herd to spread).
func restartBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval: 500 * time.Millisecond, Multiplier: 2, MaxInterval: 30 * time.Second,
	}
}

// storeBackOff paces the wait for the lake and the checkpoint store at
// start: 200ms, doubling up to 5s, without jitter.
func storeBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval: 200 * time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Second,
	}
}

// permanent reports errors that a restart cannot cure: they need a person.
// A checkpoint in use by another streamer is one: this process stops, the
// other one goes on.
func permanent(err error) bool {
	return errors.Is(err, checkpoint.ErrDamaged) || errors.Is(err, checkpoint.ErrIncompatible) ||
		errors.Is(err, checkpoint.ErrInUse) || errors.Is(err, source.ErrDataLoss) || errors.Is(err, errWindowState) ||
		errors.Is(err, errLegacyLake) || errors.Is(err, sink.ErrIncompatibleTable) || errors.Is(err, delta.ErrUnsupportedFeature)
}

var errWindowState = errors.New("window state")

// errLegacyLake marks a lake written by an earlier sensorlab, whose stream
// table was plain Parquet files listed by a private commit log.
var errLegacyLake = errors.New("lake written by an earlier sensorlab")

// legacySinkLog is where that log lived, in the lake.
const legacySinkLog = "stream/_sink_log/"

// session connects, recovers and runs batches until ctx ends (nil), the
// available-now work is done (nil) or something fails. committed says
// whether at least one batch committed.
func (a *App) session(ctx, work context.Context) (committed bool, err error) {
	if err := a.open(ctx); err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		return false, err
	}
	if err := a.recover(work, ctx); err != nil {
		return false, err
	}
	a.ready.Store(true)
	a.lastErr.Store(nil)
	a.log.Info("query started", "id", a.meta.ID, "run_id", a.runID, "next_batch", a.nextBatch,
		"watermark", a.watermark, "start", a.nextStart, "replay", len(a.replay), "trigger", a.cfg.Trigger)

	for {
		if ctx.Err() != nil {
			a.log.Info("stop requested: query stopped cleanly", "next_batch", a.nextBatch)
			return committed, nil
		}
		entry, ok, done, err := a.plan(ctx, work)
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, context.Canceled) {
				continue
			}
			return committed, err
		}
		if done {
			a.log.Info("available-now: everything available at start is processed", "next_batch", a.nextBatch)
			return committed, nil
		}
		if !ok {
			continue
		}
		if err := a.runBatch(work, entry); err != nil {
			return committed, fmt.Errorf("batch %d: %w", entry.BatchID, err)
		}
		committed = true
	}
}

func (a *App) open(ctx context.Context) error {
	var err error
	if a.lake, err = lake.Open(ctx, a.cfg.Lake, a.cfg.S3); err != nil {
		return fmt.Errorf("lake: %w", err)
	}
	ckStore, err := lake.Open(ctx, a.cfg.Checkpoint, a.cfg.S3)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if a.WrapStore != nil {
		a.lake, ckStore = a.WrapStore("lake", a.lake), a.WrapStore("checkpoint", ckStore)
	}
	if err := a.waitStore(ctx, a.lake); err != nil {
		return err
	}
	if err := a.waitStore(ctx, ckStore); err != nil {
		return err
	}
	if err := checkNotLegacy(ctx, a.lake); err != nil {
		return err
	}
	if a.ck, err = checkpoint.Open(ctx, ckStore, checkpoint.WithRunID(a.runID)); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	src, err := source.Open(ctx, source.Options{Brokers: a.cfg.Brokers, Topic: a.cfg.Topic,
		FailOnDataLoss: a.cfg.FailOnDataLoss, Logger: a.log, ExtraOpts: a.ExtraKafkaOpts})
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	a.srcMu.Lock()
	a.src = src
	a.srcMu.Unlock()
	if a.cfg.Console {
		a.console = sink.NewConsoleSink(a.stdout)
	}
	return nil
}

// checkNotLegacy refuses a lake an earlier sensorlab wrote: its stream
// table is not a Delta table, and appending Delta commits next to its
// private log would give readers two tables in one directory. There is no
// migration: the old lake is moved aside.
func checkNotLegacy(ctx context.Context, st lake.Store) error {
	objs, err := st.List(ctx, legacySinkLog)
	if err != nil {
		return fmt.Errorf("lake: list %s: %w", legacySinkLog, err)
	}
	if len(objs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: lake %s holds %s (%d objects), the commit log of the plain-Parquet stream table an earlier "+
		"sensorlab wrote; this streamer writes the stream table as Delta Lake and does not read or convert that log. "+
		"Move the old lake aside (rename its directory or bucket prefix, or delete it) and start on an empty lake "+
		"path, with an empty --checkpoint too (the default one lives in the lake)",
		errLegacyLake, st, legacySinkLog, len(objs))
}

// waitStore waits, with backoff, until the store answers (MinIO may still be
// starting), so that a compose start-up race is not a crash.
func (a *App) waitStore(ctx context.Context, st lake.Store) error {
	var last error
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		last = st.Ping(ctx)
		return struct{}{}, last
	},
		backoff.WithBackOff(storeBackOff()),
		backoff.WithMaxElapsedTime(0), // until the store answers or we are stopped
		backoff.WithNotify(func(err error, next time.Duration) {
			a.log.Warn("waiting for the store", "store", st.String(), "err", err, "retry_in", next.String())
		}))
	if err != nil {
		return fmt.Errorf("store %s: %w (last error: %v)", st, err, last)
	}
	return nil
}

func (a *App) close() {
	a.waitPurge()
	if a.out != nil {
		a.out.Close()
		a.out = nil
	}
	a.srcMu.Lock()
	defer a.srcMu.Unlock()
	if a.src != nil {
		a.src.Close()
		a.src = nil
	}
}

func (a *App) engineConfig() engine.Config {
	c := engine.Config{Window: a.cfg.Window, Watermark: a.cfg.Watermark, Slide: a.cfg.Slide,
		Dedup: a.cfg.Dedup, SilenceTimeout: a.cfg.SilenceTimeout, RetainAll: a.cfg.Complete()}
	if a.cfg.SessionGap > 0 {
		c.Window, c.Slide, c.SessionGap = 0, 0, a.cfg.SessionGap
	}
	return c
}

// recover restores the query from its checkpoint (docs/checkpoint-protocol.md).
func (a *App) recover(work, ctx context.Context) error {
	var err error
	a.meta, err = a.ck.InitMetadata(work, checkpoint.Metadata{
		ID: uuid.NewString(), CreatedAt: time.Now().UTC(), Topic: a.cfg.Topic,
		Window: a.engineConfig().Window, Slide: a.cfg.Slide, SessionGap: a.cfg.SessionGap,
		WatermarkDelay: a.cfg.Watermark, OutputMode: a.cfg.OutputMode,
	})
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	a.table = sink.NewDeltaSink(a.lake, a.meta.ID, a.cfg.OutputMode)
	if err := a.table.Open(work); err != nil {
		return err
	}
	// Read the checkpoint before the Kafka outputs fence other producers
	// of the query: a process that must stop (another streamer runs the
	// checkpoint) stops without disturbing the one that goes on.
	rec, err := a.ck.Recover(work)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := a.checkAlone(rec); err != nil {
		return err
	}
	if a.out, err = kafkaout.New(a.cfg.Brokers, a.meta.ID, a.log, a.ExtraKafkaOpts...); err != nil {
		return err
	}
	topics := []string{a.cfg.DLQTopic, kafkaout.MarkerTopic}
	for _, t := range []string{a.cfg.LateTopic, a.cfg.AlertsTopic, a.cfg.WindowsTopic} {
		if t != "" {
			topics = append(topics, t)
		}
	}
	if err := a.out.EnsureTopics(work, int32(len(a.src.Partitions())), topics...); err != nil {
		return err
	}
	if err := a.out.Init(work); err != nil {
		return err
	}
	for _, n := range rec.Notes {
		a.log.Info("recovery", "note", n)
	}
	if rec.State != nil {
		a.eng, err = engine.Restore(a.engineConfig(), bytes.NewReader(rec.State))
	} else {
		a.eng, err = engine.New(a.engineConfig())
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errWindowState, err)
	}
	a.seen = &seenBatches{offsets: -1, commit: -1}
	if rec.LastOffsets != nil {
		a.seen.offsets = rec.LastOffsets.BatchID
	}
	if rec.LastCommit != nil {
		a.seen.commit = rec.LastCommit.BatchID
	}
	if rec.LastCommit != nil {
		a.nextBatch = rec.LastCommit.BatchID + 1
		a.watermark = rec.LastCommit.NextWatermarkMs
		// The commit does not say whether its watermark left windows to
		// close: one no-data batch finds out, and is cheap.
		a.needsNoData = true
	}
	a.replay = rec.Replay

	var start source.Offsets
	switch {
	case len(rec.Replay) > 0:
		start = rec.Replay[0].Start
	case rec.LastOffsets != nil:
		start = rec.LastOffsets.End
	default:
		start, err = a.src.ListOffsets(ctx, a.cfg.StartingOffsets == "earliest")
		if err != nil {
			return err
		}
		a.log.Info("new query: starting offsets", "starting_offsets", a.cfg.StartingOffsets, "offsets", start)
	}
	start = start.Clone()
	// Partitions added to the topic since the checkpoint start at their
	// beginning, as Spark's Kafka source does.
	var earliest source.Offsets
	for _, p := range a.src.Partitions() {
		if _, ok := start[p]; ok {
			continue
		}
		if earliest == nil {
			if earliest, err = a.src.ListOffsets(ctx, true); err != nil {
				return err
			}
		}
		start[p] = earliest[p]
		a.log.Info("new partition: reading it from its beginning", "partition", p, "offset", earliest[p])
	}
	// Offsets Kafka no longer holds (records deleted, topic recreated) are
	// data loss: an error, or with --fail-on-data-loss=false a reset to the
	// log start that the next offsets entry records.
	start, a.lossReset, err = a.src.CheckStart(ctx, start)
	if err != nil {
		return err
	}
	if a.lossReset && len(a.replay) > 0 {
		return fmt.Errorf("%w: batch %d must be re-run from offsets Kafka no longer holds; reset the query's checkpoint",
			source.ErrDataLoss, a.replay[0].BatchID)
	}
	a.nextStart = start
	if a.cfg.Trigger == config.TriggerAvailableNow {
		if a.targets, err = a.src.ListOffsets(ctx, false); err != nil {
			return err
		}
		for p, t := range a.targets {
			if t < start[p] {
				a.targets[p] = start[p]
			}
		}
	}
	return a.src.StartAt(start)
}

// seenBatches is how far the checkpoint went as far as this process knows:
// the newest offsets entry and commit it recovered or wrote.
type seenBatches struct{ offsets, commit int64 }

// checkAlone refuses to go on when the checkpoint holds a batch this
// process neither recovered nor wrote, written by another run since this
// process's previous session: another streamer runs the checkpoint. (Two
// streamers with Kafka outputs fence each other's transactions, and each
// fenced one restarts from the checkpoint; without this check they would
// take turns forever instead of one of them stopping.) The first session
// has nothing to compare: everything it finds predates it, and a second
// streamer is found when both write one batch (checkpoint.ErrInUse).
func (a *App) checkAlone(rec checkpoint.Recovery) error {
	if a.seen == nil {
		return nil
	}
	if o := rec.LastOffsets; o != nil && o.BatchID > a.seen.offsets && rec.OffsetsRunID != a.ck.RunID() {
		return &checkpoint.InUseError{Checkpoint: a.ck.String(), What: "offsets", BatchID: o.BatchID, OtherRunID: rec.OffsetsRunID}
	}
	if c := rec.LastCommit; c != nil && c.BatchID > a.seen.commit && rec.CommitRunID != a.ck.RunID() {
		return &checkpoint.InUseError{Checkpoint: a.ck.String(), What: "the commit", BatchID: c.BatchID, OtherRunID: rec.CommitRunID}
	}
	return nil
}

// plan decides the next batch and writes its offsets entry (the write-ahead
// log) before it runs. ok is false when there is nothing to run yet; done is
// true when an available-now query has finished.
func (a *App) plan(ctx, work context.Context) (entry checkpoint.OffsetsEntry, ok, done bool, err error) {
	a.planDur, a.walDur = 0, 0
	if len(a.replay) > 0 {
		entry, a.replay = a.replay[0], a.replay[1:]
		a.log.Info("re-running a batch planned before the restart", "batch_id", entry.BatchID,
			"watermark", entry.WatermarkMs)
		return entry, true, false, nil
	}
	var end source.Offsets
	var tPlan time.Time
	switch a.cfg.Trigger {
	case config.TriggerAvailableNow:
		tPlan = time.Now()
		end = source.Plan(a.nextStart, a.targets, a.cfg.MaxOffsetsPerTrigger)
		if a.nextStart.Lag(end) == 0 && !a.needsNoData {
			return entry, false, true, nil
		}
	case config.TriggerInterval:
		next := a.lastTrigger.Add(a.cfg.TriggerInterval)
		if err := a.pollUntil(ctx, next); err != nil {
			return entry, false, false, err
		}
		a.lastTrigger = time.Now()
		tPlan = time.Now()
		if end, err = a.latestEnd(ctx); err != nil {
			return entry, false, false, err
		}
		if a.nextStart.Lag(end) == 0 && !a.needsNoData {
			return entry, false, false, nil
		}
	default: // continuous
		tPlan = time.Now()
		if end, err = a.latestEnd(ctx); err != nil {
			return entry, false, false, err
		}
		if a.nextStart.Lag(end) == 0 && !a.needsNoData {
			// Idle: wait (at most a second) for records to arrive, then plan again.
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err := a.src.Poll(pctx)
			cancel()
			return entry, false, false, err
		}
	}
	entry = checkpoint.OffsetsEntry{
		BatchID:          a.nextBatch,
		BatchTimestampMs: time.Now().UnixMilli(),
		WatermarkMs:      a.watermark,
		Topic:            a.cfg.Topic,
		Start:            a.nextStart.Clone(),
		End:              end,
		NoData:           a.nextStart.Lag(end) == 0,
		DataLossReset:    a.lossReset,
	}
	tWAL := time.Now()
	if err := a.ck.WriteOffsets(work, entry); err != nil {
		return entry, false, false, fmt.Errorf("write offsets of batch %d: %w", entry.BatchID, err)
	}
	a.seen.offsets = entry.BatchID
	a.lossReset = false
	a.planDur, a.walDur = tWAL.Sub(tPlan), time.Since(tWAL)
	return entry, true, false, nil
}

// latestEnd plans a batch's end offsets as Spark does: the latest offsets
// the broker has for every partition, capped by --max-offsets-per-trigger.
// Planning from what happens to be buffered instead would let a partition
// that was fetched first run ahead in event time and push the watermark past
// the others' readings, which would then be dropped as late.
func (a *App) latestEnd(ctx context.Context) (source.Offsets, error) {
	latest, err := a.src.ListOffsets(ctx, false)
	if err != nil {
		return nil, err
	}
	return source.Plan(a.nextStart, latest, a.cfg.MaxOffsetsPerTrigger), nil
}

// pollUntil buffers records until the deadline (or ctx) passes.
func (a *App) pollUntil(ctx context.Context, deadline time.Time) error {
	for time.Now().Before(deadline) {
		pctx, cancel := context.WithDeadline(ctx, deadline)
		err := a.src.Poll(pctx)
		cancel()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// runBatch runs one planned batch to its commit.
func (a *App) runBatch(work context.Context, entry checkpoint.OffsetsEntry) error {
	t0 := time.Now()
	// Records are decoded as they arrive (TakeAsFetched keeps Take's order),
	// so decoding overlaps fetching. A fetch that fails leaves a half-folded
	// engine, which the restart replaces with the checkpointed state.
	a.eng.StartBatch(entry.WatermarkMs)
	a.out.Begin(entry.BatchID)
	var invalid int64
	invalidBy := map[string]int64{}
	var f decode.Fields
	waited, err := a.src.TakeAsFetched(work, source.Offsets(entry.Start), source.Offsets(entry.End), func(r *kgo.Record) {
		if err := decode.Decode(r.Value, entry.BatchTimestampMs, &f); err != nil {
			reason := contract.ReasonOf(err)
			a.out.Send(kafkaout.DeadLetter(a.cfg.DLQTopic, r, reason, err.Error()))
			invalid++
			invalidBy[string(reason)]++
			return
		}
		if !a.eng.AddRaw(r.Partition, f.SensorID, f.TS, f.Temp, f.Hum, f.OK) && a.cfg.LateTopic != "" {
			a.out.Send(kafkaout.Late(a.cfg.LateTopic, r, entry.WatermarkMs))
		}
	})
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	tFetched := t0.Add(waited) // getBatch: the time spent waiting for records
	res := a.eng.FinishBatch()

	out, err := a.table.WriteBatch(work, entry.BatchID, res.Append)
	if err != nil {
		return fmt.Errorf("delta sink: %w", err)
	}
	if out.CommittedElsewhere != nil {
		a.log.Warn("stream table: another writer committed this batch first; skipped (if this lasts, two streamers share the query)",
			"batch_id", entry.BatchID, "table", a.table.Table().String(), "err", out.CommittedElsewhere)
	}
	if out.PostCommitErr != nil {
		a.log.Warn("stream table: the commit stands, but writing its checkpoint or cleaning its log failed",
			"batch_id", entry.BatchID, "table_version", out.Version, "err", out.PostCommitErr)
	}
	if a.cfg.AlertsTopic != "" {
		for _, al := range highTempAlerts(res.Append, a.cfg.AlertMaxTemp, entry.BatchID) {
			a.out.Send(kafkaout.AlertRecord(a.cfg.AlertsTopic, al))
		}
		for _, ev := range res.Events { // sensor_silent, sensor_recovered
			ev.BatchID = entry.BatchID
			a.out.Send(kafkaout.AlertRecord(a.cfg.AlertsTopic, ev))
		}
	}
	if a.cfg.WindowsTopic != "" {
		for _, row := range modeRows(a.cfg.WindowsTopicMode, res) {
			a.out.Send(kafkaout.WindowRecord(a.cfg.WindowsTopic, row, entry.BatchID))
		}
	}
	if rows := modeRows(a.cfg.ConsoleMode, res); a.console != nil && (!entry.NoData || len(rows) > 0) {
		if err := a.console.WriteBatch(entry.BatchID, rows); err != nil {
			a.log.Warn("console sink", "batch_id", entry.BatchID, "err", err)
		}
	}
	// Kafka outputs commit after the lake's, in one transaction with their
	// batch marker; a re-run of a batch already committed there sends nothing.
	if _, _, err := a.out.Commit(work); err != nil {
		return err
	}
	tAdded := time.Now()

	var snap bytes.Buffer
	if err := a.eng.Snapshot(&snap); err != nil {
		return fmt.Errorf("snapshot state: %w", err)
	}
	if err := a.ck.WriteState(work, entry.BatchID, snap.Bytes()); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	numIn := res.Stats.NumInputRows + invalid
	if err := a.ck.WriteCommit(work, checkpoint.CommitEntry{
		BatchID: entry.BatchID, NextWatermarkMs: res.NextWatermark,
		NumInputRows: numIn, NumOutputRows: out.Rows, CommittedAt: time.Now().UTC(),
	}); err != nil {
		return fmt.Errorf("write commit: %w", err)
	}
	a.seen.commit = entry.BatchID
	tCommitted := time.Now()

	a.watermark = res.NextWatermark
	a.needsNoData = res.NeedsNoDataBatch
	a.nextStart = source.Offsets(entry.End).Clone()
	a.nextBatch = entry.BatchID + 1
	if entry.BatchID%retainBatches == 0 && entry.BatchID > 0 {
		a.purgeInBackground(work)
	}
	p := a.report(entry, res, out, numIn, invalid, invalidBy, t0, tFetched, tAdded, tCommitted)
	a.progress.Add(p)
	a.observe(p, res)
	a.log.Info("batch committed", "batch_id", entry.BatchID, "input_rows", numIn, "invalid_rows", invalid,
		"late_rows", res.Stats.NumRowsDroppedByWatermark, "output_rows", out.Rows, "files", len(out.Files),
		"sink_skipped", out.Skipped, "table_version", out.Version, "state_rows", res.Stats.NumRowsTotal, "watermark", entry.WatermarkMs,
		"next_watermark", res.NextWatermark, "duration_ms", tCommitted.Sub(t0).Milliseconds(), "durations_ms", p.DurationMs)
	return nil
}

func (a *App) report(entry checkpoint.OffsetsEntry, res engine.BatchResult, out sink.Result,
	numIn, invalid int64, invalidBy map[string]int64, t0, tFetched, tAdded, tCommitted time.Time) progress.Query {
	dur := tCommitted.Sub(t0) + a.planDur + a.walDur
	offs := func(o map[int32]int64) map[string]map[string]int64 {
		m := map[string]int64{}
		for p, v := range o {
			m[strconv.Itoa(int(p))] = v
		}
		return map[string]map[string]int64{a.cfg.Topic: m}
	}
	perSec := func(n int64, d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return float64(n) / d.Seconds()
	}
	var sinceLast time.Duration
	if prev := a.progress.Recent(1); len(prev) == 1 {
		if t, err := time.Parse("2006-01-02T15:04:05.000Z", prev[0].Timestamp); err == nil {
			sinceLast = t0.Sub(t)
		}
	}
	q := progress.Query{
		ID: a.meta.ID, RunID: a.runID, Name: "sensorlab-windows",
		Timestamp: progress.FormatTime(t0), BatchID: entry.BatchID,
		NumInputRows:           numIn,
		InputRowsPerSecond:     perSec(numIn, sinceLast),
		ProcessedRowsPerSecond: perSec(numIn, dur),
		DurationMs: map[string]int64{
			"latestOffset":     a.planDur.Milliseconds(),
			"walCommit":        a.walDur.Milliseconds(),
			"getBatch":         tFetched.Sub(t0).Milliseconds(),
			"queryPlanning":    0,
			"addBatch":         tAdded.Sub(tFetched).Milliseconds(), // decode, aggregate, write the sinks
			"commitOffsets":    tCommitted.Sub(tAdded).Milliseconds(),
			"triggerExecution": dur.Milliseconds(),
		},
		StateOperators: []progress.StateOperator{{
			OperatorName:              "stateStoreSave",
			NumRowsTotal:              res.Stats.NumRowsTotal,
			NumRowsUpdated:            res.Stats.NumRowsUpdated,
			NumRowsRemoved:            res.Stats.NumRowsRemoved,
			NumRowsDroppedByWatermark: res.Stats.NumRowsDroppedByWatermark,
			MemoryUsedBytes:           res.Stats.MemoryUsedBytes,
			CustomMetrics: map[string]int64{
				"numDroppedDuplicateRows": res.Stats.NumDuplicatesDropped,
				"numDedupKeys":            res.Stats.NumDedupKeys,
				"numTimeoutKeys":          res.Stats.NumTimeoutKeys,
				"numSilentSensors":        res.Stats.NumSilentSensors,
			},
		}},
		Sources: []progress.Source{{
			Description:            "KafkaV2[Subscribe[" + a.cfg.Topic + "]]",
			StartOffset:            offs(entry.Start),
			EndOffset:              offs(entry.End),
			LatestOffset:           offs(a.src.Latest()),
			NumInputRows:           numIn,
			InputRowsPerSecond:     perSec(numIn, sinceLast),
			ProcessedRowsPerSecond: perSec(numIn, dur),
		}},
		Sink:            progress.Sink{Description: "DeltaSink[" + a.table.Table().Location() + "]", NumOutputRows: out.Rows},
		NumInvalidRows:  invalid,
		InvalidByReason: invalidBy,
	}
	if res.Stats.NumInputRows > 0 {
		q.EventTime = map[string]string{
			"min":       progress.FormatTime(time.UnixMilli(res.Stats.EventTimeMin)),
			"max":       progress.FormatTime(time.UnixMilli(res.Stats.EventTimeMax)),
			"avg":       progress.FormatTime(time.UnixMilli(res.Stats.EventTimeAvg)),
			"watermark": progress.FormatTime(time.UnixMilli(entry.WatermarkMs)),
		}
	} else {
		q.EventTime = map[string]string{"watermark": progress.FormatTime(time.UnixMilli(entry.WatermarkMs))}
	}
	return q
}

// modeRows picks the rows an output mode emits for a batch.
func modeRows(mode string, res engine.BatchResult) []contract.WindowRow {
	switch mode {
	case "append":
		return res.Append
	case "complete":
		return res.Complete
	}
	return res.Update
}

// highTempAlerts returns a high_temp alert for every closed window whose
// max_temp exceeds the threshold. Closed windows are emitted once, so each
// alert is raised once.
func highTempAlerts(closed []contract.WindowRow, threshold float64, batchID int64) []contract.Alert {
	var out []contract.Alert
	for _, w := range closed {
		if w.MaxTemp > threshold {
			out = append(out, contract.Alert{
				Type: contract.AlertHighTemp, SensorID: w.SensorID, TS: w.WinEnd.UnixMilli(),
				WinStart: w.WinStart.UnixMilli(), WinEnd: w.WinEnd.UnixMilli(),
				MaxTemp: w.MaxTemp, Threshold: threshold, BatchID: batchID,
			})
		}
	}
	return out
}

// Ready reports whether the query runs and its broker and store answer.
func (a *App) Ready() error {
	if !a.ready.Load() {
		if p := a.lastErr.Load(); p != nil && *p != nil {
			return fmt.Errorf("query restarting after: %w", *p)
		}
		return errors.New("query starting")
	}
	a.srcMu.Lock()
	src, st := a.src, a.lake // a.lake is set before a.src, under the same session
	a.srcMu.Unlock()
	if src == nil {
		return errors.New("query restarting")
	}
	// Probe both now: an idle query (no input) notices neither a broker nor
	// a store that went away, and franz-go retries a lost broker quietly.
	// The bound keeps the answer within compose's 5s healthcheck timeout.
	ctx, cancel := context.WithTimeout(context.Background(), readyProbeTimeout)
	defer cancel()
	if err := src.Ping(ctx); err != nil { // a success clears an older error
		return fmt.Errorf("broker: %w", err)
	}
	if err := src.BrokerErr(); err != nil { // a fetch failed since
		return fmt.Errorf("broker: %w", err)
	}
	if err := st.Ping(ctx); err != nil {
		return fmt.Errorf("store %s: %w", st, err)
	}
	return nil
}

// readyProbeTimeout bounds the broker and store probes of Ready.
const readyProbeTimeout = 3 * time.Second
