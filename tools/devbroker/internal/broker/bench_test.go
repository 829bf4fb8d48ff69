package broker

import (
	"context"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// benchProduce produces b.N 100-byte records through a client that dials
// addr, and reports records and megabytes per second.
func benchProduce(b *testing.B, seed string, dial func(ctx context.Context, network, host string) (net.Conn, error)) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.Dialer(dial), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.ProduceSync(ctx, kgo.StringRecord("warm-up")).FirstErr(); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 100)
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	errc := make(chan error, 1)
	for range b.N {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	select {
	case err := <-errc:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkProduceThroughListener is the devbroker as services see it.
func BenchmarkProduceThroughListener(b *testing.B) {
	cfg := testConfig(nil, "")
	br, err := Start(cfg, discard())
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	l := br.Listeners()[1]
	var d net.Dialer
	benchProduce(b, l.Advertised, func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, l.Addr)
	})
}

// BenchmarkProduceKfakeDirect is the same load on kfake without the proxy:
// the difference is the proxy's cost.
func BenchmarkProduceKfakeDirect(b *testing.B) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var d net.Dialer
	benchProduce(b, c.ListenAddrs()[0], func(ctx context.Context, network, host string) (net.Conn, error) {
		return d.DialContext(ctx, network, host)
	})
}
