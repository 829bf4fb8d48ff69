// Package kafkaout writes the streamer's Kafka outputs — dead letters, late
// readings and the Kafka sinks' rows — exactly once per micro-batch, for read_committed
// consumers, with Kafka transactions tied to the batch.
//
// Spark's Kafka sink is at-least-once: a batch re-run after a crash writes its
// records again. Here every batch that has Kafka output writes it in one
// transaction together with a marker record (query id → batch id) in a marker
// topic. On start, the writer fences any producer of the same query (its open
// transaction is aborted) and reads the markers back: a batch whose marker is
// committed already has its output in Kafka, and its re-run writes nothing.
// A crash before the commit leaves an aborted transaction, invisible to
// read_committed consumers, and the re-run writes the output once.
package kafkaout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/sensorlab/sensorlab/contract"
)

// MarkerTopic records, per query, the last batch whose Kafka output committed.
const MarkerTopic = "_sensorlab_sink_commits"

// Writer is the transactional producer of one query's Kafka outputs.
type Writer struct {
	cl      *kgo.Client
	adm     *kadm.Client
	queryID string
	log     *slog.Logger

	lastCommitted int64 // newest batch whose output is committed in Kafka; -1 if none
	batch         int64
	skip          bool // the current batch's output is already in Kafka
	inTxn         bool
	sent          int64
	unsure        error // set when a commit's outcome could not be learned: Commit refuses to go on

	mu       sync.Mutex
	firstErr error
}

// New creates the writer of query queryID. Call Init before the first batch.
func New(brokers []string, queryID string, log *slog.Logger, extra ...kgo.Opt) (*Writer, error) {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.WithLogger(kslog.New(log)),
		kgo.TransactionalID("sensorlab-streamer-" + queryID),
		kgo.TransactionTimeout(2 * time.Minute),
		kgo.ProducerBatchCompression(kgo.ZstdCompression(), kgo.NoCompression()),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka outputs: %w", err)
	}
	return &Writer{cl: cl, adm: kadm.NewClient(cl), queryID: queryID, log: log, lastCommitted: -1}, nil
}

// EnsureTopics creates the topics that do not exist yet.
func (w *Writer) EnsureTopics(ctx context.Context, partitions int32, topics ...string) error {
	for _, t := range topics {
		p := partitions
		var cfg map[string]*string
		if t == MarkerTopic {
			p = 1
			compact := "compact"
			cfg = map[string]*string{"cleanup.policy": &compact}
		}
		resp, err := w.adm.CreateTopic(ctx, p, -1, cfg, t)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %q: %w", t, err)
		}
	}
	return nil
}

// Init fences older producers of the query and learns which batches already
// have their output committed.
func (w *Writer) Init(ctx context.Context) error {
	// Initialising the producer id bumps the epoch of the transactional id:
	// a crashed predecessor's open transaction is aborted, and a zombie can
	// no longer commit.
	if _, _, err := w.cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("init transactional producer: %w", err)
	}
	last, err := w.readMarkers(ctx)
	if err != nil {
		return err
	}
	w.lastCommitted = last
	w.log.Info("kafka outputs ready", "last_committed_batch", last)
	return nil
}

type marker struct {
	QueryID string `json:"queryId"`
	BatchID int64  `json:"batchId"`
}

// readMarkers reads the marker topic, read_committed, up to its end, and
// returns the newest batch committed for this query. Its end is the high
// watermark, not the last stable offset: the queries share the topic, and
// another query's open transaction holds the last stable offset below this
// query's newer markers. Reading up to the high watermark waits until the
// transactions open now end (at worst when the broker times them out).
func (w *Writer) readMarkers(ctx context.Context) (int64, error) {
	hwm, err := w.adm.ListEndOffsets(ctx, MarkerTopic)
	if err == nil {
		err = hwm.Error()
	}
	if err != nil {
		return -1, fmt.Errorf("marker topic offsets: %w", err)
	}
	end, ok := hwm.Lookup(MarkerTopic, 0)
	if !ok || end.Offset <= 0 {
		return -1, nil
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(w.cl.OptValue(kgo.SeedBrokers).([]string)...),
		kgo.WithLogger(kslog.New(w.log)),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{MarkerTopic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return -1, err
	}
	defer cl.Close()
	last := int64(-1)
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return -1, fmt.Errorf("read marker topic: %w", err)
		}
		var done bool
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return -1, fmt.Errorf("read marker topic: %w", ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= end.Offset-1 {
				done = true
			}
			if r.Attrs.IsControl() || string(r.Key) != w.queryID {
				return
			}
			var m marker
			if json.Unmarshal(r.Value, &m) == nil && m.QueryID == w.queryID && m.BatchID > last {
				last = m.BatchID
			}
		})
		if done {
			return last, nil
		}
	}
}

// LastCommitted returns the newest batch whose Kafka output is committed.
func (w *Writer) LastCommitted() int64 { return w.lastCommitted }

// Begin starts the output of a batch. A batch already committed to Kafka
// (a re-run after a crash) produces nothing. A transaction that an earlier
// batch left open (Begin without Commit) is aborted: its records must not
// commit with this batch's.
func (w *Writer) Begin(batchID int64) {
	if w.inTxn {
		w.abort()
		w.inTxn = false
	}
	w.takeErr()
	w.batch = batchID
	w.skip = batchID <= w.lastCommitted
	w.sent = 0
}

// Send queues a record of the current batch.
func (w *Writer) Send(r *kgo.Record) {
	if w.skip {
		return
	}
	if !w.inTxn {
		if err := w.cl.BeginTransaction(); err != nil {
			w.fail(err)
			return
		}
		w.inTxn = true
	}
	w.sent++
	w.cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
		if err != nil {
			w.fail(err)
		}
	})
}

func (w *Writer) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.firstErr == nil {
		w.firstErr = err
	}
}

// takeErr returns and clears the batch's first error.
func (w *Writer) takeErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.firstErr
	w.firstErr = nil
	return err
}

// Commit commits the current batch's records, with its marker, in one
// transaction. A batch without records commits nothing. On an error the
// batch's transaction is aborted and nothing of it is visible to
// read_committed consumers; the batch may be run again.
func (w *Writer) Commit(ctx context.Context) (sent int64, skipped bool, err error) {
	if w.skip {
		return 0, true, nil
	}
	if w.unsure != nil {
		return 0, false, fmt.Errorf("kafka outputs of batch %d: %w", w.batch, w.unsure)
	}
	if !w.inTxn {
		// Nothing was produced, unless Send could not even begin the
		// transaction: then the batch's records are lost, not empty.
		if ferr := w.takeErr(); ferr != nil {
			return 0, false, fmt.Errorf("kafka outputs of batch %d: %w", w.batch, ferr)
		}
		return 0, false, nil
	}
	w.inTxn = false
	val, _ := json.Marshal(marker{QueryID: w.queryID, BatchID: w.batch})
	w.cl.Produce(ctx, &kgo.Record{Topic: MarkerTopic, Partition: 0, Key: []byte(w.queryID), Value: val},
		func(_ *kgo.Record, err error) {
			if err != nil {
				w.fail(err)
			}
		})
	if err := w.cl.Flush(ctx); err != nil {
		w.abort()
		return 0, false, fmt.Errorf("flush kafka outputs: %w", err)
	}
	if ferr := w.takeErr(); ferr != nil {
		w.abort()
		return 0, false, fmt.Errorf("kafka outputs of batch %d: %w", w.batch, ferr)
	}
	if err := w.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		// franz-go keeps the transaction open after a failed EndTxn, and
		// the commit may even have happened (its answer lost). Abort:
		// franz-go's recovery marks the producer id for re-initialising,
		// at times only for the next transaction; re-initialise it now,
		// which bumps the epoch and so ends whatever is still open at
		// the broker (if fenced, the newer writer did). Then ask the
		// markers which it was, so that a re-run neither loses nor
		// repeats the batch.
		w.abort()
		_, _, _ = w.cl.ProducerID(ctx) // if it fails, readMarkers waits for the broker to time the transaction out
		last, merr := w.readMarkers(ctx)
		if merr != nil {
			w.unsure = fmt.Errorf("the outcome of an earlier commit is unknown (%w), and the markers could not be read (%w): re-create the writer", err, merr)
			return 0, false, fmt.Errorf("commit kafka outputs of batch %d: %w", w.batch, err)
		}
		w.lastCommitted = last
		if last >= w.batch {
			w.log.Warn("kafka outputs: the commit failed, but its marker is committed", "batch_id", w.batch, "err", err)
			return w.sent, false, nil
		}
		return 0, false, fmt.Errorf("commit kafka outputs of batch %d: %w", w.batch, err)
	}
	w.lastCommitted = w.batch
	return w.sent, false, nil
}

func (w *Writer) abort() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.cl.AbortBufferedRecords(ctx); err == nil {
		_ = w.cl.EndTransaction(ctx, kgo.TryAbort)
	}
}

// Close releases the producer; an open transaction is aborted by the broker
// (or fenced by the next Init).
func (w *Writer) Close() { w.cl.Close() }

// DeadLetter builds the dead-letter record of rec: its key and value
// unchanged, the reason and the source position in headers. A value over
// contract.MaxValueBytes (rejected as too_large) is cut to its first
// MaxValueBytes: forwarded whole, a value near the broker's message size
// limit would fail the batch's transaction on every re-run and stall the
// query. The source position in the headers still leads to the whole record.
func DeadLetter(topic string, rec *kgo.Record, reason contract.Reason, detail string) *kgo.Record {
	if len(rec.Value) > contract.MaxValueBytes {
		cut := *rec
		cut.Value = rec.Value[:contract.MaxValueBytes]
		detail += fmt.Sprintf("; the dead letter holds its first %d bytes", contract.MaxValueBytes)
		return forward(topic, &cut, string(reason), detail)
	}
	return forward(topic, rec, string(reason), detail)
}

// Late builds the record of a reading dropped as late: key and value
// unchanged, the watermark it missed and its source position in headers.
func Late(topic string, rec *kgo.Record, watermarkMs int64) *kgo.Record {
	return forward(topic, rec, "late", "event time <= watermark "+strconv.FormatInt(watermarkMs, 10))
}

// Origin returns the record a repartition stage re-keyed into rec: its
// topic, partition, offset and key from rec's origin headers (which it
// drops), value, timestamp and other headers rec's. A record without them
// is returned as it is.
func Origin(rec *kgo.Record) *kgo.Record {
	if !slices.ContainsFunc(rec.Headers, func(h kgo.RecordHeader) bool { return h.Key == contract.HeaderOriginTopic }) {
		return rec
	}
	o := *rec
	o.Key = nil
	o.Headers = make([]kgo.RecordHeader, 0, len(rec.Headers))
	for _, h := range rec.Headers {
		switch h.Key {
		case contract.HeaderOriginTopic:
			o.Topic = string(h.Value)
		case contract.HeaderOriginPartition:
			if n, err := strconv.ParseInt(string(h.Value), 10, 32); err == nil {
				o.Partition = int32(n)
			}
		case contract.HeaderOriginOffset:
			if n, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				o.Offset = n
			}
		case contract.HeaderOriginKey:
			o.Key = h.Value
		default:
			o.Headers = append(o.Headers, h)
		}
	}
	return &o
}

// forward copies rec to topic with headers saying why and where it came
// from; source topic, partition and offset identify it uniquely.
func forward(topic string, rec *kgo.Record, reason, detail string) *kgo.Record {
	return &kgo.Record{
		Topic: topic, Key: rec.Key, Value: rec.Value,
		Headers: append([]kgo.RecordHeader{
			{Key: contract.HeaderReason, Value: []byte(reason)},
			{Key: contract.HeaderDetail, Value: []byte(detail)},
			{Key: contract.HeaderSourceTopic, Value: []byte(rec.Topic)},
			{Key: contract.HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(rec.Partition), 10)},
			{Key: contract.HeaderSourceOffset, Value: strconv.AppendInt(nil, rec.Offset, 10)},
		}, rec.Headers...),
	}
}
