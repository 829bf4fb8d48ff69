// Package group lets replicas of one query share its input partitions
// through a Kafka consumer group, as Kafka Streams' instances share their
// tasks: each replica runs one task per partition the group assigns it, and
// a partition changes owner only between two of its task's micro-batches.
//
// The group decides ownership only. A task reads exact offset ranges of its
// partition with its own source, as a lone streamer does, and keeps its
// offsets in its own checkpoint; the group's committed offsets are never
// used (the group client fetches nothing: its topic stays paused).
//
// Ownership moves by franz-go's cooperative-sticky protocol: a partition
// leaves its owner (OnPartitionsRevoked) before the group assigns it to
// another member, and the revocation returns only once the partition's task
// has committed the batch in flight and stopped. A member that misses the
// group's session timeout (a frozen process, a network cut) has its
// partitions reassigned without its consent; what such a zombie still writes
// is fenced by the task's checkpoint, its Delta txn and its Kafka
// transactional id, not by this package.
package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// Task is the work of one partition: it runs until its context ends (then
// it finishes the batch in flight and returns nil) or it fails. generation
// is the group's generation that assigned the partition to this member: a
// later owner of the partition always has a greater one, the fencing epoch
// of the partition's outputs.
type Task func(ctx context.Context, partition int32, generation int32) error

// Options configures a member.
type Options struct {
	Brokers []string
	Group   string
	Topic   string
	// SessionTimeout is how long the group waits for a silent member before
	// it gives the member's partitions to the others (Kafka's
	// session.timeout.ms); 0 keeps franz-go's default (45 s).
	SessionTimeout time.Duration
	// StopTimeout bounds how long a revocation waits for a task to commit
	// its batch in flight; a task still running then is abandoned (its batch
	// is re-run by the partition's next owner).
	StopTimeout time.Duration
	// Migrated, when set, says that a task's error means another member
	// wrote the partition's checkpoint (a replica frozen or cut off past
	// the session timeout, this one or the other). Such a task is run
	// afresh every few seconds, for up to twice the session timeout, until
	// the group takes the partition away or the other member stops,
	// instead of failing the replica.
	Migrated func(error) bool
	Logger   *slog.Logger
	// ExtraOpts are appended to the client's options (tests use them).
	ExtraOpts []kgo.Opt
}

// running is one partition's task in this member.
type running struct {
	gen    int32 // the generation that assigned the partition
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done closes
}

// Member is one replica's membership in the group.
type Member struct {
	opts Options
	log  *slog.Logger
	task Task
	cl   *kgo.Client

	mu     sync.Mutex
	tasks  map[int32]*running
	failed chan error // the first task that failed while owned
}

// Run joins the group and runs a task for every partition the group
// assigns this member until ctx ends (every task finishes its batch in
// flight, the member leaves the group, Run returns nil) or a task fails
// while its partition is owned (the other tasks stop, the member leaves,
// Run returns that error: a replica does not go on with a partition it
// cannot process).
func Run(ctx context.Context, o Options, task Task) error {
	m, err := Join(o, task)
	if err != nil {
		return err
	}
	var ferr error
	select {
	case <-ctx.Done():
	case ferr = <-m.failed:
	}
	m.Leave()
	return ferr
}

// Join creates the member and starts joining the group; the tasks start as
// partitions are assigned. Leave ends the membership.
func Join(o Options, task Task) (*Member, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	m := &Member{opts: o, log: o.Logger, task: task, tasks: map[int32]*running{}, failed: make(chan error, 1)}
	opts := []kgo.Opt{
		kgo.SeedBrokers(o.Brokers...),
		kgo.WithLogger(kslog.New(o.Logger)),
		kgo.ConsumerGroup(o.Group),
		kgo.ConsumeTopics(o.Topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(m.assigned),
		kgo.OnPartitionsRevoked(m.revoked),
		kgo.OnPartitionsLost(m.lost),
	}
	if o.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(o.SessionTimeout))
	}
	cl, err := kgo.NewClient(append(opts, o.ExtraOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka consumer group %q: %w", o.Group, err)
	}
	// The group only decides ownership: its client fetches nothing. The
	// topic is paused before the first assignment can arrive (joining takes
	// a round trip to the coordinator at least).
	cl.PauseFetchTopics(o.Topic)
	m.cl = cl
	return m, nil
}

// Owned returns the partitions whose tasks run in this member, ascending.
func (m *Member) Owned() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.tasks))
}

// Failed is sent the first error of a task that failed while its partition
// was owned.
func (m *Member) Failed() <-chan error { return m.failed }

// Leave stops every task (each finishes its batch in flight), then leaves
// the group, so that the others take the partitions over at once rather
// than after the session timeout.
func (m *Member) Leave() {
	// Stopping first: once the member has left, the group may hand the
	// partitions to another member while a task here still commits.
	m.stop(m.Owned(), "leaving the group")
	if err := m.cl.LeaveGroupContext(context.Background()); err != nil {
		m.log.Warn("leave the consumer group", "group", m.opts.Group, "err", err)
	}
	m.cl.Close()
}

func (m *Member) assigned(_ context.Context, cl *kgo.Client, parts map[string][]int32) {
	ps := slices.Sorted(slices.Values(parts[m.opts.Topic]))
	if len(ps) == 0 {
		return
	}
	_, gen := cl.GroupMetadata()
	m.mu.Lock()
	for _, p := range ps {
		if _, ok := m.tasks[p]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &running{gen: gen, cancel: cancel, done: make(chan struct{})}
		m.tasks[p] = r
		go m.runTask(ctx, p, r)
	}
	m.mu.Unlock()
	m.log.Info("partitions assigned: their tasks start", "group", m.opts.Group, "generation", gen, "partitions", ps, "owned", m.Owned())
}

func (m *Member) runTask(ctx context.Context, p int32, r *running) {
	defer close(r.done)
	session := m.opts.SessionTimeout
	if session <= 0 {
		session = 45 * time.Second // franz-go's default
	}
	deadline := time.Now().Add(2 * session)
	for {
		r.err = m.task(ctx, p, r.gen)
		if r.err == nil || ctx.Err() != nil {
			return // stopped: revoked, lost, or the member leaves
		}
		if m.opts.Migrated == nil || !m.opts.Migrated(r.err) || time.Now().After(deadline) {
			break
		}
		// Another member wrote the partition's checkpoint: either this
		// member was frozen past the session timeout and the group will
		// take the partition away (ctx ends), or the other one is such a
		// zombie, which stops writing once it hears from the group (a
		// heartbeat or so): a fresh run then continues from what it left.
		m.log.Warn("another replica wrote the partition's checkpoint: running its task afresh shortly", "partition", p, "err", r.err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(3*time.Second, session/3)):
		}
	}
	m.log.Error("the task of an owned partition failed: the replica stops", "partition", p, "err", r.err)
	select {
	case m.failed <- fmt.Errorf("partition %d: %w", p, r.err):
	default:
	}
}

func (m *Member) revoked(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	if ps := parts[m.opts.Topic]; len(ps) > 0 {
		m.stop(ps, "partitions revoked")
	}
}

func (m *Member) lost(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	if ps := parts[m.opts.Topic]; len(ps) > 0 {
		m.stop(ps, "partitions lost (the group gave them to others: session timeout or fenced)")
	}
}

// stop cancels the tasks of ps and waits until each has finished its batch
// in flight, or StopTimeout passed.
func (m *Member) stop(ps []int32, why string) {
	m.mu.Lock()
	var stopping []*running
	var which []int32
	for _, p := range ps {
		if r, ok := m.tasks[p]; ok {
			delete(m.tasks, p)
			r.cancel()
			stopping = append(stopping, r)
			which = append(which, p)
		}
	}
	m.mu.Unlock()
	if len(stopping) == 0 {
		return
	}
	slices.Sort(which)
	start := time.Now()
	var deadline <-chan time.Time // nil: wait as long as it takes
	if m.opts.StopTimeout > 0 {
		t := time.NewTimer(m.opts.StopTimeout)
		defer t.Stop()
		deadline = t.C
	}
	expired := false
	for i, r := range stopping {
		if !expired {
			select {
			case <-r.done:
			case <-deadline:
				expired = true
			}
		}
		select {
		case <-r.done:
			if r.err != nil && !errors.Is(r.err, context.Canceled) {
				m.log.Warn("a stopped task ended with an error", "partition", which[i], "err", r.err)
			}
		default:
			m.log.Warn("a task did not stop in time: abandoned; its next owner re-runs its batch", "partition", which[i])
		}
	}
	m.log.Info(why+": their tasks stopped", "group", m.opts.Group, "partitions", which,
		"stop_ms", time.Since(start).Milliseconds(), "owned", m.Owned())
}

// Joined reports whether the member is in the group now (it has joined and
// not been fenced or left since).
func (m *Member) Joined() bool {
	_, gen := m.cl.GroupMetadata()
	return gen >= 0
}

// Partitions returns the partitions of the group's topic, ascending.
func (m *Member) Partitions(ctx context.Context) ([]int32, error) {
	tds, err := kadm.NewClient(m.cl).ListTopics(ctx, m.opts.Topic)
	if err != nil {
		return nil, err
	}
	td, ok := tds[m.opts.Topic]
	if !ok || td.Err != nil {
		return nil, fmt.Errorf("topic %q: not found", m.opts.Topic)
	}
	return slices.Sorted(maps.Keys(td.Partitions)), nil
}
