// Package kafkaload is the Kafka side of the load harness: an in-process
// broker (franz-go's kfake, which speaks the real protocol over TCP), filling
// a topic with generated readings as fast as a franz-go producer can, and the
// ceiling the streamer is compared with: a bare franz-go consumer that reads
// the same topic from the same broker and does nothing but touch each value.
package kafkaload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/tools/bench/internal/readings"
)

// StartBroker starts a one-broker kfake cluster on a free local port with
// topic created with the given partitions. Close it with Close.
func StartBroker(topic string, partitions int32) (*kfake.Cluster, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic), kfake.AllowAutoTopicCreation())
	if err != nil {
		return nil, fmt.Errorf("start kfake: %w", err)
	}
	return c, nil
}

// Fill produces n readings of g to topic, keyed by sensor id as the lab's
// producer does, and waits until all are acknowledged. It returns the bytes
// of values produced.
func Fill(ctx context.Context, brokers []string, topic string, g *readings.Generator, n int64) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.MaxBufferedRecords(1<<16), kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		return 0, fmt.Errorf("fill: %w", err)
	}
	defer cl.Close()
	var (
		mu    sync.Mutex
		first error
		bytes int64
	)
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
		}
	}
	// Values are carved from large slabs: one allocation per 64k records.
	var slab []byte
	for i := range n {
		if len(slab) > cap(slab)-128 {
			slab = make([]byte, 0, 8<<20)
		}
		start := len(slab)
		var id string
		slab, id = g.AppendNext(slab)
		v := slab[start:len(slab):len(slab)]
		bytes += int64(len(v))
		cl.Produce(ctx, &kgo.Record{Key: []byte(id), Value: v}, done)
		if i%100_000 == 0 {
			mu.Lock()
			err := first
			mu.Unlock()
			if err != nil {
				return bytes, fmt.Errorf("fill: produce: %w", err)
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return bytes, fmt.Errorf("fill: flush: %w", err)
	}
	if first != nil {
		return bytes, fmt.Errorf("fill: produce: %w", first)
	}
	return bytes, nil
}

// Consumed is what a bare consumer read.
type Consumed struct {
	Records int64
	Bytes   int64
	Elapsed time.Duration // from creating the client to the last record
}

// Consume reads every partition of topic from its start until want records
// have arrived, touching every byte of each value (a sum, so the reads are not
// optimised away), with franz-go's default fetch settings.
func Consume(ctx context.Context, brokers []string, topic string, want int64) (Consumed, error) {
	start := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return Consumed{}, fmt.Errorf("consume: %w", err)
	}
	defer cl.Close()
	var c Consumed
	var sum uint64
	for c.Records < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return c, fmt.Errorf("consume: %d of %d records: %w", c.Records, want, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return c, fmt.Errorf("consume: %w", ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			c.Records++
			c.Bytes += int64(len(r.Value))
			for _, b := range r.Value {
				sum += uint64(b)
			}
		})
	}
	c.Elapsed = time.Since(start)
	if sum == 0 && c.Records > 0 {
		return c, errors.New("consume: read only zero bytes")
	}
	return c, nil
}
