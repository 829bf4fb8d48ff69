// Package repartition is a replica's first stage when its input is not
// partitioned by the query's group key: it re-keys every record of the
// source topic by that key into the query's repartition topic, exactly
// once, as a Kafka Streams repartition topic does.
//
// The replicas of a query share the source topic's partitions through a
// consumer group of their own (the query's group name + "-repartition").
// Each replica consumes its partitions read_committed and writes the re-keyed
// records in Kafka transactions that also commit the consumed offsets to
// that group (KIP-447, franz-go's GroupTransactSession): a record is in the
// repartition topic exactly once for read_committed consumers, whatever
// crashes or rebalances. A replica that lost its partitions while frozen
// cannot commit: its offsets commit carries its group generation, which the
// coordinator refuses, and its transaction aborts.
//
// A re-keyed record keeps its value, timestamp and headers; its key is the
// key column's value, read by the query's own decoder, and its partition
// the key's murmur2 hash modulo the partitions, as Kafka's default
// partitioner places a key. A record whose key cannot be read (it is not a
// valid reading, or the column is NULL) has no key and goes to partition 0:
// the query's second stage dead-letters or groups it there, once. Origin
// headers carry where the record came from (contract.HeaderOrigin*), so that
// its dead letter or late record names the source topic's position.
package repartition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/query/decode"
	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/query/types"
)

// Topic names the repartition topic of a query's source for the replicas of
// group, as Kafka Streams names its internal topics after the application.
func Topic(group, source string) string { return group + "-" + source + "-repartition" }

// Group names the consumer group of the replicas' repartition stage.
func Group(group string) string { return group + "-repartition" }

// KeyOf returns the function that reads column key of src from a record's
// value, with the query's own decoder (so that the key is byte for byte the
// column's value the second stage decodes); nil when the value is not a
// valid record of src or the column is NULL. It is safe for concurrent use.
func KeyOf(src *plan.Source, key string) (func(value []byte) []byte, error) {
	i := slices.IndexFunc(src.Decoded, func(c decode.Column) bool { return c.Name == key })
	if i < 0 || src.Decoded[i].Metadata != "" || src.Decoded[i].Type.Kind != types.String {
		return nil, fmt.Errorf("source %s: %q is not a STRING column read from the record", src.Name, key)
	}
	c := src.Decoded[i]
	c.NotNull = false
	if _, err := decode.New(src.Format, []decode.Column{c}); err != nil {
		return nil, err
	}
	type reader struct {
		d   *decode.Decoder
		b   *types.Batch
		rec decode.Record
	}
	pool := sync.Pool{New: func() any {
		d, _ := decode.New(src.Format, []decode.Column{c}) // it compiled above
		return &reader{d: d, b: d.NewBatch(1)}
	}}
	return func(value []byte) []byte {
		r := pool.Get().(*reader)
		defer pool.Put(r)
		r.b.Reset()
		r.rec.Value = value
		if r.d.Decode(&r.rec, r.b) != nil || r.b.Cols[0].IsNull(0) {
			return nil
		}
		return []byte(r.b.Cols[0].Str[0])
	}, nil
}

// Options configures a Stage.
type Options struct {
	Brokers []string
	// Group is the stage's consumer group (Group(the replicas' group)).
	Group string
	// Source is the topic read, Topic the repartition topic written.
	Source, Topic string
	// StartAtEnd starts a partition the group has no offset for at its
	// end (the source's startingOffsets = latest), else at its start.
	StartAtEnd bool
	// KeyOf reads a record's key from its value (see KeyOf).
	KeyOf          func(value []byte) []byte
	SessionTimeout time.Duration
	Logger         *slog.Logger
	// ExtraOpts are added to the stage's Kafka clients (tests use them).
	ExtraOpts []kgo.Opt
}

// Stage re-keys the source partitions its replica is assigned.
type Stage struct {
	o          Options
	partitions int32
	records    atomic.Int64
	aborted    atomic.Int64
}

// Ensure waits until the source topic exists (retrying until ctx ends)
// and creates the repartition topic with as many partitions, unless it
// exists. It returns both topics' partition counts.
func Ensure(ctx context.Context, o Options) (source, topic int32, err error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(o.Brokers...), kgo.WithLogger(kslog.New(o.Logger))}, o.ExtraOpts...)...)
	if err != nil {
		return 0, 0, fmt.Errorf("repartition: kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	count := func(topic string) (int32, error) {
		tds, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return 0, err
		}
		td, ok := tds[topic]
		switch {
		case !ok:
			return 0, kerr.UnknownTopicOrPartition
		case td.Err != nil:
			return 0, td.Err
		case len(td.Partitions) == 0:
			return 0, errors.New("topic has no partitions")
		}
		return int32(len(td.Partitions)), nil
	}
	n, err := backoff.Retry(ctx, func() (int32, error) { return count(o.Source) },
		backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 200 * time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Second}),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, next time.Duration) {
			o.Logger.Warn("waiting for topic", "topic", o.Source, "err", err, "retry_in", next.String())
		}))
	if err != nil {
		return 0, 0, fmt.Errorf("repartition: topic %q: %w", o.Source, err)
	}
	resp, err := adm.CreateTopic(ctx, n, -1, nil, o.Topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, 0, fmt.Errorf("repartition: create topic %q: %w", o.Topic, err)
	}
	have, err := backoff.Retry(ctx, func() (int32, error) { return count(o.Topic) },
		backoff.WithBackOff(backoff.NewConstantBackOff(200*time.Millisecond)), backoff.WithMaxElapsedTime(30*time.Second))
	if err != nil {
		return 0, 0, fmt.Errorf("repartition: topic %q: %w", o.Topic, err)
	}
	if have != n {
		o.Logger.Warn("the repartition topic's partitions are not the source's", "topic", o.Topic, "partitions", have, "source_partitions", n)
	}
	return n, have, nil
}

// New returns the stage writing into a repartition topic of partitions
// partitions (Ensure's count).
func New(o Options, partitions int32) *Stage {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Stage{o: o, partitions: partitions}
}

// Records returns how many records the stage re-keyed in committed
// transactions; Aborted how many transactions it aborted (after a
// rebalance or an error: their records are consumed again).
func (s *Stage) Records() int64 { return s.records.Load() }
func (s *Stage) Aborted() int64 { return s.aborted.Load() }

// transactionalID is unique to one run of one replica: KIP-447 fences a
// zombie by its group generation, not by a transactional id shared with
// its successor.
func transactionalID(group string) string {
	host, _ := os.Hostname()
	return "sensorlab-streamer-" + group + "-" + host + "-" + uuid.NewString()[:8]
}

// Run joins the stage's group and re-keys the assigned partitions until
// ctx ends, then leaves the group (its transaction in flight aborted). It
// returns an error only when the stage cannot go on.
func (s *Stage) Run(ctx context.Context) error {
	o := s.o
	start := kgo.NewOffset().AtStart()
	if o.StartAtEnd {
		start = kgo.NewOffset().AtEnd()
	}
	// A transaction lives one poll's records; a replica killed in one
	// leaves it open, holding back read_committed readers of the
	// repartition topic until the broker aborts it: within the session
	// timeout, as the group moves its partitions.
	txnTimeout := max(o.SessionTimeout, 10*time.Second)
	sess, err := kgo.NewGroupTransactSession(append([]kgo.Opt{
		kgo.SeedBrokers(o.Brokers...),
		kgo.WithLogger(kslog.New(o.Logger)),
		kgo.ConsumerGroup(o.Group),
		kgo.ConsumeTopics(o.Source),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(o.SessionTimeout),
		kgo.ConsumeResetOffset(start),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.TransactionalID(transactionalID(o.Group)),
		kgo.TransactionTimeout(txnTimeout),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.ZstdCompression(), kgo.NoCompression()),
		kgo.FetchMaxWait(250 * time.Millisecond),
	}, o.ExtraOpts...)...)
	if err != nil {
		return fmt.Errorf("repartition: %w", err)
	}
	defer sess.Close()
	o.Logger.Info("repartition stage joining its consumer group", "group", o.Group, "source", o.Source, "topic", o.Topic)
	for {
		fs := sess.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				o.Logger.Warn("repartition: fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		if fs.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("repartition: begin transaction: %w", err)
		}
		e := kgo.AbortingFirstErrPromise(sess.Client())
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, s.rekey(r), e.Promise())
			n++
		})
		// The transaction ends even when ctx ended meanwhile (aborted then,
		// its records having failed): left open it would hold back the
		// repartition topic's readers until the broker times it out.
		endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), txnTimeout)
		committed, err := sess.End(endCtx, kgo.TransactionEndTry(e.Err() == nil && ctx.Err() == nil))
		cancel()
		// ctx may have ended during End: a commit it made still counts.
		if ctx.Err() != nil {
			if err == nil && committed {
				s.records.Add(int64(n))
			}
			return nil
		}
		switch {
		case err != nil && fatal(err):
			return fmt.Errorf("repartition: %w", err)
		case err != nil:
			o.Logger.Warn("repartition: transaction aborted; its records are read again", "err", err)
			s.aborted.Add(1)
		case !committed:
			o.Logger.Info("repartition: transaction aborted by a rebalance; its records are read again by their partitions' owner")
			s.aborted.Add(1)
		default:
			s.records.Add(int64(n))
		}
		if perr := e.Err(); perr != nil {
			o.Logger.Warn("repartition: produce failed; the transaction was aborted", "err", perr)
		}
	}
}

// fatal says whether a transaction's error leaves the stage unable to go
// on: its producer fenced (another replica runs with its transactional id)
// or not allowed to.
func fatal(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed) || errors.Is(err, kerr.GroupAuthorizationFailed) ||
		errors.Is(err, kerr.TopicAuthorizationFailed)
}

// rekey is the record r becomes in the repartition topic.
func (s *Stage) rekey(r *kgo.Record) *kgo.Record {
	key := s.o.KeyOf(r.Value)
	p := int32(0)
	if key != nil {
		p = Partition(key, s.partitions)
	}
	h := make([]kgo.RecordHeader, 0, len(r.Headers)+4)
	h = append(h, r.Headers...)
	h = append(h,
		kgo.RecordHeader{Key: contract.HeaderOriginTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: contract.HeaderOriginPartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
		kgo.RecordHeader{Key: contract.HeaderOriginOffset, Value: strconv.AppendInt(nil, r.Offset, 10)})
	if r.Key != nil {
		h = append(h, kgo.RecordHeader{Key: contract.HeaderOriginKey, Value: r.Key})
	}
	return &kgo.Record{Topic: s.o.Topic, Partition: p, Key: key, Value: r.Value, Headers: h, Timestamp: r.Timestamp}
}

// Partition is where Kafka's default partitioner puts key among n
// partitions: murmur2(key) with the sign bit cleared, modulo n.
func Partition(key []byte, n int32) int32 {
	return int32(murmur2(key)&0x7fffffff) % n
}

// murmur2 is Kafka's (Java client's Utils.murmur2) hash.
func murmur2(b []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	h := uint32(seed) ^ uint32(len(b))
	for len(b) >= 4 {
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		b = b[4:]
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
