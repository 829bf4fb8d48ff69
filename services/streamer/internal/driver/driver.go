package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/query/agg"
	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
	"github.com/sensorlab/sensorlab/services/streamer/internal/checkpoint"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/kafkaout"
	"github.com/sensorlab/sensorlab/services/streamer/internal/progress"
	"github.com/sensorlab/sensorlab/services/streamer/internal/qsink"
	"github.com/sensorlab/sensorlab/services/streamer/internal/source"
)

// retainBatches is how many batches of checkpoint history are kept (Spark's
// spark.sql.streaming.minBatchesToRetain).
const retainBatches = 100

// snapshotEvery is how often the state is written whole (Spark's
// stateStore.minDeltasForSnapshot); the batches between write changelogs.
const snapshotEvery = 10

// Compile parses and binds a query file for the streamer. All its queries
// must read one stream source: one streamer reads one source.
func Compile(file, text string) (*plan.Program, error) {
	script, err := sql.Parse(file, text)
	if err != nil {
		return nil, err
	}
	prog, err := plan.Compile(script, plan.Streaming)
	if err != nil {
		return nil, err
	}
	var names []string
	seen := map[*plan.Source]bool{}
	for _, q := range prog.Queries {
		if !seen[q.Source] {
			seen[q.Source] = true
			names = append(names, q.Source.Name)
		}
	}
	if len(names) > 1 {
		return nil, fmt.Errorf("%s: a streamer reads one source; the script's queries read %s: run one streamer per source",
			file, strings.Join(names, " and "))
	}
	return prog, nil
}

// Driver runs the queries of one compiled script.
type Driver struct {
	cfg    config.Config
	prog   *plan.Program
	src    *plan.Source
	log    *slog.Logger
	stdout io.Writer
	// ExtraKafkaOpts are added to every Kafka client (tests use them).
	ExtraKafkaOpts []kgo.Opt
	// Partitions, when set, are the only partitions of the source the
	// queries read (a replica's task); nil reads all.
	Partitions []int32
	// ReadCommitted reads the source read_committed (a replica's
	// repartition topic).
	ReadCommitted bool
	// Origins, when above 0, says the source is a repartition topic whose
	// records came from that many partitions of the source topic (their
	// origin headers, contract.HeaderOrigin*): the watermark follows the
	// least of the origin partitions' largest event times, as an operator
	// after a shuffle takes the least of its inputs' watermarks (Flink),
	// leaving out an origin partition that sent nothing for IdleTimeout.
	Origins int32
	origins originWatermarks
	// Epoch, when above 0, is a replica's task's owner epoch: its Delta
	// sinks fence their tables against earlier owners (qsink.Env.Epoch).
	Epoch int64
	// SharedWatermark, when set, is asked for the query's watermark (epoch
	// ms) once the partitions read have had no new record for IdleTimeout:
	// an idle partition's windows then close by it (in a batch without
	// data), as Flink's idle sources let the others' watermark through.
	// Committed is told each batch's commit entry once it is recorded.
	SharedWatermark func() int64
	IdleTimeout     time.Duration
	Committed       func(checkpoint.CommitEntry)
	// WrapStore, when set, wraps the lake ("lake") and the checkpoint
	// ("checkpoint") stores as they are opened (tests inject failures).
	WrapStore func(name string, st lake.Store) lake.Store

	runID    string
	progress *progress.Log
	obs      *observer
	latest   latestRows // each query's latest output rows, for the live page

	ready   atomic.Bool
	lastErr atomic.Pointer[error] // why the queries are not running, while they restart
	srcMu   sync.Mutex            // guards sess.src against Ready, on HTTP goroutines
	sess    *session              // nil between sessions
	seen    *seenBatches          // nil until the first recovery

	// crashAfter, when set, is asked after each write step of a batch and
	// stops the driver there as a crash would (tests).
	crashAfter func(step string, batchID int64) bool
}

// errCrash is the stop crashAfter asks for.
var errCrash = errors.New("driver: stopped after a write step (test crash)")

// New returns a Driver of prog under cfg; nothing is connected until Run.
func New(cfg config.Config, prog *plan.Program, log *slog.Logger, stdout io.Writer) *Driver {
	d := &Driver{cfg: cfg, prog: prog, src: prog.Queries[0].Source, log: log, stdout: stdout,
		runID: uuid.NewString(), progress: progress.NewLog(100)}
	d.obs = newObserver(d)
	return d
}

// session is one connected run, from recovery until a failure or the end.
type session struct {
	lake     lake.Store
	ck       *checkpoint.Checkpoint
	src      *source.Source
	out      *kafkaout.Writer
	meta     checkpoint.Metadata
	reader   *plan.SourceReader
	queries  []*runningQuery
	purging  chan struct{} // closed when the background purge ends; nil if none ran
	topic    string
	state    stateCursor
	position position
}

// runningQuery is one query of the script with its executor and output.
type runningQuery struct {
	q    *plan.Query
	id   string
	exec *plan.Executor
	out  qsink.Output
}

// position is where the loop stands between batches.
type position struct {
	nextBatch   int64
	nextStart   source.Offsets
	watermarkMs int64
	needsNoData bool
	lossReset   bool // the next batch starts past a data loss
	replay      []checkpoint.OffsetsEntry
	targets     source.Offsets // available-now: the offsets to reach
	lastTrigger time.Time      // interval trigger: when the last batch was planned
	lastStart   time.Time      // when the last batch started (inputRowsPerSecond)
	stateRows   int64          // rows the last batch left in the watermarked aggregations' state
	lastInput   time.Time      // when a batch last read records (or the run started)
}

// seenBatches is how far the checkpoint went as far as this process knows.
type seenBatches struct{ offsets, commit int64 }

// Run runs the queries until ctx ends (the batch in flight is finished
// within cfg.ShutdownTimeout) or, with the available-now trigger, until
// everything available at start is processed. It returns nil on a clean
// stop. A failure that a restart may cure restarts the queries in-process
// from the checkpoint, after a backoff.
func (d *Driver) Run(ctx context.Context) error {
	d.log.Info("query file starting", "queries", len(d.prog.Queries), "source", d.src.String(), "run_id", d.runID)
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			select {
			case <-time.After(d.cfg.ShutdownTimeout):
				d.log.Warn("shutdown timeout: abandoning the batch in flight; it is re-run on restart")
				cancelWork()
			case <-stopped:
			}
		case <-stopped:
		}
	}()
	b := restartBackOff()
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		committed, err := d.runSession(ctx, work)
		if err != nil {
			d.lastErr.Store(&err)
		}
		d.ready.Store(false)
		d.closeSession()
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
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, next time.Duration) {
			d.log.Error("queries failed: restarting them from the checkpoint", "err", err, "retry_in", next.String())
		}))
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Cause(ctx)) {
		d.log.Info("stop requested while restarting: stopped")
		return nil
	}
	return err
}

// restartBackOff paces the queries' restarts: 500ms, doubling up to 30s,
// without jitter (one streamer per checkpoint: there is no herd to spread).
// Run starts it over after a session that committed a batch.
func restartBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: 500 * time.Millisecond, Multiplier: 2, MaxInterval: 30 * time.Second}
}

// storeBackOff paces the wait for the lake and the checkpoint store at
// start: 200ms, doubling up to 5s, without jitter.
func storeBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: 200 * time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Second}
}

// errIncompatibleQuery marks a query the checkpoint's state does not fit.
var errIncompatibleQuery = errors.New("changed incompatibly with its checkpoint")

// permanent reports errors that a restart cannot cure.
func permanent(err error) bool {
	return errors.Is(err, checkpoint.ErrDamaged) || errors.Is(err, checkpoint.ErrIncompatible) ||
		errors.Is(err, checkpoint.ErrInUse) || errors.Is(err, source.ErrDataLoss) ||
		errors.Is(err, errIncompatibleQuery) || errors.Is(err, errCrash) || errors.Is(err, errSetup) ||
		errors.Is(err, agg.ErrCorrupt) || errors.Is(err, agg.ErrConfig) || errors.Is(err, agg.ErrVersion) ||
		errors.Is(err, agg.ErrSequence) || errors.Is(err, qsink.ErrIncompatibleTable) || errors.Is(err, qsink.ErrLegacyTable) || errors.Is(err, qsink.ErrFenced) ||
		errors.Is(err, delta.ErrUnsupportedFeature)
}

// errSetup marks a configuration the driver cannot run (a restart would
// find it again).
var errSetup = errors.New("query file setup")

// runSession connects, recovers and runs batches until ctx ends, the
// available-now work is done, or something fails. committed says whether a
// batch committed.
func (d *Driver) runSession(ctx, work context.Context) (committed bool, err error) {
	s, err := d.open(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		return false, err
	}
	if err := d.recover(work, ctx, s); err != nil {
		return false, err
	}
	d.ready.Store(true)
	d.lastErr.Store(nil)
	names := make([]string, len(s.queries))
	for i, rq := range s.queries {
		names[i] = rq.q.Name
	}
	d.log.Info("query started", "id", s.meta.ID, "run_id", d.runID, "queries", names,
		"next_batch", s.position.nextBatch, "watermark", s.position.watermarkMs, "start", s.position.nextStart,
		"replay", len(s.position.replay), "trigger", d.cfg.Trigger)
	return d.loop(ctx, work, s)
}

// open connects the stores and the source.
func (d *Driver) open(ctx context.Context) (*session, error) {
	s := &session{topic: d.src.Options["topic"]}
	var err error
	if s.lake, err = lake.Open(ctx, d.cfg.Lake, d.cfg.S3); err != nil {
		return nil, fmt.Errorf("lake: %w", err)
	}
	ckStore, err := lake.Open(ctx, d.cfg.Checkpoint, d.cfg.S3)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if d.WrapStore != nil {
		s.lake, ckStore = d.WrapStore("lake", s.lake), d.WrapStore("checkpoint", ckStore)
	}
	for _, st := range []lake.Store{s.lake, ckStore} {
		if err := d.waitStore(ctx, st); err != nil {
			return nil, err
		}
	}
	if s.ck, err = checkpoint.Open(ctx, ckStore, checkpoint.WithRunID(d.runID)); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	src, err := source.Open(ctx, source.Options{Brokers: d.cfg.Brokers, Topic: s.topic,
		FailOnDataLoss: d.cfg.FailOnDataLoss, Partitions: d.Partitions, ReadCommitted: d.ReadCommitted, Logger: d.log, ExtraOpts: d.ExtraKafkaOpts})
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	s.src = src
	d.srcMu.Lock()
	d.sess = s
	d.srcMu.Unlock()
	return s, nil
}

// waitStore waits, with backoff, until the store answers.
func (d *Driver) waitStore(ctx context.Context, st lake.Store) error {
	var last error
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		last = st.Ping(ctx)
		return struct{}{}, last
	},
		backoff.WithBackOff(storeBackOff()),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, next time.Duration) {
			d.log.Warn("waiting for the store", "store", st.String(), "err", err, "retry_in", next.String())
		}))
	if err != nil {
		return fmt.Errorf("store %s: %w (last error: %v)", st, err, last)
	}
	return nil
}

// closeSession waits for the background purge and closes the clients.
func (d *Driver) closeSession() {
	d.srcMu.Lock()
	s := d.sess
	d.sess = nil
	d.srcMu.Unlock()
	if s == nil {
		return
	}
	if s.purging != nil {
		<-s.purging
	}
	if s.out != nil {
		s.out.Close()
	}
	s.src.Close()
}

// purgeInBackground deletes checkpoint history older than the newest
// retainBatches batches, off the batch loop; one purge at a time.
func (d *Driver) purgeInBackground(ctx context.Context, s *session) {
	if s.purging != nil {
		select {
		case <-s.purging:
		default:
			return
		}
	}
	done := make(chan struct{})
	s.purging = done
	go func() {
		defer close(done)
		if err := s.ck.Purge(ctx, retainBatches); err != nil && ctx.Err() == nil {
			d.log.Warn("purge checkpoint history", "err", err)
		}
	}()
}

// Ready reports whether the queries run and their broker and lake answer.
func (d *Driver) Ready() error {
	if !d.ready.Load() {
		if p := d.lastErr.Load(); p != nil && *p != nil {
			return fmt.Errorf("queries restarting after: %w", *p)
		}
		return errors.New("queries starting")
	}
	d.srcMu.Lock()
	s := d.sess
	d.srcMu.Unlock()
	if s == nil {
		return errors.New("queries restarting")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.src.Ping(ctx); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if err := s.src.BrokerErr(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if err := s.lake.Ping(ctx); err != nil {
		return fmt.Errorf("store %s: %w", s.lake, err)
	}
	return nil
}

// Progress returns up to n most recent progress reports, oldest first:
// one per query per batch.
func (d *Driver) Progress(n int) []progress.Query { return d.progress.Recent(n) }

// LatestRows returns, for each query that has output rows so far, the rows
// of its latest batch that had any (the first 100), in the script's order.
func (d *Driver) LatestRows() []QueryRows {
	names := make([]string, len(d.prog.Queries))
	for i, q := range d.prog.Queries {
		names[i] = q.Name
	}
	return d.latest.get(names)
}

// RepartitionKey says how replicas of prog (--group) share its source's
// partitions. A source declared keyed (WITH key = '…') has each partition
// aggregated by its own task: every aggregating query must group by that
// column, and key is "". A source not declared keyed has its records
// re-keyed through a repartition topic by key: a STRING column read from
// the record that every aggregating query groups by (the first declared,
// when several are). A program that aggregates nothing needs neither.
func RepartitionKey(prog *plan.Program) (key string, err error) {
	var stateful []*plan.Query
	for _, q := range prog.Queries {
		if q.Stateful {
			stateful = append(stateful, q)
		}
	}
	if len(stateful) == 0 {
		return "", nil
	}
	src := stateful[0].Source
	if src.Key != "" {
		var errs []error
		for _, q := range stateful {
			if !q.GroupedBy(src.Key) {
				errs = append(errs, fmt.Errorf("%s: query %s does not group by %s, the column source %s is keyed by: with --group each partition is aggregated by its own task, "+
					"so a group must not span partitions; add %s to its GROUP BY, or run one streamer without --group", q.At, q.Name, src.Key, src.Name, src.Key))
			}
		}
		return "", errors.Join(errs...)
	}
	for _, c := range src.Decoded {
		switch strings.ToLower(c.Metadata) {
		case "key", "topic", "partition", "offset":
			return "", fmt.Errorf("%s: source %s reads its records' Kafka %s (METADATA FROM '%s'): with --group its records are re-keyed through a repartition topic, where that is another; "+
				"declare the column the records' Kafka key carries (WITH (key = '<column>')) so that no repartition is needed, or run one streamer without --group", src.At, src.Name, c.Metadata, c.Metadata)
		}
	}
	for _, c := range src.Decoded {
		if c.Metadata != "" || c.Type.Kind != types.String {
			continue
		}
		if !slices.ContainsFunc(stateful, func(q *plan.Query) bool { return !q.GroupedBy(c.Name) }) {
			return c.Name, nil
		}
	}
	var names []string
	for _, q := range stateful {
		names = append(names, q.Name)
	}
	return "", fmt.Errorf("%s: with --group the records of source %s are re-keyed through a repartition topic by a STRING column read from the record that every aggregating query groups by, and %s share none: "+
		"add such a column to their GROUP BY, or run one streamer without --group", src.At, src.Name, strings.Join(names, ", "))
}
