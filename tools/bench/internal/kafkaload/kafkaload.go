// Package kafkaload is the Kafka side of the load harness: an in-process
// broker (franz-go's kfake, which speaks the real protocol over TCP), filling
// a topic with generated readings as fast as a franz-go producer can, and the
// ceiling the streamer is compared with: a bare franz-go consumer that reads
// the same topic from the same broker and does nothing but touch each value.
package kafkaload

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
	var i int64
	_, size, err := fill(ctx, brokers, topic, func(slab []byte) ([]byte, []byte, bool, error) {
		if i == n {
			return slab, nil, false, nil
		}
		i++
		slab, id := g.AppendNext(slab)
		return slab, []byte(id), true, nil
	})
	return size, err
}

// FillLines produces every line of r (without its newline) to topic as one
// record's value, without a key, and waits until all are acknowledged: how
// a query file's generated input (package querygen) reaches the broker. It
// returns the records and the bytes of values produced.
func FillLines(ctx context.Context, brokers []string, topic string, r io.Reader) (records, size int64, err error) {
	br := bufio.NewReaderSize(r, 1<<20)
	return fill(ctx, brokers, topic, func(slab []byte) ([]byte, []byte, bool, error) {
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return slab, nil, false, fmt.Errorf("a line longer than %d bytes", br.Size())
		case err != nil && !errors.Is(err, io.EOF):
			return slab, nil, false, err
		case len(line) == 0:
			return slab, nil, false, nil
		}
		return append(slab, bytes.TrimSuffix(line, []byte("\n"))...), nil, true, nil
	})
}

// fill produces the records next appends to a slab (its value at the
// slab's end, and its key) until next says there are no more, and waits
// until all are acknowledged.
func fill(ctx context.Context, brokers []string, topic string, next func(slab []byte) (_ []byte, key []byte, ok bool, _ error)) (records, size int64, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.MaxBufferedRecords(1<<16), kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		return 0, 0, fmt.Errorf("fill: %w", err)
	}
	defer cl.Close()
	var (
		mu    sync.Mutex
		first error
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
	for {
		if len(slab) > cap(slab)-(64<<10) {
			slab = make([]byte, 0, 8<<20)
		}
		start := len(slab)
		var key []byte
		var ok bool
		slab, key, ok, err = next(slab)
		if err != nil {
			return records, size, fmt.Errorf("fill: record %d: %w", records+1, err)
		}
		if !ok {
			break
		}
		v := slab[start:len(slab):len(slab)]
		size += int64(len(v))
		cl.Produce(ctx, &kgo.Record{Key: key, Value: v}, done)
		records++
		if records%100_000 == 0 {
			mu.Lock()
			err := first
			mu.Unlock()
			if err != nil {
				return records, size, fmt.Errorf("fill: produce: %w", err)
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return records, size, fmt.Errorf("fill: flush: %w", err)
	}
	if first != nil {
		return records, size, fmt.Errorf("fill: produce: %w", first)
	}
	return records, size, nil
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
