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
	topic   string // the topic the tasks read
	origins int32  // the source topic's partitions, when re-keying
	// wms is the newest committed watermark of each partition this
	// replica knows, and when a batch of it last read records: its own
	// tasks' as they commit, the others' as read from their checkpoints
	// every watermarkPoll.
	wms map[int32]partitionWatermark
}

type partitionWatermark struct {
	wm     int64
	active time.Time
	// The newest commit known: its batch (-1: none), when, and its input.
	batch       int64
	committedAt time.Time
	inputRows   int64
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
	r.mu.Lock()
	r.topic = topic
	r.mu.Unlock()
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
	d.Committed = func(c checkpoint.CommitEntry) { r.noteCommit(p, c) }
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
				// A series with a partition of its own (the consumer
				// lag's, the task's partition) keeps it: a label twice is
				// a scrape Prometheus rejects.
				if slices.ContainsFunc(m.Label, func(l *dto.LabelPair) bool { return l.GetName() == name }) {
					continue
				}
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
	for _, mf := range g.r.groupFamilies() {
		byName[mf.GetName()] = mf
	}
	out := make([]*dto.MetricFamily, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, byName[name])
	}
	return out, nil
}

// groupFamilies are the series of the query as a whole, as this replica
// knows it (Group): every partition's newest batch and watermark, labelled
// with the partition and whether this replica runs it, and the records its
// repartition stage re-keyed.
func (r *replica) groupFamilies() []*dto.MetricFamily {
	g := r.Group()
	gauge := func(name, help string) *dto.MetricFamily {
		return &dto.MetricFamily{Name: &name, Help: &help, Type: dto.MetricType_GAUGE.Enum()}
	}
	label := func(name, value string) *dto.LabelPair { return &dto.LabelPair{Name: &name, Value: &value} }
	batch := gauge(metricsPrefix+"group_partition_last_batch", "newest committed batch of each partition of the query, whichever replica runs it (-1: none yet)")
	wm := gauge(metricsPrefix+"group_partition_watermark_seconds", "committed watermark of each partition of the query, whichever replica runs it")
	for _, p := range g.Partitions {
		owner := "other"
		if p.Owned {
			owner = "self"
		}
		ls := []*dto.LabelPair{label("owner", owner), label("partition", strconv.Itoa(int(p.Partition)))}
		b, w := float64(p.BatchID), float64(p.WatermarkMs)/1000
		batch.Metric = append(batch.Metric, &dto.Metric{Label: ls, Gauge: &dto.Gauge{Value: &b}})
		wm.Metric = append(wm.Metric, &dto.Metric{Label: ls, Gauge: &dto.Gauge{Value: &w}})
	}
	qwm := gauge(metricsPrefix+"group_watermark_seconds", "the query's watermark over its partitions: the least of those reading, the greatest when all are idle")
	v := float64(g.WatermarkMs) / 1000
	qwm.Metric = []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}}
	out := []*dto.MetricFamily{batch, wm, qwm}
	if r.stage != nil {
		name, help := metricsPrefix+"repartitioned_records_total", "records this replica's repartition stage re-keyed into the repartition topic (committed)"
		n := float64(g.RepartitionedRecords)
		out = append(out, &dto.MetricFamily{Name: &name, Help: &help, Type: dto.MetricType_COUNTER.Enum(),
			Metric: []*dto.Metric{{Counter: &dto.Counter{Value: &n}}}})
	}
	return out
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
	w, ok := r.wms[p]
	if !ok {
		w.batch = -1
	}
	w.wm = max(w.wm, wm)
	if active.After(w.active) {
		w.active = active
	}
	r.wms[p] = w
}

// noteCommit records partition p's newest commit, its own task's or, read
// from its checkpoint, another replica's.
func (r *replica) noteCommit(p int32, c checkpoint.CommitEntry) {
	var active time.Time
	if c.NumInputRows > 0 {
		active = c.CommittedAt
	}
	r.noteWatermark(p, c.NextWatermarkMs, active)
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := r.wms[p]; c.BatchID >= w.batch {
		w.batch, w.committedAt, w.inputRows = c.BatchID, c.CommittedAt, c.NumInputRows
		r.wms[p] = w
	}
}

// PartitionStatus is what a replica knows of one partition of its query:
// whether it runs the partition's task, and the partition's newest commit.
type PartitionStatus struct {
	Partition   int32     `json:"partition"`
	Owned       bool      `json:"owned"`
	BatchID     int64     `json:"batchId"` // -1: none known
	WatermarkMs int64     `json:"watermarkMs"`
	CommittedAt time.Time `json:"committedAt"`
	// NumInputRows is that batch's; Idle says the partition has read no
	// record for the idle timeout.
	NumInputRows int64 `json:"numInputRows"`
	Idle         bool  `json:"idle"`
}

// GroupStatus is the query as one replica sees it: every partition the
// tasks read, which of them it runs, and the query's watermark.
type GroupStatus struct {
	Group string `json:"group"`
	// Topic is the one the tasks read: the source's, or the repartition
	// topic; RepartitionedRecords are the records this replica's
	// repartition stage re-keyed (committed).
	Topic                string            `json:"topic"`
	RepartitionedRecords int64             `json:"repartitionedRecords"`
	Partitions           []PartitionStatus `json:"partitions"`
	// WatermarkMs is the least watermark of the partitions reading (the
	// greatest when all are idle): what an idle partition follows.
	WatermarkMs int64 `json:"watermarkMs"`
}

// Group reports the query's partitions as this replica knows them (its own
// tasks' commits, the others' read from their checkpoints every 2 s).
func (r *replica) Group() GroupStatus {
	owned, _ := r.owned()
	r.mu.Lock()
	g := GroupStatus{Group: r.cfg.Group, Topic: r.topic}
	if r.stage != nil {
		g.RepartitionedRecords = r.stage.Records()
	}
	for _, p := range slices.Sorted(maps.Keys(r.wms)) {
		w := r.wms[p]
		g.Partitions = append(g.Partitions, PartitionStatus{Partition: p, Owned: slices.Contains(owned, p),
			BatchID: w.batch, WatermarkMs: w.wm, CommittedAt: w.committedAt, NumInputRows: w.inputRows,
			Idle: time.Since(w.active) > r.cfg.GroupIdleTimeout})
	}
	r.mu.Unlock()
	g.WatermarkMs = r.sharedWatermark(-1)
	for _, p := range owned {
		if !slices.ContainsFunc(g.Partitions, func(s PartitionStatus) bool { return s.Partition == p }) {
			g.Partitions = append(g.Partitions, PartitionStatus{Partition: p, Owned: true, BatchID: -1})
		}
	}
	slices.SortFunc(g.Partitions, func(a, b PartitionStatus) int { return cmp.Compare(a.Partition, b.Partition) })
	return g
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
				r.noteCommit(p, c)
			}
		}
	}
}
