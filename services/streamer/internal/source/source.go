// Package source is the streamer's Kafka source. It reads exact offset ranges
// of every partition of one topic, as the micro-batch planner asks, and never
// relies on a consumer group: offsets come from the checkpoint.
//
// Records are buffered per partition in offset order. A batch takes the
// records of [start, end) of each partition; records past end stay buffered
// for the next batch. Control records (transaction markers) are fetched so
// that every offset is accounted for, and skipped when records are handed out.
package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// ErrDataLoss reports checkpointed offsets that Kafka no longer has.
var ErrDataLoss = errors.New("data loss")

// Offsets maps a partition to an offset.
type Offsets map[int32]int64

// Clone returns a copy.
func (o Offsets) Clone() Offsets {
	c := make(Offsets, len(o))
	for p, v := range o {
		c[p] = v
	}
	return c
}

// Lag returns the sum of b[p]-o[p] over the partitions of o, counting only
// positive differences.
func (o Offsets) Lag(b Offsets) int64 {
	var n int64
	for p, v := range o {
		if d := b[p] - v; d > 0 {
			n += d
		}
	}
	return n
}

// Options configures a Source.
type Options struct {
	Brokers        []string
	Topic          string
	FailOnDataLoss bool
	// Partitions, when set, are the only partitions read (a replica's task
	// reads the partitions its consumer group assigned it); nil reads all.
	Partitions []int32
	// ReadCommitted reads only committed records (a repartition topic,
	// written in transactions); aborted ones are skipped with their offsets.
	ReadCommitted bool
	Logger        *slog.Logger
	// ExtraOpts are appended to the clients' options (tests use them).
	ExtraOpts []kgo.Opt
}

// Source reads one topic's partitions.
type Source struct {
	opts       Options
	log        *slog.Logger
	admCl      *kgo.Client
	adm        *kadm.Client
	cl         *kgo.Client
	partitions []int32

	mu     sync.Mutex
	buf    map[int32][]*kgo.Record
	next   Offsets // offset after the last record received, per partition
	hwm    Offsets // newest high watermark seen, per partition
	lost   int64   // records skipped after data loss, when allowed
	broker error   // last fetch error, nil when the broker answers
}

// Open connects to the brokers and waits until the topic exists (retrying
// with backoff until ctx ends), then learns its partitions.
func Open(ctx context.Context, o Options) (*Source, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	copts := append([]kgo.Opt{kgo.SeedBrokers(o.Brokers...), kgo.WithLogger(kslog.New(o.Logger))}, o.ExtraOpts...)
	admCl, err := kgo.NewClient(copts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	s := &Source{opts: o, log: o.Logger, admCl: admCl, adm: kadm.NewClient(admCl),
		buf: map[int32][]*kgo.Record{}, next: Offsets{}, hwm: Offsets{}}
	var last error
	parts, err := backoff.Retry(ctx, func() ([]int32, error) {
		parts, err := s.topicPartitions(ctx)
		if err != nil {
			s.setBrokerErr(err)
			last = err
		}
		return parts, err
	},
		backoff.WithBackOff(topicBackOff()),
		backoff.WithMaxElapsedTime(0), // until the topic exists or we are stopped
		backoff.WithNotify(func(err error, next time.Duration) {
			s.log.Warn("waiting for topic", "topic", o.Topic, "err", err, "retry_in", next.String())
		}))
	if err != nil {
		admCl.Close()
		return nil, fmt.Errorf("topic %q: %w (last error: %v)", o.Topic, err, last)
	}
	if o.Partitions != nil {
		for _, p := range o.Partitions {
			if !slices.Contains(parts, p) {
				admCl.Close()
				return nil, fmt.Errorf("topic %q has no partition %d (it has %d)", o.Topic, p, len(parts))
			}
		}
		parts = slices.Sorted(slices.Values(o.Partitions))
	}
	s.partitions = parts
	return s, nil
}

// topicBackOff paces Open's wait for the topic: 200ms, doubling up to 5s,
// without jitter (one client per streamer: there is no herd to spread).
func topicBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval: 200 * time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Second,
	}
}

func (s *Source) topicPartitions(ctx context.Context) ([]int32, error) {
	tds, err := s.adm.ListTopics(ctx, s.opts.Topic)
	if err != nil {
		return nil, err
	}
	td, ok := tds[s.opts.Topic]
	if !ok || td.Err != nil {
		if ok {
			return nil, td.Err
		}
		return nil, kerr.UnknownTopicOrPartition
	}
	parts := make([]int32, 0, len(td.Partitions))
	for p := range td.Partitions {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return nil, errors.New("topic has no partitions")
	}
	return parts, nil
}

// Partitions returns the topic's partitions, ascending.
func (s *Source) Partitions() []int32 { return slices.Clone(s.partitions) }

// ListOffsets returns the earliest (log start) or latest (high watermark)
// offset of every partition.
func (s *Source) ListOffsets(ctx context.Context, earliest bool) (Offsets, error) {
	var lo kadm.ListedOffsets
	var err error
	if earliest {
		lo, err = s.adm.ListStartOffsets(ctx, s.opts.Topic)
	} else {
		lo, err = s.adm.ListEndOffsets(ctx, s.opts.Topic)
	}
	if err == nil {
		err = lo.Error()
	}
	if err != nil {
		s.setBrokerErr(err)
		return nil, fmt.Errorf("broker: list offsets of %q: %w", s.opts.Topic, err)
	}
	out := Offsets{}
	for _, p := range s.partitions {
		o, ok := lo.Lookup(s.opts.Topic, p)
		if !ok {
			return nil, fmt.Errorf("list offsets of %q: partition %d missing", s.opts.Topic, p)
		}
		out[p] = o.Offset
	}
	s.setBrokerErr(nil)
	return out, nil
}

// StartAt starts consuming every partition at the given offsets. It is
// called once, after recovery decided where the next batch starts.
func (s *Source) StartAt(start Offsets) error {
	at := map[int32]kgo.Offset{}
	for _, p := range s.partitions {
		off, ok := start[p]
		if !ok {
			return fmt.Errorf("no start offset for partition %d", p)
		}
		at[p] = kgo.NewOffset().At(off)
		s.next[p] = off
	}
	copts := append([]kgo.Opt{
		kgo.SeedBrokers(s.opts.Brokers...),
		kgo.WithLogger(kslog.New(s.log)),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.opts.Topic: at}),
		kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchMaxWait(250 * time.Millisecond),
	}, s.opts.ExtraOpts...)
	if s.opts.ReadCommitted {
		copts = append(copts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(copts...)
	if err != nil {
		return fmt.Errorf("kafka consumer: %w", err)
	}
	s.cl = cl
	return nil
}

// Poll fetches once, waiting at most until ctx ends, and buffers what came.
// A context that ends is not an error.
func (s *Source) Poll(ctx context.Context) error {
	fetches := s.cl.PollFetches(ctx)
	if fetches.IsClientClosed() {
		return errors.New("kafka consumer closed")
	}
	var firstErr error
	fetches.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		if errors.Is(err, kerr.OffsetOutOfRange) {
			if derr := s.handleOutOfRange(p); derr != nil && firstErr == nil {
				firstErr = derr
			}
			return
		}
		s.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		s.setBrokerErr(err)
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	fetches.EachPartition(func(ftp kgo.FetchTopicPartition) {
		p := ftp.Partition
		if ftp.HighWatermark > s.hwm[p] {
			s.hwm[p] = ftp.HighWatermark
		}
		// The maps are read and written once per partition, not per record.
		next, buf := s.next[p], s.buf[p]
		for _, r := range ftp.Records {
			if r.Offset < next {
				continue // a re-fetch after a reset: already buffered
			}
			buf = append(buf, r)
			next = r.Offset + 1
		}
		if len(ftp.Records) > 0 {
			s.next[p], s.buf[p] = next, buf
		}
		if ftp.Err == nil && len(ftp.Records) > 0 {
			s.broker = nil
		}
	})
	return firstErr
}

// handleOutOfRange decides what an OffsetOutOfRange means: records deleted
// before we read them (or a recreated topic). With FailOnDataLoss it is an
// error naming the lost range; otherwise it is an error that restarts the
// query, whose recovery (CheckStart) moves past the loss and reports it: the
// planner's offsets must move with the consumer's, or batches would be
// planned over records that no longer exist.
func (s *Source) handleOutOfRange(p int32) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	starts, err := s.ListOffsets(ctx, true)
	if err != nil {
		return err
	}
	ends, err := s.ListOffsets(ctx, false)
	if err != nil {
		return err
	}
	s.mu.Lock()
	want := s.next[p]
	s.mu.Unlock()
	loss, ok := s.lossAt(p, want, starts[p], ends[p])
	if !ok {
		return nil // a transient answer; the client retries
	}
	if s.opts.FailOnDataLoss {
		return loss.err(s.opts.Topic)
	}
	return fmt.Errorf("%s: restarting the query to move past it", loss.msg)
}

// dataLoss is one partition whose checkpointed offset Kafka no longer holds.
type dataLoss struct {
	partition int32
	resetTo   int64 // where reading continues (the log start)
	skipped   int64 // records known to be skipped (unknown when the topic was recreated: 0)
	msg       string
}

func (l dataLoss) err(topic string) error {
	return fmt.Errorf("%w: %s; records were deleted or the topic was recreated. "+
		"Restart with --fail-on-data-loss=false to continue from offset %d, or reset the query's checkpoint",
		ErrDataLoss, l.msg, l.resetTo)
}

// lossAt says whether offset want of partition p is outside [logStart,
// logEnd], the records Kafka holds.
func (s *Source) lossAt(p int32, want, logStart, logEnd int64) (dataLoss, bool) {
	l := dataLoss{partition: p, resetTo: logStart}
	switch {
	case want < logStart:
		l.skipped = logStart - want
	case want > logEnd:
		// The topic is behind the checkpoint: it was recreated or truncated.
		// Everything it now holds is new to this query.
	default:
		return l, false
	}
	l.msg = fmt.Sprintf("partition %d of %q: the checkpoint wants offset %d but Kafka holds [%d, %d)",
		p, s.opts.Topic, want, logStart, logEnd)
	return l, true
}

// CheckStart compares the offsets a query resumes from with the records
// Kafka holds now, as Spark's Kafka source does at each batch: a partition
// whose offset is before its log start (records deleted) or after its end
// (the topic was recreated or truncated) is data loss. With FailOnDataLoss it
// returns an error wrapping ErrDataLoss that names every such partition;
// otherwise it returns start with those partitions moved to their log start,
// logs what was skipped, and counts it in Lost. moved is true when a
// partition moved.
func (s *Source) CheckStart(ctx context.Context, start Offsets) (out Offsets, moved bool, err error) {
	starts, err := s.ListOffsets(ctx, true)
	if err != nil {
		return nil, false, err
	}
	ends, err := s.ListOffsets(ctx, false)
	if err != nil {
		return nil, false, err
	}
	out = start.Clone()
	var losses []error
	for _, p := range s.partitions {
		want, ok := start[p]
		if !ok {
			continue
		}
		loss, ok := s.lossAt(p, want, starts[p], ends[p])
		if !ok {
			continue
		}
		if s.opts.FailOnDataLoss {
			losses = append(losses, loss.err(s.opts.Topic))
			continue
		}
		s.log.Error("data loss: continuing from the log start", "partition", p, "wanted", want,
			"log_start", starts[p], "log_end", ends[p], "skipped", loss.skipped, "topic_recreated", want > ends[p])
		s.mu.Lock()
		s.lost += loss.skipped
		s.mu.Unlock()
		out[p], moved = loss.resetTo, true
	}
	return out, moved, errors.Join(losses...)
}

// Available returns, per partition, the offset after the last buffered record:
// what a batch could include without waiting.
func (s *Source) Available() Offsets {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next.Clone()
}

// Latest returns the newest high watermark seen per partition.
func (s *Source) Latest() Offsets {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.hwm.Clone()
	for p, n := range s.next {
		if n > out[p] {
			out[p] = n
		}
	}
	return out
}

// Lost returns how many records were skipped after data loss.
func (s *Source) Lost() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

// FillTo polls until every partition's buffer reaches end.
func (s *Source) FillTo(ctx context.Context, end Offsets) error {
	for {
		if s.reached(end) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := s.Poll(pctx)
		cancel()
		if err != nil {
			return err
		}
	}
}

func (s *Source) reached(end Offsets) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, e := range end {
		if s.next[p] < e {
			return false
		}
	}
	return true
}

// takeChunk is how many offsets of a partition a batch hands out before it
// moves on to the next partition (see Take). A var for the tests.
var takeChunk int64 = 8192

// Take hands out the buffered data records of [start[p], end[p]) of every
// partition and drops them from the buffer, in a fixed order: rounds over the
// partitions in ascending order, each round handing out the next takeChunk
// offsets of each partition, in offset order. The order depends only on
// start, end and the log, so a re-run of a batch folds its records in the
// same order (which copy of a duplicate --dedup keeps depends on it); the
// rounds let a batch decode every partition's records as they arrive, rather
// than buffer the other partitions' while it reads one. Control records are
// skipped. Records before end that have not arrived are not waited for
// (FillTo waits for them).
func (s *Source) Take(start, end Offsets, fn func(*kgo.Record)) {
	_, _ = s.take(context.Background(), start, end, fn, false)
}

// TakeAsFetched hands out the same records, in the same order, as FillTo
// followed by Take. But it does not wait for the whole range first: it
// hands out what has arrived of the current chunk and polls for the rest,
// so decoding overlaps the client's fetching of the next records (on
// another core) and handed-out records are released as it goes. It returns
// the time spent waiting for records.
func (s *Source) TakeAsFetched(ctx context.Context, start, end Offsets, fn func(*kgo.Record)) (time.Duration, error) {
	return s.take(ctx, start, end, fn, true)
}

func (s *Source) take(ctx context.Context, start, end Offsets, fn func(*kgo.Record), wait bool) (time.Duration, error) {
	var waited time.Duration
	lo := make(map[int32]int64, len(s.partitions)) // the next offset each partition hands out
	for _, p := range s.partitions {
		lo[p] = start[p]
	}
	for more := true; more; {
		more = false
		for _, p := range s.partitions {
			if lo[p] >= end[p] {
				continue
			}
			hi := min(end[p], lo[p]+takeChunk)
			for !s.takePartition(p, hi, fn) && wait {
				if err := ctx.Err(); err != nil {
					return waited, err
				}
				t := time.Now()
				pctx, cancel := context.WithTimeout(ctx, time.Second)
				err := s.Poll(pctx)
				cancel()
				waited += time.Since(t)
				if err != nil {
					return waited, err
				}
			}
			lo[p] = hi
			more = more || hi < end[p]
		}
	}
	return waited, nil
}

// takePartition hands out partition p's buffered data records with offset <
// end and drops them, and reports whether that was all of them.
func (s *Source) takePartition(p int32, end int64, fn func(*kgo.Record)) (done bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	done = s.next[p] >= end
	recs := s.buf[p]
	n := 0
	for n < len(recs) && recs[n].Offset < end {
		if !recs[n].Attrs.IsControl() {
			fn(recs[n])
		}
		n++
	}
	clear(recs[:n])
	s.buf[p] = recs[n:]
	return done
}

// BrokerErr returns the last broker error, nil when the broker answers.
func (s *Source) BrokerErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broker
}

func (s *Source) setBrokerErr(err error) {
	s.mu.Lock()
	s.broker = err
	s.mu.Unlock()
}

// Ping checks the broker answers metadata requests.
func (s *Source) Ping(ctx context.Context) error {
	_, err := s.topicPartitions(ctx)
	s.setBrokerErr(err)
	return err
}

// Close releases the clients.
func (s *Source) Close() {
	if s.cl != nil {
		s.cl.Close()
	}
	s.admCl.Close()
}

// Plan caps the records between start and avail at max in total, splitting
// the cap across partitions in proportion to their lag (largest remainder,
// ties to the lower partition), as Spark's maxOffsetsPerTrigger does. max <= 0
// means no cap. The result never goes below start nor above avail.
func Plan(start, avail Offsets, max int64) Offsets {
	end := Offsets{}
	var total int64
	parts := make([]int32, 0, len(start))
	for p, s := range start {
		parts = append(parts, p)
		a := avail[p]
		if a < s {
			a = s
		}
		end[p] = a
		total += a - s
	}
	if max <= 0 || total <= max {
		return end
	}
	slices.Sort(parts)
	type share struct {
		p   int32
		rem int64
	}
	shares := make([]share, 0, len(parts))
	var given int64
	for _, p := range parts {
		lag := end[p] - start[p]
		// lag < total and max < total here, so lag*max stays far below 2^63
		// for any lag a topic can hold between two batches.
		q := lag * max / total
		end[p] = start[p] + q
		given += q
		shares = append(shares, share{p, (lag * max) % total})
	}
	slices.SortStableFunc(shares, func(a, b share) int {
		switch {
		case a.rem > b.rem:
			return -1
		case a.rem < b.rem:
			return 1
		}
		return 0
	})
	for i := 0; given < max && i < len(shares); i++ {
		p := shares[i].p
		if end[p] < avail[p] {
			end[p]++
			given++
		}
	}
	return end
}
