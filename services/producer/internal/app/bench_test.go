package app

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The issue asks the producer to reach at least 80% of a bare franz-go
// producer's throughput. Both benchmarks send the same b.N records (seed 1,
// fixed start) to a fresh topic on an in-process kfake cluster, with the same
// client options, and report records/s. Run them with a fixed -benchtime
// (e.g. 200000x) so that both send the same number of records.

// BenchmarkProducer runs the whole producer: generation, rate limiter (off),
// counting promises, flush.
func BenchmarkProducer(b *testing.B) {
	c := cluster(b)
	cfg := testConfig(c, int64(b.N), 1)
	log := slog.New(slog.DiscardHandler)
	a, err := New(cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := a.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if st := a.Stats(); st.Sent != int64(b.N) {
		b.Fatalf("sent %d of %d", st.Sent, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkBareFranzGo produces the same, pre-generated records with a bare
// kgo client: the ceiling the producer is measured against.
func BenchmarkBareFranzGo(b *testing.B) {
	c := cluster(b)
	cfg := testConfig(c, int64(b.N), 1)
	recs := expected(b, cfg, int64(b.N))
	b.ResetTimer()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.MaxBufferedRecords(cfg.MaxBufferedRecords),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), int32(cfg.Partitions), 1, nil, cfg.Topic); err != nil {
		b.Fatal(err)
	}
	var (
		mu    sync.Mutex
		first error
	)
	for _, r := range recs {
		cl.Produce(context.Background(), &kgo.Record{Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				first = err
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if first != nil {
		b.Fatal(first)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
