package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/services/streamer/internal/checkpoint"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/driver"
	"github.com/sensorlab/sensorlab/services/streamer/internal/group"
	"github.com/sensorlab/sensorlab/services/streamer/internal/progress"
	"github.com/sensorlab/sensorlab/services/streamer/internal/qsink"
	"github.com/sensorlab/sensorlab/services/streamer/internal/repartition"
)

// PartitionCheckpoint is where a replica keeps the checkpoint of one
// partition's task: <checkpoint>/partitions/<n>.
func PartitionCheckpoint(checkpoint string, p int32) string {
	return strings.TrimRight(checkpoint, "/") + "/partitions/" + strconv.Itoa(int(p))
}

// replica runs a query file as one member of cfg.Group: a driver per
// partition the group assigns it, each over that partition alone with its
// own checkpoint (its own query ids, hence its own Delta txn appId and
// Kafka transactional id). It is the HTTP server's status: every task's
// progress, rows and metrics, the metrics labelled with their partition.
type replica struct {
	cfg  config.Config
	prog *plan.Program
	// name and text are the query file's: each task compiles its own
	// program (a compiled query holds its running instance's clock).
	name, text string
	// rekey, when set, is the column the source's records are re-keyed by
	// through the repartition topic (driver.RepartitionKey): the tasks then
	// read that topic's partitions.
	rekey  string
	log    *slog.Logger
	stdout io.Writer
	// extraKafkaOpts are added to every Kafka client (tests use them).
	extraKafkaOpts []kgo.Opt

	mu      sync.Mutex
	tasks   map[int32]*driver.Driver
	member  *group.Member
	stage   *repartition.Stage
	origins int32 // the source topic's partitions, when re-keying
	// wms is the newest committed watermark of each partition this
	// replica knows, and when a batch of it last read records: its own
	// tasks' as they commit, the others' as read from their checkpoints
	// every watermarkPoll.
	wms map[int32]partitionWatermark
}

type partitionWatermark struct {
	wm     int64
	active time.Time
}

// watermarkPoll is how often a replica reads the watermarks the other
// replicas' partitions committed.
const watermarkPoll = 2 * time.Second

func newReplica(cfg config.Config, name, text string, prog *plan.Program, rekey string, log *slog.Logger, stdout io.Writer) *replica {
	return &replica{cfg: cfg, prog: prog, name: name, text: text, rekey: rekey, log: log, stdout: stdout, tasks: map[int32]*driver.Driver{}, wms: map[int32]partitionWatermark{}}
}

// repartitionOptions configures the replica's repartition stage.
func (r *replica) repartitionOptions() repartition.Options {
	src := r.prog.Queries[0].Source
	mode := strings.ToLower(src.Options["scan.startup.mode"] + src.Options["startingoffsets"])
	if mode == "" {
		mode = r.cfg.StartingOffsets
	}
	return repartition.Options{
		Brokers: r.cfg.Brokers, Group: repartition.Group(r.cfg.Group),
		Source: src.Options["topic"], Topic: repartition.Topic(r.cfg.Group, src.Name),
		StartAtEnd: mode == "latest", SessionTimeout: r.cfg.GroupSessionTimeout,
		Logger: r.log.With("stage", "repartition"), ExtraOpts: r.extraKafkaOpts,
	}
}

// run joins the group and runs the tasks until ctx ends or a task fails.
// With a repartition key it runs the repartition stage too, and the tasks
// read the repartition topic.
func (r *replica) run(ctx context.Context) error {
	topic := r.prog.Queries[0].Source.Options["topic"]
	stageFailed := make(chan error, 1)
	if r.rekey != "" {
		o := r.repartitionOptions()
		keyOf, err := repartition.KeyOf(r.prog.Queries[0].Source, r.rekey)
		if err != nil {
			return err
		}
		o.KeyOf = keyOf
		origins, n, err := repartition.Ensure(ctx, o)
		if err != nil {
			return err
		}
		stage := repartition.New(o, n)
		r.mu.Lock()
		r.stage, r.origins = stage, origins
		r.mu.Unlock()
		stageCtx, stopStage := context.WithCancel(context.WithoutCancel(ctx))
		stageDone := make(chan struct{})
		go func() {
			defer close(stageDone)
			if err := stage.Run(stageCtx); err != nil {
				stageFailed <- err
			}
		}()
		// The stage leaves its group after the tasks have left theirs.
		defer func() { stopStage(); <-stageDone }()
		topic = o.Topic
		r.log.Info("re-keying the source through a repartition topic", "key", r.rekey, "topic", o.Topic, "partitions", n)
	}
	m, err := group.Join(group.Options{
		Brokers: r.cfg.Brokers, Group: r.cfg.Group, Topic: topic,
		SessionTimeout: r.cfg.GroupSessionTimeout,
		// A task given the shutdown timeout for its batch in flight, and
		// the time to close its clients.
		StopTimeout: r.cfg.ShutdownTimeout + 5*time.Second,
		Migrated: func(err error) bool {
			return errors.Is(err, checkpoint.ErrInUse) || errors.Is(err, qsink.ErrFenced)
		},
		Logger: r.log, ExtraOpts: r.extraKafkaOpts,
	}, r.task)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.member = m
	r.mu.Unlock()
	r.log.Info("replica joining its consumer group", "group", r.cfg.Group)
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go r.pollWatermarks(pollCtx)
	var ferr error
	select {
	case <-ctx.Done():
	case ferr = <-m.Failed():
	case ferr = <-stageFailed:
	}
	m.Leave()
	return ferr
}

// task runs the query file over partition p until ctx ends, its outputs
// fenced with the owner epoch of the generation that assigned it.
func (r *replica) task(ctx context.Context, p int32, generation int32) error {
	c := r.cfg
	c.Checkpoint = PartitionCheckpoint(c.Checkpoint, p)
	prog, err := driver.Compile(r.name, r.text)
	if err != nil {
		return err
	}
	if r.rekey != "" {
		// The task reads the repartition topic, keyed by the key column,
		// from its start (the stage writes there from the source's
		// starting offsets on), read_committed.
		for _, q := range prog.Queries {
			o := q.Source.Options
			o["topic"] = repartition.Topic(r.cfg.Group, q.Source.Name)
			o["startingoffsets"] = "earliest"
			delete(o, "scan.startup.mode")
			q.Source.Key = r.rekey
		}
	}
	d := driver.New(c, prog, r.log.With("partition", p), r.stdout)
	d.Partitions = []int32{p}
	d.ReadCommitted = r.rekey != ""
	r.mu.Lock()
	d.Origins = r.origins
	r.mu.Unlock()
	d.Epoch = int64(generation) + 1
	d.SharedWatermark = func() int64 { return r.sharedWatermark(p) }
	d.IdleTimeout = r.cfg.GroupIdleTimeout
	d.Committed = func(wm int64, hadInput bool) {
		var active time.Time
		if hadInput {
			active = time.Now()
		}
		r.noteWatermark(p, wm, active)
	}
	d.ExtraKafkaOpts = r.extraKafkaOpts
	r.mu.Lock()
	r.tasks[p] = d
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if r.tasks[p] == d {
			delete(r.tasks, p)
		}
		r.mu.Unlock()
	}()
	return d.Run(ctx)
}

// owned returns the running tasks by partition, ascending.
func (r *replica) owned() ([]int32, []*driver.Driver) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := slices.Sorted(maps.Keys(r.tasks))
	ds := make([]*driver.Driver, len(ps))
	for i, p := range ps {
		ds[i] = r.tasks[p]
	}
	return ps, ds
}

// Ready: the replica is in its group and every task it runs is ready. A
// replica the group gave no partition (more replicas than partitions) is a
// ready standby.
func (r *replica) Ready() error {
	r.mu.Lock()
	m := r.member
	r.mu.Unlock()
	if m == nil || !m.Joined() {
		return fmt.Errorf("joining consumer group %q", r.cfg.Group)
	}
	ps, ds := r.owned()
	var errs []error
	for i, d := range ds {
		if err := d.Ready(); err != nil {
			errs = append(errs, fmt.Errorf("partition %d: %w", ps[i], err))
		}
	}
	return errors.Join(errs...)
}

// Progress is the last n reports of every task, oldest first.
func (r *replica) Progress(n int) []progress.Query {
	_, ds := r.owned()
	var all []progress.Query
	for _, d := range ds {
		all = append(all, d.Progress(n)...)
	}
	slices.SortStableFunc(all, func(a, b progress.Query) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
	if n > 0 && len(all) > n {
		all = all[len(all)-n:]
	}
	return all
}

// Rows is, per query, the latest output rows of every task, partition by
// partition: the first 100 of them, NumRows their sum.
func (r *replica) Rows() any {
	_, ds := r.owned()
	var out []driver.QueryRows
	at := map[string]int{}
	for _, d := range ds {
		for _, qr := range d.LatestRows() {
			i, ok := at[qr.Query]
			if !ok {
				at[qr.Query] = len(out)
				qr.Rows = slices.Clone(qr.Rows)
				out = append(out, qr)
				continue
			}
			m := &out[i]
			m.NumRows += qr.NumRows
			m.BatchID = max(m.BatchID, qr.BatchID)
			room := driver.LatestRowsCap - len(m.Rows)
			m.Rows = append(m.Rows, qr.Rows[:min(room, len(qr.Rows))]...)
			m.Truncated = m.NumRows > len(m.Rows)
		}
	}
	if out == nil {
		out = []driver.QueryRows{}
	}
	return out
}

// Registry gathers every task's metrics, each series labelled with its
// partition.
func (r *replica) Registry() prometheus.Gatherer { return gatherTasks{r} }

type gatherTasks struct{ r *replica }

// metricsPrefix starts the names of the driver's own series.
const metricsPrefix = "sensorlab_streamer_"

func (g gatherTasks) Gather() ([]*dto.MetricFamily, error) {
	ps, ds := g.r.owned()
	byName := map[string]*dto.MetricFamily{}
	for i, d := range ds {
		mfs, err := d.Registry().Gather()
		if err != nil {
			return nil, err
		}
		name, value := "partition", strconv.Itoa(int(ps[i]))
		label := &dto.LabelPair{Name: &name, Value: &value}
		for _, mf := range mfs {
			if !strings.HasPrefix(mf.GetName(), metricsPrefix) {
				// The process's own series (go_*, process_*) are the
				// same in every task: the first task's, unlabelled.
				if _, ok := byName[mf.GetName()]; !ok {
					byName[mf.GetName()] = mf
				}
				continue
			}
			for _, m := range mf.Metric {
				m.Label = append(m.Label, label)
				slices.SortFunc(m.Label, func(a, b *dto.LabelPair) int { return cmp.Compare(a.GetName(), b.GetName()) })
			}
			if have, ok := byName[mf.GetName()]; ok {
				have.Metric = append(have.Metric, mf.Metric...)
			} else {
				byName[mf.GetName()] = mf
			}
		}
	}
	out := make([]*dto.MetricFamily, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, byName[name])
	}
	return out, nil
}

// sharedWatermark is the query's watermark for idle partition p, as far
// as this replica knows: the least of the active partitions' (those that
// read records within the idle timeout), Flink's rule for idle inputs; when
// none is active (the stream has stopped), the greatest of them all, which
// is one streamer's watermark over the whole topic. 0 when no other
// partition committed yet.
func (r *replica) sharedWatermark(p int32) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var least, greatest int64
	active := false
	for q, w := range r.wms {
		if q == p {
			continue
		}
		greatest = max(greatest, w.wm)
		if time.Since(w.active) > r.cfg.GroupIdleTimeout {
			continue
		}
		if !active || w.wm < least {
			least, active = w.wm, true
		}
	}
	if active {
		return least
	}
	return greatest
}

// noteWatermark records partition p's committed watermark, and when it
// last read records (zero: not in this commit).
func (r *replica) noteWatermark(p int32, wm int64, active time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.wms[p]
	w.wm = max(w.wm, wm)
	if active.After(w.active) {
		w.active = active
	}
	r.wms[p] = w
}

// pollWatermarks reads, every watermarkPoll, the newest committed
// watermark of each partition whose task runs elsewhere, from the
// partition's checkpoint.
func (r *replica) pollWatermarks(ctx context.Context) {
	cks := map[int32]*checkpoint.Checkpoint{}
	t := time.NewTicker(watermarkPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		m := r.member
		r.mu.Unlock()
		if m == nil {
			continue
		}
		parts, err := m.Partitions(ctx)
		if err != nil {
			continue
		}
		owned, _ := r.owned()
		for _, p := range parts {
			if slices.Contains(owned, p) {
				continue
			}
			ck, ok := cks[p]
			if !ok {
				st, err := lake.Open(ctx, PartitionCheckpoint(r.cfg.Checkpoint, p), r.cfg.S3)
				if err != nil {
					continue
				}
				if ck, err = checkpoint.Open(ctx, st); err != nil {
					continue
				}
				cks[p] = ck
			}
			if c, ok, err := ck.LatestCommit(ctx); err == nil && ok {
				var active time.Time
				if c.NumInputRows > 0 {
					active = c.CommittedAt
				}
				r.noteWatermark(p, c.NextWatermarkMs, active)
			}
		}
	}
}
