// Package deadletter forwards records the streamer cannot use to a Kafka
// topic, unchanged, with headers saying why and where they came from. Nothing
// the source hands out is dropped without a trace: every record is either
// aggregated, counted as late, or written here.
//
// Delivery is at-least-once: a batch re-run after a crash sends its dead
// letters again. The source headers (topic, partition, offset) identify a
// record uniquely, so a consumer can count each one once.
package deadletter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/sensorlab/sensorlab/contract"
)

// Writer produces dead letters to one topic.
type Writer struct {
	cl    *kgo.Client
	topic string
	log   *slog.Logger

	mu       sync.Mutex
	firstErr error
	counts   map[contract.Reason]int64
}

// New connects a producer for topic.
func New(brokers []string, topic string, log *slog.Logger, extra ...kgo.Opt) (*Writer, error) {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(topic),
		kgo.WithLogger(kslog.New(log)),
		kgo.ProducerBatchMaxBytes(2 << 20),
		kgo.ProducerBatchCompression(kgo.ZstdCompression(), kgo.NoCompression()),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("dead-letter producer: %w", err)
	}
	return &Writer{cl: cl, topic: topic, log: log, counts: map[contract.Reason]int64{}}, nil
}

// EnsureTopic creates the topic if it does not exist.
func (w *Writer) EnsureTopic(ctx context.Context, partitions int32) error {
	adm := kadm.NewClient(w.cl)
	resp, err := adm.CreateTopic(ctx, partitions, -1, nil, w.topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %q: %w", w.topic, err)
	}
	return nil
}

// Send queues rec for the dead-letter topic with the reason of err.
func (w *Writer) Send(rec *kgo.Record, reason contract.Reason, detail string) {
	out := &kgo.Record{
		Topic: w.topic,
		Key:   rec.Key,
		Value: rec.Value,
		Headers: append([]kgo.RecordHeader{
			{Key: contract.HeaderReason, Value: []byte(reason)},
			{Key: contract.HeaderDetail, Value: []byte(detail)},
			{Key: contract.HeaderSourceTopic, Value: []byte(rec.Topic)},
			{Key: contract.HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(rec.Partition), 10)},
			{Key: contract.HeaderSourceOffset, Value: strconv.AppendInt(nil, rec.Offset, 10)},
		}, rec.Headers...),
	}
	w.mu.Lock()
	w.counts[reason]++
	w.mu.Unlock()
	w.cl.Produce(context.Background(), out, func(_ *kgo.Record, err error) {
		if err != nil {
			w.mu.Lock()
			if w.firstErr == nil {
				w.firstErr = err
			}
			w.mu.Unlock()
		}
	})
}

// Flush waits until every queued dead letter is acknowledged and returns the
// first delivery error since the previous Flush.
func (w *Writer) Flush(ctx context.Context) error {
	if err := w.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush dead letters: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.firstErr
	w.firstErr = nil
	if err != nil {
		return fmt.Errorf("dead letter to %q: %w", w.topic, err)
	}
	return nil
}

// Counts returns how many records were sent per reason since start.
func (w *Writer) Counts() map[contract.Reason]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[contract.Reason]int64, len(w.counts))
	for k, v := range w.counts {
		out[k] = v
	}
	return out
}

// Close flushes what it can and releases the producer.
func (w *Writer) Close() { w.cl.Close() }
