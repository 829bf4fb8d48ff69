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

	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/services/streamer/internal/checkpoint"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/driver"
	"github.com/sensorlab/sensorlab/services/streamer/internal/group"
	"github.com/sensorlab/sensorlab/services/streamer/internal/progress"
	"github.com/sensorlab/sensorlab/services/streamer/internal/qsink"
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
	log    *slog.Logger
	stdout io.Writer
	// extraKafkaOpts are added to every Kafka client (tests use them).
	extraKafkaOpts []kgo.Opt

	mu     sync.Mutex
	tasks  map[int32]*driver.Driver
	member *group.Member
}

func newReplica(cfg config.Config, name, text string, prog *plan.Program, log *slog.Logger, stdout io.Writer) *replica {
	return &replica{cfg: cfg, prog: prog, name: name, text: text, log: log, stdout: stdout, tasks: map[int32]*driver.Driver{}}
}

// run joins the group and runs the tasks until ctx ends or a task fails.
func (r *replica) run(ctx context.Context) error {
	m, err := group.Join(group.Options{
		Brokers: r.cfg.Brokers, Group: r.cfg.Group, Topic: r.prog.Queries[0].Source.Options["topic"],
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
	var ferr error
	select {
	case <-ctx.Done():
	case ferr = <-m.Failed():
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
	d := driver.New(c, prog, r.log.With("partition", p), r.stdout)
	d.Partitions = []int32{p}
	d.Epoch = int64(generation) + 1
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
